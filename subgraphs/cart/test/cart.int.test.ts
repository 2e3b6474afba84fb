// The cart subgraph through the router, as a frontend uses it; checkout's internal read; and the order.created
// consumer fed by real orders placed as checkout places them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEvent, createKafka, createProducer, eventHeaders, serializeEvent, topicOf } from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { domainDatabaseUrl } from '@mall/platform';
import { data, errorCode } from '@mall/platform/testing';
import { metricTotal, startTestStack, type TestStack } from '@mall/stack/testing';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import { admin, type Caller, customer, nextOrderId, orderInput, placeOrder } from '../../order/test/helpers.ts';
import { createProduct, merchant } from '../../product/test/helpers.ts';
import {
  ADD_TO_CART,
  CART,
  type CartView,
  CLEAR_CART,
  checkoutCart,
  ME,
  REMOVE_FROM_CART,
  UPDATE_CART_ITEM,
} from './helpers.ts';

const UPDATE_PRODUCT = `mutation UpdateProduct($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }`;
const DELETE_PRODUCT = `mutation DeleteProduct($id: ID!) { deleteProduct(id: $id) }`;
const AVAILABILITY = `query { cart { items { available product { id } } subtotal { amount } } }`;
const USER_CART = `query UserCart($id: ID!) { user(id: $id) { id cart { itemCount } } }`;

let stack: TestStack;
let shop: Caller;
let db: pg.Client;
let producer: Producer;

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'product', 'cart', 'order'] });
  shop = await merchant(stack, await admin(stack));
  db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'cart') });
  await db.connect();
  producer = createProducer(createKafka({ brokers: [...(stack.config.kafka.brokers ?? [])], clientId: 'test-orders' }));
  await producer.connect();
});

after(async () => {
  await producer?.disconnect();
  await db?.end();
  await stack?.close();
});

/** A product of the test merchant's, 10.00 CNY unless `input` says otherwise. */
const newProduct = async (input: Record<string, unknown> = {}) =>
  createProduct(stack, shop, { name: `Item ${Math.random().toString(36).slice(2, 8)}`, stock: 50, ...input });

const cartOf = async (caller: Caller) => data<CartView>(await stack.gql(CART, {}, { token: caller.token }), 'cart');

const add = (caller: Caller, productId: string, quantity: number) =>
  stack.gql<{ addToCart: CartView }>(ADD_TO_CART, { productId, quantity }, { token: caller.token });

const lines = (cart: { items: { quantity: number; product: { id: string } }[] }) =>
  cart.items.map((item) => [item.product.id, item.quantity]);

/** graphql_requests_total of `operation` on the product subgraph's /metrics. */
const productCalls = (operation: string) => metricTotal(stack, 'product', 'graphql_requests_total', { operation });

