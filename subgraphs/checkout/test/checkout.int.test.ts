// Checkout through the router on the whole stack, carts filled with the contract's AddToCart: the saga's happy
// path and its clear refusals, idempotency keys, and a race for the last units.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '@mall/events/testing';
import { deleteKeys, errorCode } from '@mall/platform/testing';
import { metricTotal, startTestStack, type TestStack } from '@mall/stack/testing';
import { Redis } from 'ioredis';
import { CART, type CartView, ME, UPDATE_CART_ITEM } from '../../cart/test/helpers.ts';
import {
  ADDRESS,
  CANCEL_ORDER,
  type Caller,
  checkout,
  inFlight,
  ORDER,
  ORDERS,
  seller,
  shopper,
  stockOf,
} from './helpers.ts';

describe('checkout', () => {
  let stack: TestStack;
  let shop: Awaited<ReturnType<typeof seller>>;

  before(async () => {
    stack = await startTestStack();
    shop = await seller(stack);
  });
  after(async () => {
    await stack?.close();
  });

  const buyer = (lines: { productId: string; quantity: number }[]): Promise<Caller> => shopper(stack, lines);

  const orderCount = async (caller: Caller) =>
    (await stack.gql<{ orders: { totalCount: number } }>(ORDERS, { first: 100 }, { token: caller.token })).body.data
      ?.orders.totalCount;

  test('Cart → AddToCart → Checkout → Orders → Order → CancelOrder and Me: one order, the cart emptied by its event', async () => {
    const a = await shop.product({ priceAmount: 1250, stock: 5 });
    const b = await shop.product({ priceAmount: 399, stock: 3 });
    const caller = await buyer([
      { productId: a.id, quantity: 2 },
      { productId: b.id, quantity: 1 },
    ]);
    const productCalls = async () => ({
      byIds: await metricTotal(stack, 'product', 'graphql_requests_total', { operation: 'ProductsByIds' }),
      reserve: await metricTotal(stack, 'product', 'graphql_requests_total', { operation: 'ReserveStock' }),
    });
    const before = await productCalls();
    const result = await checkout(stack, caller, {
      idempotencyKey: 'k-1',
      shippingAddress: ADDRESS,
      note: 'ring twice',
    });
    assert.equal(result.body.errors, undefined, JSON.stringify(result.body.errors));
    const after = await productCalls();
    assert.deepEqual(
      { byIds: after.byIds - before.byIds, reserve: after.reserve - before.reserve },
      { byIds: 0, reserve: 1 },
      'priced from reserveStock’s answer: one call to product, no productsByIds',
    );
    const order = result.body.data!.checkout;
    assert.equal(order.status, 'PENDING_PAYMENT');
    assert.deepEqual(order.total, { amount: 2 * 1250 + 399, currency: 'CNY' });
    assert.deepEqual(order.items.map((i) => [i.quantity, i.unitPrice.amount]).sort(), [
      [1, 399],
      [2, 1250],
    ]);
    assert.equal(await stockOf(stack, a.id), 3);
    assert.equal(await stockOf(stack, b.id), 2);
    // Checkout does not clear the cart: the cart empties itself on order.created.
    await waitFor(
      async () =>
        (await stack.gql<{ cart: CartView }>(CART, {}, { token: caller.token })).body.data?.cart.itemCount === 0,
      { what: 'the cart to empty on order.created' },
    );
    const me = await stack.gql<{ me: { cart: { itemCount: number }; orders: { totalCount: number } } }>(
      ME,
      {},
      { token: caller.token },
    );
    assert.equal(me.body.errors, undefined, JSON.stringify(me.body.errors));
    assert.equal(me.body.data?.me.orders.totalCount, 1);

    // Orders → Order → CancelOrder, as the contract runs them.
    const orders = await stack.gql<{ orders: { edges: { node: { id: string } }[] } }>(
      ORDERS,
      { first: 10 },
      { token: caller.token },
    );
    assert.deepEqual(
      orders.body.data?.orders.edges.map((e) => e.node.id),
      [order.id],
    );
    const read = await stack.gql<{ order: { number: string } }>(ORDER, { id: order.id }, { token: caller.token });
    assert.equal(read.body.data?.order.number, order.number);
    const cancelled = await stack.gql<{ cancelOrder: { status: string } }>(
      CANCEL_ORDER,
      { id: order.id },
      { token: caller.token },
    );
    assert.equal(cancelled.body.data?.cancelOrder.status, 'CANCELLED');
  });

  test('the same key with the same input answers the first order; with another input, CONFLICT', async () => {
    const p = await shop.product({ stock: 10 });
    const caller = await buyer([{ productId: p.id, quantity: 1 }]);
    const input = { idempotencyKey: 'same', shippingAddress: ADDRESS };
    const first = (await checkout(stack, caller, input)).body.data?.checkout;
    assert.ok(first);
    // The keys live in Postgres: after a Redis flush (the router answers UNAVAILABLE while auth reloads the
    // token revocations into Redis), the client's retry still gets the first order.
    const raw = new Redis(stack.config.redis.url);
    await deleteKeys(raw, stack.config.redis.prefix);
    raw.disconnect();
    const again = await waitFor(
      async () => {
        const retry = await checkout(stack, caller, { ...input, shippingAddress: { ...ADDRESS, city: ' Shanghai ' } });
        return errorCode(retry) === 'UNAVAILABLE' ? null : retry;
      },
      { what: 'the stack to serve again after the Redis flush' },
    );
    assert.equal(again.body.data?.checkout.id, first.id);
    const other = await checkout(stack, caller, { ...input, note: 'a different request' });
    assert.equal(errorCode(other), 'CONFLICT');
    // Another caller's identical key is their own.
    const stranger = await buyer([{ productId: p.id, quantity: 1 }]);
    const theirs = await checkout(stack, stranger, input);
    assert.notEqual(theirs.body.data?.checkout.id, first.id);
    assert.equal(await orderCount(caller), 1);
    assert.equal(await stockOf(stack, p.id), 8);
  });

  test('50 concurrent requests with one key make one order, and all of them answer it', async () => {
    const p = await shop.product({ stock: 100 });
    const caller = await buyer([{ productId: p.id, quantity: 2 }]);
    const input = { idempotencyKey: 'burst', shippingAddress: ADDRESS };
    const results = await Promise.all(Array.from({ length: 50 }, () => checkout(stack, caller, input)));
    const ids = new Set(results.map((r) => r.body.data?.checkout.id ?? errorCode(r)));
    assert.equal(ids.size, 1, `answers: ${[...ids].join(', ')}`);
    assert.equal(await orderCount(caller), 1);
    assert.equal(await stockOf(stack, p.id), 98);
  });

  test('30 buyers racing for 10 units: exactly 10 orders, the rest OUT_OF_STOCK naming what is left', async () => {
    const p = await shop.product({ stock: 10 });
    // Filled one after the other: the race is the checkouts.
    const buyers: Caller[] = [];
    for (let i = 0; i < 30; i++) buyers.push(await buyer([{ productId: p.id, quantity: 1 }]));
    const results = await Promise.all(
      buyers.map((caller, i) => checkout(stack, caller, { idempotencyKey: `race-${i}`, shippingAddress: ADDRESS })),
    );
    const placed = results.filter((r) => r.body.data?.checkout);
    assert.equal(
      placed.length,
      10,
      `answers: ${results.map((r) => (r.body.data?.checkout ? 'placed' : errorCode(r)))}`,
    );
    const refused = results.filter((r) => !r.body.data?.checkout);
    assert.deepEqual(new Set(refused.map(errorCode)), new Set(['OUT_OF_STOCK']));
    for (const r of refused) assert.equal(r.status, 200);
    assert.equal(await stockOf(stack, p.id), 0);
  });

  test('clear refusals that leave no order and no held stock', async () => {
    const p = await shop.product({ stock: 2 });
    const off = await shop.product({ stock: 5 });
    const request = (idempotencyKey: string, extra: Record<string, unknown> = {}) => ({
      idempotencyKey,
      shippingAddress: ADDRESS,
      ...extra,
    });

    const empty = await buyer([]);
    assert.equal(errorCode(await checkout(stack, empty, request('e'))), 'INVALID_STATE');

    const inactive = await buyer([
      { productId: p.id, quantity: 1 },
      { productId: off.id, quantity: 1 },
    ]);
    await shop.deactivate(off.id);
    const refusedInactive = await checkout(stack, inactive, request('i'));
    assert.equal(errorCode(refusedInactive), 'INVALID_STATE');
    assert.deepEqual(refusedInactive.body.errors?.[0]?.extensions?.['productIds'], [off.id]);

    const greedy = await buyer([{ productId: p.id, quantity: 3 }]);
    const short = await checkout(stack, greedy, request('s'));
    assert.equal(errorCode(short), 'OUT_OF_STOCK');
    assert.equal(short.body.errors?.[0]?.extensions?.['productId'], p.id);
    assert.equal(short.body.errors?.[0]?.extensions?.['available'], 2);
    // The refusal gave the key up: with what is left in the cart, the same key goes through.
    await stack.gql(UPDATE_CART_ITEM, { productId: p.id, quantity: 2 }, { token: greedy.token });
    assert.ok((await checkout(stack, greedy, request('s'))).body.data?.checkout);

    const refused = await buyer([]);
    const bad = [
      request('x'.repeat(5 * 1024)),
      request(''),
      request('a', { shippingAddress: { ...ADDRESS, line1: 'x'.repeat(10 * 1024) } }),
      request('b', { shippingAddress: { ...ADDRESS, recipient: '   ' } }),
      request('c', { note: 'n'.repeat(10 * 1024) }),
    ];
    for (const input of bad) {
      const result = await checkout(stack, refused, input);
      assert.equal(result.status, 200);
      assert.equal(errorCode(result), 'BAD_USER_INPUT', JSON.stringify(result.body.errors));
    }
    const { recipient: _, ...missing } = ADDRESS;
    const noRecipient = await checkout(stack, refused, request('m', { shippingAddress: missing }));
    assert.ok(noRecipient.status < 500);
    assert.equal(errorCode(noRecipient), 'BAD_USER_INPUT');

    const anonymous = await stack.gql('mutation($input: CheckoutInput!) { checkout(input: $input) { id } }', {
      input: request('anon'),
    });
    assert.equal(errorCode(anonymous), 'UNAUTHENTICATED');

    for (const caller of [empty, inactive, refused]) assert.equal(await orderCount(caller), 0);
    assert.equal(await stockOf(stack, p.id), 0);
    assert.equal(await stockOf(stack, off.id), 5);
    // Each refusal and each order ended its key and its attempt together (the attempt rides in the key's
    // statements): nothing is left for a repair, no key stays pending.
    assert.deepEqual(await inFlight(stack), { attempts: 0, pendingKeys: 0 });
  });
});
