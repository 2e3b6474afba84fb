// Pay → callback → order → stock, end to end through the router: an order placed as checkout places it (stock
// reserved in the product subgraph, the order under the same id), paid by each provider, then refunded.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  createEvent,
  createKafka,
  createProducer,
  type EventEnvelope,
  eventHeaders,
  parseEvent,
  serializeEvent,
  topicOf,
} from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { domainDatabaseUrl } from '@mall/platform';
import { data } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import {
  admin,
  type Caller,
  customer,
  nextOrderId,
  orderInput,
  orderService,
  placeOrder,
} from '../../order/test/helpers.ts';
import { createProduct, direct, PRODUCT, RESERVE } from '../../product/test/helpers.ts';
import { alipayNotify, deliver, paymentEnv, routerBase, startWechatApiStub, wechatNotification } from './helpers.ts';

const PAY = `mutation Pay($input: PayInput!) {
  pay(input: $input) { id status providerReference checkoutUrl }
}`;
const PAYMENT = `query Payment($id: ID!) { payment(id: $id) { id status } }`;
const REFUND = `mutation RefundPayment($paymentId: ID!) { refundPayment(paymentId: $paymentId) { id status } }`;
const ORDER = `query Order($id: ID!) { order(id: $id) { id status } }`;

/** Stock N of a product at 12.50 CNY, K units of it ordered. */
const STOCK = 9;
const QUANTITY = 4;
const PRICE = 1250;

let stack: TestStack;
let wechatApi: { url: string; server: Server };
let productDb: pg.Client;
let orderDb: ReturnType<typeof orderService>['prisma'];
let producer: Producer;
let ada: Caller;
let boss: Caller;

before(async () => {
  wechatApi = await startWechatApiStub();
  stack = await startTestStack({ env: paymentEnv(wechatApi.url) });
  productDb = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'product') });
  await productDb.connect();
  orderDb = orderService(stack).prisma;
  producer = createProducer(createKafka({ brokers: [...(stack.config.kafka.brokers ?? [])], clientId: 'test-stock' }));
  await producer.connect();
  [ada, boss] = await Promise.all([customer(stack), admin(stack)]);
});

after(async () => {
  await producer?.disconnect();
  await orderDb?.$disconnect();
  await productDb?.end();
  await stack?.close();
  wechatApi?.server.close();
});

interface Placed {
  readonly orderId: string;
  readonly productId: string;
}

/** What checkout does: a fresh product with STOCK units, QUANTITY of them reserved, the order under the same id. */
async function placeStockedOrder(): Promise<Placed> {
  const product = await createProduct(stack, boss, { name: 'Stocked kettle', priceAmount: PRICE, stock: STOCK });
  const orderId = nextOrderId();
  const lines = [{ productId: product.id, quantity: QUANTITY }];
  const reserved = data<{ status: string }>(
    await direct(stack, RESERVE, { orderId, lines }, { issuer: 'checkout' }),
    'reserveStock',
  );
  assert.equal(reserved.status, 'HELD');
  const line = { ...lines[0], unitPriceAmount: PRICE, currency: 'CNY', name: 'Stocked kettle' };
  assert.equal((await placeOrder(stack, orderInput(ada.id, { orderId, lines: [line] }))).id, orderId);
  return { orderId, productId: product.id };
}

async function pay(orderId: string, method: string) {
  const input = { orderId, method, idempotencyKey: `stock-${orderId}-${method}` };
  return data<{ id: string; status: string; providerReference: string; checkoutUrl: string | null }>(
    await stack.gql(PAY, { input }, { token: ada.token }),
    'pay',
  );
}

async function orderStatus(orderId: string): Promise<string> {
  return data<{ status: string }>(await stack.gql(ORDER, { id: orderId }, { token: ada.token }), 'order').status;
}

/** The product's stock as a shopper reads it through the router (and so through the product cache). */
async function shownStock(productId: string): Promise<number> {
  return data<{ stock: number }>(await stack.gql(PRODUCT, { id: productId }), 'product').stock;
}

/** The product's levels and the order's reservation, from the product database. */
async function stockState(placed: Placed): Promise<{ available: number; reserved: number; reservation: string }> {
  const { rows } = await productDb.query(
    `SELECT p.available, p.reserved, r.status AS reservation
     FROM products p, reservations r WHERE p.id = $1 AND r.order_id = $2`,
    [placed.productId, placed.orderId],
  );
  return rows[0];
}

const committed = { available: STOCK - QUANTITY, reserved: 0, reservation: 'COMMITTED' };