describe('the contract operations through the router', () => {
  test('add, merge, price, update, remove and clear', async () => {
    const ada = await customer(stack);
    const tea = await newProduct({ priceAmount: 1999 });
    const cup = await newProduct({ priceAmount: 500 });

    // No cart row yet: an empty cart.
    assert.deepEqual(await cartOf(ada), { itemCount: 0, items: [], subtotal: { amount: 0, currency: 'CNY' } });

    data(await add(ada, tea.id, 2));
    const merged = data<CartView>(await add(ada, tea.id, 3), 'addToCart');
    assert.deepEqual(lines(merged), [[tea.id, 5]]);
    data(await add(ada, cup.id, 1));

    const cart = await cartOf(ada);
    assert.equal(cart.itemCount, 6);
    // Newest line first; names and prices from the catalog, totals from its live prices.
    assert.deepEqual(cart.items, [
      {
        quantity: 1,
        product: { id: cup.id, name: cup.name, price: { amount: 500, currency: 'CNY' } },
        lineTotal: { amount: 500, currency: 'CNY' },
      },
      {
        quantity: 5,
        product: { id: tea.id, name: tea.name, price: { amount: 1999, currency: 'CNY' } },
        lineTotal: { amount: 9995, currency: 'CNY' },
      },
    ]);
    assert.deepEqual(cart.subtotal, { amount: 10_495, currency: 'CNY' });

    const me = data<{ cart: { itemCount: number } }>(await stack.gql(ME, {}, { token: ada.token }), 'me');
    assert.equal(me.cart.itemCount, 6);

    const updated = data<CartView>(
      await stack.gql(UPDATE_CART_ITEM, { productId: tea.id, quantity: 2 }, { token: ada.token }),
      'updateCartItem',
    );
    assert.deepEqual(lines(updated), [
      [cup.id, 1],
      [tea.id, 2],
    ]);
    const zero = data<CartView>(
      await stack.gql(UPDATE_CART_ITEM, { productId: cup.id, quantity: 0 }, { token: ada.token }),
      'updateCartItem',
    );
    assert.deepEqual(lines(zero), [[tea.id, 2]]);

    const removed = data<{ itemCount: number }>(
      await stack.gql(REMOVE_FROM_CART, { productId: tea.id }, { token: ada.token }),
      'removeFromCart',
    );
    assert.equal(removed.itemCount, 0);
    // Removing what is not there changes nothing and is no error.
    data(await stack.gql(REMOVE_FROM_CART, { productId: tea.id }, { token: ada.token }));

    data(await add(ada, tea.id, 1));
    data(await add(ada, cup.id, 1));
    assert.equal(
      data<{ itemCount: number }>(await stack.gql(CLEAR_CART, {}, { token: ada.token }), 'clearCart').itemCount,
      0,
    );
    assert.equal((await cartOf(ada)).itemCount, 0);
  });

  test('prices are live: a price change, a deactivated or deleted product show at once', async () => {
    const ada = await customer(stack);
    const tea = await newProduct({ priceAmount: 1000 });
    const cup = await newProduct({ priceAmount: 300 });
    const pot = await newProduct({ priceAmount: 7000 });
    for (const p of [tea, cup, pot]) data(await add(ada, p.id, 2));

    data(await stack.gql(UPDATE_PRODUCT, { id: tea.id, input: { priceAmount: 1200 } }, { token: shop.token }));
    data(await stack.gql(UPDATE_PRODUCT, { id: cup.id, input: { active: false } }, { token: shop.token }));
    data(await stack.gql(DELETE_PRODUCT, { id: pot.id }, { token: shop.token }));

    const view = data<{ items: { available: boolean; product: { id: string } }[]; subtotal: { amount: number } }>(
      await stack.gql(AVAILABILITY, {}, { token: ada.token }),
      'cart',
    );
    assert.deepEqual(
      view.items.map((i) => [i.product.id, i.available]),
      [
        [pot.id, false],
        [cup.id, false],
        [tea.id, true],
      ],
    );
    // Only what can be bought counts, at today's price.
    assert.equal(view.subtotal.amount, 2400);
    assert.equal(errorCode(await add(ada, cup.id, 1)), 'BAD_USER_INPUT');
    assert.equal(errorCode(await add(ada, pot.id, 1)), 'BAD_USER_INPUT');
  });

  test('one batched product fetch prices a whole cart', async () => {
    const ada = await customer(stack);
    for (let i = 0; i < 5; i++) data(await add(ada, (await newProduct()).id, 1));
    const before = await productCalls('ProductsByIds');
    const cart = await cartOf(ada);
    assert.equal(cart.items.length, 5);
    assert.equal(await productCalls('ProductsByIds'), before + 1);
  });
});

