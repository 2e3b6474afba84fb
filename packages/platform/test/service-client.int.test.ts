import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  AppError,
  defineServiceOperation,
  IDENTITY_HEADER,
  IdentitySigner,
  IdentityVerifier,
  REQUEST_ID_HEADER,
  ServiceClient,
} from '../src/index.ts';
import { type GraphQLStubReply, startGraphQLStub } from '../src/testing/index.ts';

const SECRET = 'a'.repeat(32);

const Greeting = z.object({ greet: z.object({ text: z.string(), length: z.number().int() }) });
const greet = defineServiceOperation<{ name: string }, z.output<typeof Greeting>>(
  'query Greet($name: String!) { greet(name: $name) { text length } }',
  Greeting,
);

describe('defineServiceOperation', () => {
  let reply: GraphQLStubReply;
  let seen: { query: string; variables: Record<string, unknown>; identity: unknown; requestId: unknown }[];
  let peer: Awaited<ReturnType<typeof startGraphQLStub>>;
  let client: ServiceClient;

  before(async () => {
    const verifier = new IdentityVerifier(SECRET, 'peer', ['caller']);
    peer = await startGraphQLStub(async ({ query, variables, headers }) => {
      seen.push({
        query,
        variables,
        identity: await verifier.verify(headers[IDENTITY_HEADER] as string),
        requestId: headers[REQUEST_ID_HEADER],
      });
      return reply;
    });
    client = new ServiceClient({ url: peer.url, target: 'peer', signer: new IdentitySigner(SECRET, 'caller') });
  });
  after(() => peer?.close());

  it('sends the document and variables signed as the caller, and returns the validated data', async () => {
    seen = [];
    reply = { data: { greet: { text: 'hello ada', length: 9 } } };
    const result = await greet(client, { requestId: 'req-7' }, { name: 'ada' });
    assert.deepEqual(result, { greet: { text: 'hello ada', length: 9 } });
    assert.equal(seen.length, 1);
    assert.match(seen[0]!.query, /^query Greet/);
    assert.deepEqual(seen[0]!.variables, { name: 'ada' });
    assert.deepEqual(
      { ...(seen[0]!.identity as object), issuer: 'caller' },
      { userId: null, roles: [], requestId: '', issuer: 'caller', session: null, clientIp: null },
    );
    // The token is reused across calls of this caller for half its life; the request id has its own header.
    assert.equal(seen[0]!.requestId, 'req-7');
  });

  it('refuses a reply of the wrong shape as a plain error naming the operation', async () => {
    reply = { data: { greet: { text: 'hello', length: 'five' } } };
    await assert.rejects(
      greet(client, { requestId: 'r' }, { name: 'x' }),
      (err: unknown) => !(err instanceof AppError) && /peer answered Greet with an unexpected shape/.test(String(err)),
    );
  });

  it("maps the peer's public error codes to the same AppError, and anything else to a plain error", async () => {
    reply = { errors: [{ message: 'Email is already registered', extensions: { code: 'CONFLICT', field: 'email' } }] };
    await assert.rejects(
      greet(client, { requestId: 'r' }, { name: 'x' }),
      (err: unknown) =>
        err instanceof AppError &&
        err.code === 'CONFLICT' &&
        err.message === 'Email is already registered' &&
        err.extensions['field'] === 'email',
    );
    reply = { errors: [{ message: 'Cannot query field "greet"', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] };
    await assert.rejects(
      greet(client, { requestId: 'r' }, { name: 'x' }),
      (err: unknown) => !(err instanceof AppError) && /peer call failed/.test(String(err)),
    );
  });
});