/** PAID through the router, then the product subgraph commits the reservation from order.paid. */
async function assertPaidAndCommitted(placed: Placed): Promise<void> {
  await waitFor(async () => (await orderStatus(placed.orderId)) === 'PAID', { timeoutMs: 20_000, what: 'order PAID' });
  await waitFor(async () => (await stockState(placed)).reservation === 'COMMITTED', {
    timeoutMs: 20_000,
    what: 'reservation COMMITTED',
  });
  assert.deepEqual(await stockState(placed), committed);
  assert.equal(await shownStock(placed.productId), STOCK - QUANTITY);
}

async function processedByProduct(eventId: string): Promise<boolean> {
  const { rows } = await productDb.query('SELECT 1 FROM processed_events WHERE event_id = $1', [eventId]);
  return rows.length === 1;
}

async function publish(event: EventEnvelope): Promise<void> {
  await producer.send({
    topic: topicOf(event.type),
    messages: [{ key: event.aggregateId, value: serializeEvent(event), headers: eventHeaders(event) }],
  });
}

describe('pay → callback → order PAID → stock committed, through the router', () => {
  test('sandbox page approved over HTTP: PAID and committed; an ADMIN refund returns the stock exactly once', async () => {
    const placed = await placeStockedOrder();
    assert.deepEqual(await stockState(placed), {
      available: STOCK - QUANTITY,
      reserved: QUANTITY,
      reservation: 'HELD',
    });

    const payment = await pay(placed.orderId, 'CARD');
    const checkoutUrl = payment.checkoutUrl ?? '';
    assert.ok(checkoutUrl.startsWith(`${routerBase(stack)}/payments/sandbox/`), checkoutUrl);
    assert.equal((await fetch(checkoutUrl)).status, 200);
    const approved = await fetch(checkoutUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=approve',
    });
    assert.equal(approved.status, 200, await approved.text());
    await assertPaidAndCommitted(placed);

    const refunded = data<{ status: string }>(
      await stack.gql(REFUND, { paymentId: payment.id }, { token: boss.token }),
      'refundPayment',
    );
    assert.equal(refunded.status, 'REFUNDED');
    await waitFor(async () => (await orderStatus(placed.orderId)) === 'REFUNDED', {
      timeoutMs: 20_000,
      what: 'order REFUNDED',
    });
    assert.equal(
      data<{ status: string }>(await stack.gql(PAYMENT, { id: payment.id }, { token: ada.token }), 'payment').status,
      'REFUNDED',
    );
    await waitFor(async () => (await stockState(placed)).reservation === 'RETURNED', {
      timeoutMs: 20_000,
      what: 'reservation RETURNED',
    });
    const returned = { available: STOCK, reserved: 0, reservation: 'RETURNED' };
    assert.deepEqual(await stockState(placed), returned);
    await waitFor(async () => (await shownStock(placed.productId)) === STOCK, { what: 'the cache shows the stock' });

    // A redelivery of the order's own order.refunded, then a second refund of the same order under another event
    // id, on the order's partition: once the second is consumed, the redelivery before it was too.
    const row = await orderDb.outboxEvent.findFirstOrThrow({ where: { type: 'order.refunded', key: placed.orderId } });
    const original = parseEvent(JSON.stringify(row.payload)) as EventEnvelope<'order.refunded'>;
    const again = createEvent('order.refunded', { aggregateId: placed.orderId, data: original.data });
    await publish(original);
    await publish(again);
    await waitFor(() => processedByProduct(again.id), { what: 'the repeated order.refunded consumed' });
    assert.deepEqual(await stockState(placed), returned);
    assert.equal(await shownStock(placed.productId), STOCK);
  });

  test('a generated Alipay notify: PAID and the stock committed', async () => {
    const placed = await placeStockedOrder();
    const payment = await pay(placed.orderId, 'ALIPAY');
    const total = ((PRICE * QUANTITY) / 100).toFixed(2);
    const reply = await deliver(stack, 'alipay', alipayNotify(payment.providerReference, total), {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    });
    assert.deepEqual(reply, { status: 200, body: 'success' });
    await assertPaidAndCommitted(placed);
  });

  test('a generated WeChat Pay notification: PAID and the stock committed', async () => {
    const placed = await placeStockedOrder();
    const payment = await pay(placed.orderId, 'WECHAT_PAY');
    const notification = wechatNotification(payment.providerReference, PRICE * QUANTITY);
    const reply = await deliver(stack, 'wechatpay', notification.body, notification.headers);
    assert.equal(reply.status, 204, reply.body);
    await assertPaidAndCommitted(placed);
  });
});