describe('bad input and abuse', () => {
  test('quantities outside 1–99, unknown products, foreign ids and anonymous callers', async () => {
    const ada = await customer(stack);
    const tea = await newProduct();
    for (const quantity of [0, 100, -1])
      assert.equal(errorCode(await add(ada, tea.id, quantity)), 'BAD_USER_INPUT', `quantity ${quantity}`);
    // Not a GraphQL Int: refused before any resolver, as bad input, never a 500.
    assert.equal(errorCode(await add(ada, tea.id, 1e12)), 'BAD_USER_INPUT');
    assert.equal(
      errorCode(await stack.gql(UPDATE_CART_ITEM, { productId: tea.id, quantity: 100 }, { token: ada.token })),
      'BAD_USER_INPUT',
    );
    assert.equal(errorCode(await add(ada, '999999999999', 1)), 'BAD_USER_INPUT');
    assert.equal(errorCode(await add(ada, 'not-an-id', 1)), 'NOT_FOUND');
    // No such line to update.
    assert.equal(
      errorCode(await stack.gql(UPDATE_CART_ITEM, { productId: tea.id, quantity: 3 }, { token: ada.token })),
      'NOT_FOUND',
    );
    assert.equal(errorCode(await stack.gql(CART)), 'UNAUTHENTICATED');
    assert.equal(errorCode(await stack.gql(ADD_TO_CART, { productId: tea.id, quantity: 1 })), 'UNAUTHENTICATED');
    assert.equal((await cartOf(ada)).itemCount, 0);
  });

  test('a line never goes above 99, even when two adds race', async () => {
    const ada = await customer(stack);
    const tea = await newProduct();
    data(await add(ada, tea.id, 60));
    assert.equal(errorCode(await add(ada, tea.id, 40)), 'BAD_USER_INPUT');
    assert.equal((await cartOf(ada)).itemCount, 60);

    const cup = await newProduct();
    // Ten concurrent adds of 3 end with the sum.
    const results = await Promise.all(Array.from({ length: 10 }, () => add(ada, cup.id, 3)));
    for (const result of results) data(result);
    // Two concurrent adds of 50: one fits, the other is refused.
    const pot = await newProduct();
    const raced = await Promise.all([add(ada, pot.id, 50), add(ada, pot.id, 50)]);
    assert.deepEqual(raced.map(errorCode).sort(), ['BAD_USER_INPUT', undefined]);
    const cart = await cartOf(ada);
    assert.deepEqual(
      cart.items.map((i) => [i.product.id, i.quantity]),
      [
        [pot.id, 50],
        [cup.id, 30],
        [tea.id, 60],
      ],
    );
  });

  test('at most 100 lines, also when the last two are added at once', async () => {
    const ada = await customer(stack);
    const products = await Promise.all(Array.from({ length: 101 }, () => newProduct()));
    for (const p of products.slice(0, 99)) data(await add(ada, p.id, 1));
    const raced = await Promise.all([add(ada, products[99]!.id, 1), add(ada, products[100]!.id, 1)]);
    assert.deepEqual(raced.map(errorCode).sort(), ['BAD_USER_INPUT', undefined]);
    const cart = await cartOf(ada);
    assert.equal(cart.items.length, 100);
    assert.equal(cart.itemCount, 100);
    // An existing line can still grow in a full cart.
    data(await add(ada, products[0]!.id, 1));
    assert.equal(errorCode(await add(ada, (await newProduct()).id, 1)), 'BAD_USER_INPUT');
  });

  test("another user's cart is NOT_FOUND; an ADMIN may read it", async () => {
    const ada = await customer(stack);
    const bob = await customer(stack);
    data(await add(ada, (await newProduct()).id, 4));
    const own = data<{ cart: { itemCount: number } }>(
      await stack.gql(USER_CART, { id: ada.id }, { token: ada.token }),
      'user',
    );
    assert.equal(own.cart.itemCount, 4);
    assert.equal(errorCode(await stack.gql(USER_CART, { id: ada.id }, { token: bob.token })), 'NOT_FOUND');
    const boss = await admin(stack);
    const seen = data<{ cart: { itemCount: number } }>(
      await stack.gql(USER_CART, { id: ada.id }, { token: boss.token }),
      'user',
    );
    assert.equal(seen.cart.itemCount, 4);
  });
});

