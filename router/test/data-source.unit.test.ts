import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import {
  IDENTITY_HEADER,
  IdentitySigner,
  IdentityTokens,
  IdentityVerifier,
  isTransientFault,
  REQUEST_ID_HEADER,
  type Role,
  type Session,
} from '@mall/platform';
import { type GraphQLError, parse } from 'graphql';
import type { RouterContext } from '../src/context.ts';
import { createSubgraphAgent, SignedDataSource } from '../src/data-source.ts';

const SECRET = 'data-source-test-secret-0123456789abcdef';
const signer = new IdentitySigner(SECRET, 'router');
const verifier = new IdentityVerifier(SECRET, 'products', ['router']);

interface Received {
  readonly body: { query: string; variables?: Record<string, unknown> };
  readonly headers: IncomingHttpHeaders;
}

/**
 * A subgraph that records what reaches it and answers only when told: `hold` keeps every answer back until
 * `release()`, so a test can line up concurrent fetches deterministically instead of racing timers.
 */
async function startSubgraph() {
  const received: Received[] = [];
  let held: (() => void)[] = [];
  let hold = false;
  let status = 200;
  let reply: (r: Received) => unknown = (r) => ({ data: { echo: r.body.variables ?? null } });
  const arrivals: (() => void)[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const r: Received = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: req.headers };
    received.push(r);
    for (const notify of arrivals.splice(0)) notify();
    const send = () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply(r)));
    if (hold) held.push(send);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received,
    set hold(value: boolean) {
      hold = value;
    },
    set status(value: number) {
      status = value;
    },
    set reply(fn: (r: Received) => unknown) {
      reply = fn;
    },
    /** Resolves once `count` requests in total have arrived. */
    async arrived(count: number) {
      while (received.length < count) await new Promise<void>((resolve) => arrivals.push(resolve));
    },
    release() {
      const pending = held;
      held = [];
      for (const send of pending) send();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Subgraph = Awaited<ReturnType<typeof startSubgraph>>;

const session = (id: string): Session => ({ id, tokenId: `${id}-jti`, expiresAt: 4_102_444_800 });
const callerCtx = (userId: string | null, overrides: Partial<RouterContext> = {}): RouterContext =>
  ({
    requestId: `req-${Math.random().toString(36).slice(2)}`,
    clientIp: '203.0.113.7',
    caller: userId ? { userId, roles: ['CUSTOMER'] as Role[], session: session(`s-${userId}`) } : null,
    logger: undefined as never,
    deadline: AbortSignal.timeout(10_000),
    confirmed: Promise.resolve(),
    ...overrides,
  }) as RouterContext;

function fetchOf(
  source: SignedDataSource,
  context: RouterContext,
  query: string,
  variables: Record<string, unknown> = {},
) {
  const options = {
    kind: 'incoming operation',
    request: { query, variables },
    context,
    incomingRequestContext: { context } as never,
    document: parse(query),
  } as GraphQLDataSourceProcessOptions<RouterContext>;
  return source.process(options);
}

const QUERY = 'query Q__products__0($id: ID!) { product(id: $id) { id } }';
const MUTATION = 'mutation M__products__0($id: ID!) { touch(id: $id) }';

describe('SignedDataSource', () => {
  let subgraph: Subgraph;
  const agent = createSubgraphAgent();
  before(async () => {
    subgraph = await startSubgraph();
  });
  after(async () => {
    await subgraph.close();
    await agent.close();
  });
  const source = (dedupe = true) =>
    new SignedDataSource({ name: 'products', url: subgraph.url, tokens: new IdentityTokens(signer), agent, dedupe });

  test('signs every fetch for the caller, addressed to the subgraph, and passes the request id on', async () => {
    const start = subgraph.received.length;
    const ctx = callerCtx('u1');
    const response = await fetchOf(source(), ctx, QUERY, { id: '1' });
    assert.deepEqual(response.data, { echo: { id: '1' } });
    const got = subgraph.received[start]!;
    assert.equal(got.headers[REQUEST_ID_HEADER], ctx.requestId);
    const identity = await verifier.verify(got.headers[IDENTITY_HEADER] as string);
    assert.equal(identity.userId, 'u1');
    assert.deepEqual(identity.roles, ['CUSTOMER']);
    assert.equal(identity.clientIp, '203.0.113.7');
    assert.deepEqual(identity.session, session('s-u1'));
  });

  test("sends nothing in the caller's name until the caller is confirmed; a refused caller reaches no subgraph", async () => {
    const start = subgraph.received.length;
    let confirm!: () => void;
    const confirmed = new Promise<void>((resolve) => {
      confirm = resolve;
    });
    const waiting = fetchOf(source(), callerCtx('u1', { confirmed }), QUERY, { id: '2' });
    // A fetch answered in the meantime proves the data source had every chance to send the first one.
    await fetchOf(source(), callerCtx('u2'), QUERY, { id: '3' });
    assert.deepEqual(
      subgraph.received.slice(start).map((r) => r.body.variables),
      [{ id: '3' }],
    );
    confirm();
    assert.deepEqual((await waiting).data, { echo: { id: '2' } });

    const before = subgraph.received.length;
    const refused = Promise.reject(new Error('revoked'));
    refused.catch(() => undefined);
    await assert.rejects(fetchOf(source(), callerCtx('u3', { confirmed: refused }), QUERY, { id: '4' }), (err) => {
      assert.equal((err as GraphQLError).extensions['code'], 'UNAUTHENTICATED');
      return true;
    });
    await fetchOf(source(), callerCtx('u2'), QUERY, { id: '5' });
    assert.deepEqual(
      subgraph.received.slice(before).map((r) => r.body.variables),
      [{ id: '5' }],
    );
  });

  test('identical queries of one caller in flight together reach the subgraph once; each gets its own copy', async () => {
    const ds = source();
    const start = subgraph.received.length;
    subgraph.hold = true;
    const pending = Array.from({ length: 10 }, () => fetchOf(ds, callerCtx('u1'), QUERY, { id: '7' }));
    await subgraph.arrived(start + 1);
    subgraph.release();
    subgraph.hold = false;
    const responses = await Promise.all(pending);
    assert.equal(subgraph.received.length - start, 1);
    for (const r of responses) assert.deepEqual(r.data, { echo: { id: '7' } });
    // The gateway merges into what it gets: one waiter's object must not be another's.
    assert.notEqual(responses[0]!.data, responses[1]!.data);
  });

  test('never shares a fetch between callers whose identity differs in anything', async () => {
    const ds = source();
    const start = subgraph.received.length;
    subgraph.hold = true;
    const contexts = [
      callerCtx('u1'),
      callerCtx('u2'),
      callerCtx(null),
      callerCtx('u1', { clientIp: '198.51.100.1' }),
      callerCtx('u1', {
        caller: { userId: 'u1', roles: ['CUSTOMER', 'ADMIN'], session: session('s-u1') },
      } as Partial<RouterContext>),
      callerCtx('u1', {
        caller: { userId: 'u1', roles: ['CUSTOMER'], session: session('other') },
      } as Partial<RouterContext>),
    ];
    const pending = contexts.map((ctx) => fetchOf(ds, ctx, QUERY, { id: '7' }));
    await subgraph.arrived(start + contexts.length);
    subgraph.release();
    subgraph.hold = false;
    await Promise.all(pending);
    const seen = await Promise.all(
      subgraph.received.slice(start).map((r) => verifier.verify(r.headers[IDENTITY_HEADER] as string)),
    );
    assert.equal(seen.length, contexts.length);
    assert.equal(new Set(subgraph.received.slice(start).map((r) => r.headers[IDENTITY_HEADER])).size, contexts.length);
  });

  test('different variables, mutations, and dedupe switched off are each sent', async () => {
    for (const [ds, query, variables] of [
      [source(), QUERY, (i: number) => ({ id: String(i) })],
      [source(), MUTATION, () => ({ id: '1' })],
      [source(false), QUERY, () => ({ id: '1' })],
    ] as const) {
      const start = subgraph.received.length;
      subgraph.hold = true;
      const pending = Array.from({ length: 4 }, (_, i) => fetchOf(ds, callerCtx('u1'), query, variables(i)));
      await subgraph.arrived(start + 4);
      subgraph.release();
      subgraph.hold = false;
      await Promise.all(pending);
      assert.equal(subgraph.received.length - start, 4, query);
    }
  });

  test('a waiter whose deadline passes gives up alone; the others still get the shared answer', async () => {
    const ds = source();
    const start = subgraph.received.length;
    subgraph.hold = true;
    const early = new AbortController();
    const impatient = fetchOf(ds, callerCtx('u1', { deadline: early.signal }), QUERY, { id: '9' });
    const patient = fetchOf(ds, callerCtx('u1'), QUERY, { id: '9' });
    await subgraph.arrived(start + 1);
    early.abort();
    // Answered as the retryable UNAVAILABLE by the error formatter, never as an internal error.
    await assert.rejects(impatient, (err: unknown) => /deadline/.test(String(err)) && isTransientFault(err));
    subgraph.release();
    subgraph.hold = false;
    assert.deepEqual((await patient).data, { echo: { id: '9' } });
    assert.equal(subgraph.received.length - start, 1);
  });

  test("a variable the subgraph's scalar refused (400 BAD_USER_INPUT) reaches the client; other statuses do not", async () => {
    const ds = source();
    subgraph.status = 400;
    subgraph.reply = () => ({
      errors: [{ message: 'Variable "$at" got invalid value "x"', extensions: { code: 'BAD_USER_INPUT', stack: 'x' } }],
    });
    try {
      const response = await fetchOf(ds, callerCtx('u1'), QUERY, { id: 'bad' });
      assert.deepEqual(response.errors, [
        { message: 'Variable "$at" got invalid value "x"', extensions: { code: 'BAD_USER_INPUT' } },
      ]);
      subgraph.reply = () => ({
        errors: [{ message: 'secret detail', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
      });
      await assert.rejects(fetchOf(ds, callerCtx('u1'), QUERY, { id: 'x' }), /HTTP 400/);
      subgraph.status = 401;
      subgraph.reply = () => ({
        errors: [{ message: 'Invalid identity token', extensions: { code: 'BAD_USER_INPUT' } }],
      });
      await assert.rejects(fetchOf(ds, callerCtx('u1'), QUERY, { id: 'y' }), /HTTP 401/);
    } finally {
      subgraph.status = 200;
      subgraph.reply = (r) => ({ data: { echo: r.body.variables ?? null } });
    }
  });
});
