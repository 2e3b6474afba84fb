// The router's passthrough of single-fetch queries (router/src/passthrough.ts), through the router on real
// subgraphs: what it serves is byte for byte what the full path answers, each caller's own, never after a
// logout; whatever it cannot answer cleanly is answered by the full path exactly as before.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { data } from '@mall/platform/testing';
import { postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { type Caller, customer } from '../../subgraphs/order/test/helpers.ts';

let stack: TestStack;

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'product'] });
});

after(async () => {
  await stack?.close();
});

const ME = 'query PassMe { me { id email roles } }';
const PRODUCTS = 'query PassProducts($n: Int) { products(first: $n) { edges { node { id } } } }';

/** The router's passthrough counter for an outcome (served, full_path). */
async function passthrough(outcome: 'served' | 'full_path'): Promise<number> {
  const text = await (await fetch(stack.metricsUrls['router']!)).text();
  const line = text.split('\n').find((l) => l.startsWith('router_passthrough_total{') && l.includes(`"${outcome}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function operations(name: string): Promise<number> {
  const text = await (await fetch(stack.metricsUrls['router']!)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('graphql_requests_total{') && l.includes(`operation="${name}"`) && l.includes('"ok"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function post(body: unknown, caller: Caller, headers: Record<string, string> = {}) {
  const response = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${caller.token}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('the passthrough of single-fetch queries', () => {
  test('after the full path planned it, a query is answered with the subgraph’s bytes: the same answer', async () => {
    const caller = await customer(stack);
    const [served, counted] = [await passthrough('served'), await operations('PassMe')];
    const first = await post({ query: ME, operationName: 'PassMe' }, caller);
    assert.equal(await passthrough('served'), served, 'the first time is the full path’s');
    const second = await post({ query: ME, operationName: 'PassMe' }, caller);
    assert.equal(await passthrough('served'), served + 1);
    assert.deepEqual(second, first);
    assert.equal(JSON.parse(second.text).data.me.id, caller.id);
    assert.equal(await operations('PassMe'), counted + 2, 'both counted in the GraphQL request metrics');
  });

  test('each caller gets its own data, and a logged-out token is refused on the very next request', async () => {
    const callers = [await customer(stack), await customer(stack), await customer(stack)];
    await post({ query: ME }, callers[0]!);
    const served = await passthrough('served');
    const results = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const who = callers[i % callers.length]!;
        return { who, answer: await post({ query: ME }, who) };
      }),
    );
    for (const { who, answer } of results) assert.equal(JSON.parse(answer.text).data.me.id, who.id);
    assert.ok((await passthrough('served')) >= served + 30);
    const leaving = callers[1]!;
    const logout = await postGraphQL(stack.url, 'mutation { logout }', {}, { token: leaving.token });
    assert.equal(logout.body.errors, undefined);
    const refused = await post({ query: ME }, leaving);
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.text).errors[0].extensions.code, 'UNAUTHENTICATED');
  });

  test('what it cannot answer cleanly, the full path answers as ever', async () => {
    const caller = await customer(stack);
    const ok = await post({ query: PRODUCTS, variables: { n: 2 } }, caller);
    assert.equal(ok.status, 200);
    const [served, fullPath] = [await passthrough('served'), await passthrough('full_path')];
    // The subgraph's own error (past its page size): shaped and coded by the full path.
    const tooMany = await post({ query: PRODUCTS, variables: { n: 101 } }, caller);
    assert.equal(JSON.parse(tooMany.text).errors[0].extensions.code, 'BAD_USER_INPUT');
    // A variable the API schema refuses.
    const badType = await post({ query: PRODUCTS, variables: { n: 'many' } }, caller);
    assert.equal(badType.status, 400);
    assert.equal(JSON.parse(badType.text).errors[0].extensions.code, 'BAD_USER_INPUT');
    // A cost the variables push past the limit: refused before any subgraph hears of it.
    const costly = await post({ query: PRODUCTS, variables: { n: 1_000_000 } }, caller);
    assert.equal(JSON.parse(costly.text).errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal(await passthrough('served'), served);
    assert.equal(await passthrough('full_path'), fullPath + 3);
    assert.equal((await post({ query: PRODUCTS, variables: { n: 2 } }, caller)).text, ok.text);
    assert.equal(await passthrough('served'), served + 1);
  });

  test('a body Apollo refuses as a possible CSRF, and mutations, never take it', async () => {
    const caller = await customer(stack);
    await post({ query: ME }, caller);
    const served = await passthrough('served');
    const csrf = await post({ query: ME }, caller, { 'content-type': 'application/x-www-form-urlencoded; x=json' });
    assert.equal(csrf.status, 400);
    // A persisted-query hash that does not match the text sent with it: Apollo refuses it, still.
    const mismatch = await post(
      { query: ME, extensions: { persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } } },
      caller,
    );
    assert.equal(mismatch.status, 400);
    assert.equal(JSON.parse(mismatch.text).errors[0].extensions.code, 'BAD_REQUEST');
    const update = 'mutation PassUpdate($input: UpdateProfileInput!) { updateMe(input: $input) { id name } }';
    for (const name of ['One', 'Two']) {
      const updated = await post({ query: update, variables: { input: { name } } }, caller);
      assert.equal(data<{ updateMe: { name: string } }>({ body: JSON.parse(updated.text) }).updateMe.name, name);
    }
    assert.equal(await passthrough('served'), served);
  });
});