describe('checkout', () => {
  test('checkoutCart gives checkout the lines, oldest first, and no one else', async () => {
    const ada = await customer(stack);
    const tea = await newProduct();
    const cup = await newProduct();
    assert.deepEqual(await checkoutCart(stack, ada.id), { userId: ada.id, lines: [] });
    data(await add(ada, tea.id, 2));
    data(await add(ada, cup.id, 1));
    assert.deepEqual(await checkoutCart(stack, ada.id), {
      userId: ada.id,
      lines: [
        { productId: tea.id, quantity: 2 },
        { productId: cup.id, quantity: 1 },
      ],
    });
    await assert.rejects(checkoutCart(stack, ada.id, 'order'));
    const viaRouter = await stack.gql(`query($id: ID!) { checkoutCart(userId: $id) { userId } }`, { id: ada.id });
    assert.equal(errorCode(viaRouter), 'GRAPHQL_VALIDATION_FAILED');
  });

  test('order.created takes exactly the ordered quantities off the cart', async () => {
    const ada = await customer(stack);
    const tea = await newProduct({ priceAmount: 1999 });
    const cup = await newProduct({ priceAmount: 500 });
    const pot = await newProduct({ priceAmount: 9000 });
    data(await add(ada, tea.id, 5));
    data(await add(ada, cup.id, 1));
    data(await add(ada, pot.id, 1));
    // Checkout ordered 2 tea and 1 cup; the 3 further tea and the pot were added after it read the cart.
    await placeOrder(
      stack,
      orderInput(ada.id, {
        lines: [
          { productId: tea.id, quantity: 2, unitPriceAmount: 1999, currency: 'CNY', name: tea.name },
          { productId: cup.id, quantity: 1, unitPriceAmount: 500, currency: 'CNY', name: cup.name },
        ],
      }),
    );
    const after = await waitFor(
      async () => {
        const cart = await cartOf(ada);
        return cart.itemCount === 4 ? cart : null;
      },
      { timeoutMs: 20_000, what: 'the ordered lines taken off the cart' },
    );
    assert.deepEqual(lines(after), [
      [pot.id, 1],
      [tea.id, 3],
    ]);
  });

  test('order.created counts once however often it is delivered; a flash-sale order leaves the cart alone', async () => {
    const ada = await customer(stack);
    const tea = await newProduct();
    const cup = await newProduct();
    data(await add(ada, tea.id, 5));
    data(await add(ada, cup.id, 3));
    // One key, so one partition: the consumer sees the three events in this order.
    const key = nextOrderId();
    const created = (productId: string, quantity: number, extra: Record<string, string> = {}) =>
      createEvent('order.created', {
        aggregateId: key,
        data: {
          orderId: nextOrderId(),
          orderNumber: '20261129000001',
          userId: ada.id,
          items: [
            {
              productId,
              quantity,
              unitPrice: { amount: 1000, currency: 'CNY' },
              lineTotal: { amount: 1000 * quantity, currency: 'CNY' },
            },
          ],
          total: { amount: 1000 * quantity, currency: 'CNY' },
          expiresAt: new Date(Date.now() + 900_000).toISOString(),
          ...extra,
        },
      });
    const ordered = created(tea.id, 2);
    const flash = created(tea.id, 1, { flashSalePurchaseId: nextOrderId() });
    const last = created(cup.id, 1);
    const message = (event: ReturnType<typeof created>) => ({
      key,
      value: serializeEvent(event),
      headers: eventHeaders(event),
    });
    await producer.send({
      topic: topicOf('order.created'),
      messages: [message(ordered), message(ordered), message(flash), message(last)],
    });
    await waitFor(
      async () => (await db.query('SELECT 1 FROM processed_events WHERE event_id = $1', [last.id])).rowCount === 1,
      { timeoutMs: 20_000, what: 'the last order.created consumed' },
    );
    assert.deepEqual(lines(await cartOf(ada)), [
      [cup.id, 2],
      [tea.id, 3],
    ]);
  });
});
