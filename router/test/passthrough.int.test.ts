// The router's passthrough of single-fetch operations (router/src/passthrough.ts), through the router on real
// subgraphs: what it serves is byte for byte what the full path answers, each caller's own, never after a
// logout; whatever it cannot answer cleanly is answered by the full path exactly as before, from the fetch
// already made (a mutation takes effect once).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { data } from '@mall/platform/testing';
import { metricTotal, postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { admin, type Caller, customer } from '../../subgraphs/order/test/helpers.ts';

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
const passthrough = (outcome: 'served' | 'full_path') =>
  metricTotal(stack, 'router', 'router_passthrough_total', { outcome });

/** How many fetches the router has sent a subgraph (its fetch duration histogram's count, any outcome). */
const fetches = (subgraph: string) =>
  metricTotal(stack, 'router', 'router_subgraph_fetch_duration_seconds_count', { subgraph });

const operations = (operation: string) =>
  metricTotal(stack, 'router', 'graphql_requests_total', { operation, outcome: 'ok' });

async function post(body: unknown, caller: Caller, headers: Record<string, string> = {}) {
  const response = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${caller.token}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('the passthrough of single-fetch operations', () => {
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

  test('a body Apollo refuses as a possible CSRF never takes it', async () => {
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
    assert.equal(await passthrough('served'), served);
  });

  test('a single-fetch mutation is served too, each request sent once', async () => {
    const caller = await customer(stack);
    const update = 'mutation PassUpdate($input: UpdateProfileInput!) { updateMe(input: $input) { id name } }';
    const [served, sent] = [await passthrough('served'), await fetches('user')];
    for (const name of ['One', 'Two', 'Three']) {
      const updated = await post({ query: update, variables: { input: { name } } }, caller);
      assert.equal(data<{ updateMe: { name: string } }>({ body: JSON.parse(updated.text) }).updateMe.name, name);
    }
    assert.equal(await passthrough('served'), served + 2, 'the first time is the full path’s');
    assert.equal(await fetches('user'), sent + 3);
    const me = await post({ query: 'query { me { name } }' }, caller);
    assert.equal(JSON.parse(me.text).data.me.name, 'Three');
  });

  test('later fetches with nothing to add to: served; with entities to fill: the full path, from the fetch made', async () => {
    const seller = await admin(stack);
    const nobody = await customer(stack);
    const listed =
      'query PassListed($merchant: ID) { products(first: 5, filter: { merchantId: $merchant }) { edges { node { id merchant { id email } } } } }';
    const none = await post({ query: listed, variables: { merchant: nobody.id } }, seller);
    assert.deepEqual(JSON.parse(none.text), { data: { products: { edges: [] } } });
    const served = await passthrough('served');
    assert.deepEqual(await post({ query: listed, variables: { merchant: nobody.id } }, seller), none);
    assert.equal(await passthrough('served'), served + 1, 'no products, no merchants to fetch: one fetch');

    // A mutation whose answer names an entity the user subgraph fills: the full path finishes it from the
    // passthrough's fetch, so each request creates exactly one product.
    const create =
      'mutation PassCreate($input: CreateProductInput!) { createProduct(input: $input) { id name merchant { id email } } }';
    const mine = `query PassMine($merchant: ID) { products(first: 100, filter: { merchantId: $merchant }) { edges { node { id } } } }`;
    const count = async () =>
      JSON.parse((await post({ query: mine, variables: { merchant: seller.id } }, seller)).text).data.products.edges
        .length as number;
    const before = await count();
    const [fullPath, sent] = [await passthrough('full_path'), await fetches('product')];
    const created = [];
    for (const name of ['Pass A', 'Pass B', 'Pass C']) {
      const answer = await post({ query: create, variables: { input: { name, priceAmount: 100, stock: 1 } } }, seller);
      created.push(
        data<{ createProduct: { id: string; merchant: { id: string; email: string } } }>({
          body: JSON.parse(answer.text),
        }).createProduct,
      );
    }
    for (const made of created) assert.equal(made.merchant.id, seller.id);
    assert.ok(created.every((made) => made.merchant.email.includes('@')));
    assert.equal(await passthrough('full_path'), fullPath + 2, 'the second and third: fetched, then the full path');
    assert.equal(await fetches('product'), sent + 3, 'the product subgraph heard each mutation once');
    assert.equal(await count(), before + 3);
    // The same for a query: the merchants of listed products are filled by the full path, without a second fetch.
    const [servedBefore, sentBefore] = [await passthrough('served'), await fetches('product')];
    const mineListed = JSON.parse((await post({ query: listed, variables: { merchant: seller.id } }, seller)).text);
    assert.equal(mineListed.data.products.edges.length, before + 3);
    for (const { node } of mineListed.data.products.edges) assert.equal(node.merchant.id, seller.id);
    assert.equal(await passthrough('served'), servedBefore);
    assert.equal(await fetches('product'), sentBefore + 1);
  });
});
