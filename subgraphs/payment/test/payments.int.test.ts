// The payment subgraph through the router, as a customer, an administrator and each provider use it.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '@mall/events/testing';
import {
  AppError,
  createLogger,
  IdentitySigner,
  resolveInternalSecret,
  ServiceClient,
  SnowflakeGenerator,
  withTransaction,
} from '@mall/platform';
import { data, errorCode } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { admin, type Caller, customer, orderInput, orderService, placeOrder } from '../../order/test/helpers.ts';
import type { PrismaClient } from '../data/generated/client.ts';
import { createOrderClient, findOrderToPay } from '../data/orders.ts';
import { sandboxProvider } from '../providers/sandbox.ts';
import { PaymentService } from '../service.ts';
import {
  alipayNotify,
  deliver,
  keys,
  paymentDb,
  paymentEnv,
  routerBase,
  sandboxEvent,
  sandboxHeaders,
  startWechatApiStub,
  WEBHOOK_SECRET,
  wechatNotification,
} from './helpers.ts';

// The contract's operations (../shared/contract/operations.graphql).
const PAY = `mutation Pay($input: PayInput!) {
  pay(input: $input) { id status method providerReference checkoutUrl amount { amount currency } }
}`;
const PAYMENT = `query Payment($id: ID!) { payment(id: $id) { id status method amount { amount currency } order { id status } } }`;
const REFUND = `mutation RefundPayment($paymentId: ID!, $reason: String) { refundPayment(paymentId: $paymentId, reason: $reason) { id status } }`;
const ORDER = `query Order($id: ID!) { order(id: $id) { id status total { amount currency } payment { id status method } } }`;
const CANCEL = `mutation CancelOrder($id: ID!) { cancelOrder(id: $id) { id status } }`;

interface PaymentView {
  readonly id: string;
  readonly status: string;
  readonly method: string;
  readonly providerReference: string;
  readonly checkoutUrl: string | null;
  readonly amount: { amount: number; currency: string };
}

let stack: TestStack;
let wechatApi: { url: string; server: Server };
let db: PrismaClient;
let ada: Caller;
let bob: Caller;
let boss: Caller;
let orderDb: ReturnType<typeof orderService>['prisma'];

/** 2 × 1999 + 500 = 4498 CNY, the order helpers' two lines. */
const TOTAL = 4498;

before(async () => {
  wechatApi = await startWechatApiStub();
  stack = await startTestStack({ env: paymentEnv(wechatApi.url) });
  db = paymentDb(stack);
  orderDb = orderService(stack).prisma;
  [ada, bob, boss] = await Promise.all([customer(stack), customer(stack), admin(stack)]);
});

after(async () => {
  await db?.$disconnect();
  await orderDb?.$disconnect();
  await stack?.close();
  wechatApi?.server.close();
});

let keySerial = 0;
const nextKey = () => `key-${Date.now()}-${keySerial++}`;

async function newOrder(owner: Caller = ada): Promise<string> {
  return (await placeOrder(stack, orderInput(owner.id))).id;
}

async function pay(owner: Caller, orderId: string, method = 'CARD', idempotencyKey = nextKey()) {
  return stack.gql<{ pay: PaymentView }>(PAY, { input: { orderId, method, idempotencyKey } }, { token: owner.token });
}

async function paid(owner: Caller, orderId: string, method = 'CARD'): Promise<PaymentView> {
  return data<PaymentView>(await pay(owner, orderId, method), 'pay');
}

async function orderView(orderId: string, caller: Caller = ada) {
  return data<{ id: string; status: string; payment: { id: string; status: string } | null }>(
    await stack.gql(ORDER, { id: orderId }, { token: caller.token }),
    'order',
  );
}

const waitForOrder = (orderId: string, status: string) =>
  waitFor(async () => (await orderView(orderId)).status === status, { timeoutMs: 20_000, what: `order ${status}` });

async function paymentStatus(id: string, caller: Caller = ada): Promise<string> {
  return data<{ status: string }>(await stack.gql(PAYMENT, { id }, { token: caller.token }), 'payment').status;
}

const outboxCount = (type: string, paymentId: string) =>
  db.outboxEvent.count({ where: { type, payload: { path: ['data', 'paymentId'], equals: paymentId } } });

describe('sandbox: pay → page → signed callback → order', () => {
  test('a person approves on the sandbox page (over HTTP, through the router) and the order is PAID', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    assert.equal(payment.status, 'PENDING');
    assert.equal(payment.method, 'CARD');
    assert.deepEqual(payment.amount, { amount: TOTAL, currency: 'CNY' });
    const checkoutUrl = payment.checkoutUrl ?? '';
    assert.ok(checkoutUrl.startsWith(`${routerBase(stack)}/payments/sandbox/`), checkoutUrl);

    const page = await fetch(checkoutUrl);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /44\.98 CNY/);
    const approved = await fetch(checkoutUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=approve',
    });
    assert.equal(approved.status, 200, await approved.text());

    await waitForOrder(orderId, 'PAID');
    const view = await orderView(orderId);
    assert.deepEqual(view.payment, { id: payment.id, status: 'SUCCEEDED', method: 'CARD' });
    const contract = data<{ order: { id: string; status: string }; status: string }>(
      await stack.gql(PAYMENT, { id: payment.id }, { token: ada.token }),
      'payment',
    );
    assert.deepEqual(contract.order, { id: orderId, status: 'PAID' });
    assert.equal(await outboxCount('payment.succeeded', payment.id), 1);
    // Settled: the page is gone, and paying again is refused.
    assert.equal((await fetch(checkoutUrl)).status, 409);
    assert.equal(errorCode(await pay(ada, orderId)), 'INVALID_STATE');
  });

  test('a decline fails the payment; the order stays payable and a second payment pays it', async () => {
    const orderId = await newOrder();
    const first = await paid(ada, orderId);
    const declined = await fetch(first.checkoutUrl as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=decline',
    });
    assert.equal(declined.status, 200);
    assert.equal(await paymentStatus(first.id), 'FAILED');
    assert.equal(await outboxCount('payment.failed', first.id), 1);
    assert.equal((await orderView(orderId)).status, 'PENDING_PAYMENT');

    const second = await paid(ada, orderId);
    const body = sandboxEvent(second.providerReference, TOTAL);
    assert.equal((await deliver(stack, 'sandbox', body, sandboxHeaders(body))).status, 200);
    await waitForOrder(orderId, 'PAID');
    assert.equal((await orderView(orderId)).payment?.id, second.id);
  });
});

describe('pay', () => {
  test('one idempotency key, one payment; the same key with another input is CONFLICT', async () => {
    const orderId = await newOrder();
    const key = nextKey();
    const first = await paid(ada, orderId, 'CARD');
    const again = data<PaymentView>(await pay(ada, orderId, 'CARD', key), 'pay');
    const replay = data<PaymentView>(await pay(ada, orderId, 'CARD', key), 'pay');
    assert.equal(replay.id, again.id);
    assert.notEqual(first.id, again.id);
    assert.equal(errorCode(await pay(ada, orderId, 'ALIPAY', key)), 'CONFLICT');
    assert.equal(await db.payment.count({ where: { orderId: BigInt(orderId) } }), 2);
  });

  test("someone else's order is NOT_FOUND; cancelled is INVALID_STATE; bad input is BAD_USER_INPUT", async () => {
    const orderId = await newOrder();
    assert.equal(errorCode(await pay(bob, orderId)), 'NOT_FOUND');
    assert.equal(errorCode(await pay(ada, '999999999')), 'NOT_FOUND');
    assert.equal(errorCode(await pay(ada, 'not-an-id')), 'NOT_FOUND');
    assert.equal(errorCode(await pay(ada, orderId, 'CARD', '')), 'BAD_USER_INPUT');
    const anonymous = await stack.gql(PAY, { input: { orderId, method: 'CARD', idempotencyKey: nextKey() } });
    assert.equal(errorCode(anonymous), 'UNAUTHENTICATED');
    data(await stack.gql(CANCEL, { id: orderId }, { token: ada.token }));
    assert.equal(errorCode(await pay(ada, orderId)), 'INVALID_STATE');
  });

  test('orderForPayment is for the payment service alone, and absent from the public API', async () => {
    const orderId = await newOrder();
    const secret = await resolveInternalSecret(stack.config);
    const as = (issuer: string) =>
      new ServiceClient({
        url: stack.subgraphUrls['order'] as string,
        target: 'order',
        signer: new IdentitySigner(secret, issuer),
      });
    const order = await findOrderToPay(as('payment'), { requestId: 'test' }, orderId);
    assert.deepEqual(order, {
      id: orderId,
      userId: ada.id,
      status: 'PENDING_PAYMENT',
      total: { amount: TOTAL, currency: 'CNY' },
    });
    await assert.rejects(
      findOrderToPay(as('checkout'), { requestId: 'test' }, orderId),
      (error: unknown) => error instanceof AppError && error.code === 'FORBIDDEN',
    );
    const viaRouter = await stack.gql(`query { orderForPayment(id: "${orderId}") { id } }`, {}, { token: ada.token });
    assert.equal(errorCode(viaRouter), 'GRAPHQL_VALIDATION_FAILED');
  });

  test("payment(id) and Order.payment: the owner's and an ADMIN's, NOT_FOUND or null to anyone else", async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    assert.equal(await paymentStatus(payment.id, boss), 'PENDING');
    assert.equal(errorCode(await stack.gql(PAYMENT, { id: payment.id }, { token: bob.token })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(PAYMENT, { id: payment.id })), 'UNAUTHENTICATED');
    assert.equal((await orderView(orderId, boss)).payment?.id, payment.id);
  });
});

describe('callbacks', () => {
  test('bad signature, stale or missing header, malformed or oversized body are refused and change nothing', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    const body = sandboxEvent(payment.providerReference, TOTAL);
    const refusals: [string, Promise<{ status: number }>][] = [
      ['wrong secret', deliver(stack, 'sandbox', body, sandboxHeaders(body, new Date(), 'not-the-secret'))],
      ['stale', deliver(stack, 'sandbox', body, sandboxHeaders(body, new Date(Date.now() - 400_000)))],
      ['from the future', deliver(stack, 'sandbox', body, sandboxHeaders(body, new Date(Date.now() + 400_000)))],
      ['missing header', deliver(stack, 'sandbox', body, { 'content-type': 'application/json' })],
      ['garbage header', deliver(stack, 'sandbox', body, { 'mall-signature': 't=abc,v1=zz' })],
      ['tampered body', deliver(stack, 'sandbox', body.replace(String(TOTAL), '1'), sandboxHeaders(body))],
      ['malformed JSON', deliver(stack, 'sandbox', '{"id":', sandboxHeaders('{"id":'))],
      ['wrong shape', deliver(stack, 'sandbox', '{"id":"e"}', sandboxHeaders('{"id":"e"}'))],
      ['malformed form', deliver(stack, 'alipay', '%%%&&&=', { 'content-type': 'application/x-www-form-urlencoded' })],
      ['no wechat headers', deliver(stack, 'wechatpay', '{}', { 'content-type': 'application/json' })],
    ];
    for (const [what, reply] of refusals) assert.equal((await reply).status, 400, what);

    const wrongAmount = sandboxEvent(payment.providerReference, TOTAL - 1);
    assert.equal((await deliver(stack, 'sandbox', wrongAmount, sandboxHeaders(wrongAmount))).status, 400);
    const wrongCurrency = sandboxEvent(payment.providerReference, TOTAL, { currency: 'USD' });
    assert.equal((await deliver(stack, 'sandbox', wrongCurrency, sandboxHeaders(wrongCurrency))).status, 400);
    const unknown = sandboxEvent('sbx_000000000000000000000000', TOTAL);
    assert.equal((await deliver(stack, 'sandbox', unknown, sandboxHeaders(unknown))).status, 400);

    const huge = Buffer.alloc(2 * 1024 * 1024, 'a');
    const tooLarge = await deliver(stack, 'sandbox', huge, sandboxHeaders(huge.toString()));
    assert.ok(tooLarge.status === 413 || tooLarge.status === 400, `2 MB answered ${tooLarge.status}`);
    assert.equal((await deliver(stack, 'paypal', body, sandboxHeaders(body))).status, 404);
    assert.equal((await fetch(`${routerBase(stack)}/webhooks/payments/sandbox`)).status, 405);

    assert.equal(await paymentStatus(payment.id), 'PENDING');
    assert.equal((await orderView(orderId)).status, 'PENDING_PAYMENT');
    assert.equal(await outboxCount('payment.succeeded', payment.id), 0);
  });

  test('the subgraph takes callbacks only from the router', async () => {
    const payment = await paid(ada, await newOrder());
    const body = sandboxEvent(payment.providerReference, TOTAL);
    const direct = await fetch(`${stack.subgraphUrls['payment']}/webhooks/payments/sandbox`, {
      method: 'POST',
      headers: sandboxHeaders(body),
      body,
    });
    assert.equal(direct.status, 401);
    assert.equal(await paymentStatus(payment.id), 'PENDING');
  });

  test('20 concurrent identical callbacks make one transition; a redelivery is answered 200 and changes nothing', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    const body = sandboxEvent(payment.providerReference, TOTAL);
    const headers = sandboxHeaders(body);
    const replies = await Promise.all(Array.from({ length: 20 }, () => deliver(stack, 'sandbox', body, headers)));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(20).fill(200),
    );
    assert.equal((await deliver(stack, 'sandbox', body, sandboxHeaders(body))).status, 200);
    assert.equal(await outboxCount('payment.succeeded', payment.id), 1);
    assert.equal(await db.providerCallback.count({ where: { paymentId: BigInt(payment.id) } }), 1);
    await waitForOrder(orderId, 'PAID');
  });

  test('no response leaks an internal message', async () => {
    const replies = await Promise.all([
      deliver(stack, 'sandbox', '{"id":', sandboxHeaders('{"id":')),
      deliver(stack, 'alipay', 'a=b', { 'content-type': 'text/plain' }),
      deliver(stack, 'wechatpay', '[]', { 'content-type': 'application/json' }),
    ]);
    for (const reply of replies) {
      assert.ok(reply.status < 500, reply.body);
      assert.doesNotMatch(reply.body, /stack|prisma|at \w+ \(|Error:/i);
    }
  });
});

describe('late success and refunds', () => {
  test('a success after the order was cancelled is refunded: payment REFUNDED, order stays CANCELLED', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    data(await stack.gql(CANCEL, { id: orderId }, { token: ada.token }));
    const body = sandboxEvent(payment.providerReference, TOTAL);
    assert.equal((await deliver(stack, 'sandbox', body, sandboxHeaders(body))).status, 200);
    await waitFor(async () => (await paymentStatus(payment.id)) === 'REFUNDED', {
      timeoutMs: 20_000,
      what: 'late payment refunded',
    });
    assert.equal(await outboxCount('payment.refunded', payment.id), 1);
    assert.equal(await db.sandboxRefund.count({ where: { reference: payment.providerReference } }), 1);
    const refund = await db.refund.findUniqueOrThrow({ where: { paymentId: BigInt(payment.id) } });
    assert.equal(refund.kind, 'UNAPPLIED');
    assert.equal((await orderView(orderId)).status, 'CANCELLED');
  });

  test('an ADMIN refund of a PAID order: payment REFUNDED, order REFUNDED with order.refunded carrying its lines', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    const body = sandboxEvent(payment.providerReference, TOTAL);
    await deliver(stack, 'sandbox', body, sandboxHeaders(body));
    await waitForOrder(orderId, 'PAID');

    assert.equal(errorCode(await stack.gql(REFUND, { paymentId: payment.id }, { token: ada.token })), 'FORBIDDEN');
    const refunded = await stack.gql<{ refundPayment: { status: string } }>(
      REFUND,
      { paymentId: payment.id, reason: 'damaged' },
      { token: boss.token },
    );
    assert.equal(data(refunded, 'refundPayment').status, 'REFUNDED');
    await waitForOrder(orderId, 'REFUNDED');
    const orderRefunded = await orderDb.outboxEvent.findFirstOrThrow({
      where: { type: 'order.refunded', key: orderId },
    });
    const event = orderRefunded.payload as { data: { paymentId: string; items: unknown[]; amount: unknown } };
    assert.equal(event.data.paymentId, payment.id);
    assert.deepEqual(event.data.amount, { amount: TOTAL, currency: 'CNY' });
    assert.deepEqual(event.data.items, [
      { productId: '1001', quantity: 2 },
      { productId: '1002', quantity: 1 },
    ]);
    // Refunding again is harmless: the same answer, no second refund.
    const again = await stack.gql<{ refundPayment: { status: string } }>(
      REFUND,
      { paymentId: payment.id },
      { token: boss.token },
    );
    assert.equal(data(again, 'refundPayment').status, 'REFUNDED');
    assert.equal(await db.sandboxRefund.count({ where: { reference: payment.providerReference } }), 1);
    assert.equal(await outboxCount('payment.refunded', payment.id), 1);

    const pending = await paid(ada, await newOrder());
    assert.equal(errorCode(await stack.gql(REFUND, { paymentId: pending.id }, { token: boss.token })), 'INVALID_STATE');
    assert.equal(errorCode(await stack.gql(REFUND, { paymentId: '12345' }, { token: boss.token })), 'NOT_FOUND');
  });
});

describe('refunds that must not happen twice', () => {
  const logger = createLogger({ service: 'payment-test', level: 'silent' });
  const ids = new SnowflakeGenerator({ workerId: 1001 });
  const sandbox = () => sandboxProvider({ secret: WEBHOOK_SECRET, publicUrl: routerBase(stack), prisma: db });
  /** The payment service on the stack's database, with a sandbox whose refunds `refund` decorates. */
  function serviceWith(refund: (real: () => Promise<void>) => Promise<void>): PaymentService {
    const real = sandbox();
    const provider = { ...real, refund: (r: Parameters<typeof real.refund>[0]) => refund(() => real.refund(r)) };
    return new PaymentService({
      prisma: db,
      ids,
      logger,
      orders: createOrderClient(stack.config, 'unused-secret-unused-secret-unused-secret'),
      providers: { forMethod: () => provider, byName: () => provider },
    });
  }

  async function succeeded(orderId: string): Promise<PaymentView> {
    const payment = await paid(ada, orderId);
    const body = sandboxEvent(payment.providerReference, TOTAL);
    assert.equal((await deliver(stack, 'sandbox', body, sandboxHeaders(body))).status, 200);
    return payment;
  }

  test('a refund that crashed after the provider refunded is retried with the same key: one refund', async () => {
    const orderId = await newOrder();
    const payment = await succeeded(orderId);
    await waitForOrder(orderId, 'PAID');
    const crashing = serviceWith(async (refund) => {
      await refund();
      throw new Error('crashed before recording the refund');
    });
    const request = { reason: 'retry me', kind: 'ORDER' as const, actor: 'admin:test', requestId: 'crash-test' };
    await assert.rejects(crashing.refund(BigInt(payment.id), request), /crashed/);
    // The provider refunded; nothing of it is recorded here yet (unless the stack's retry loop got there first,
    // which asks the provider with the same key just the same).
    assert.equal(await db.sandboxRefund.count({ where: { reference: payment.providerReference } }), 1);

    // The administrator retries through the API: the same refund (same key) is asked for and recorded.
    const retried = await stack.gql<{ refundPayment: { status: string } }>(
      REFUND,
      { paymentId: payment.id },
      { token: boss.token },
    );
    assert.equal(data(retried, 'refundPayment').status, 'REFUNDED');
    assert.equal(await db.sandboxRefund.count({ where: { reference: payment.providerReference } }), 1);
    assert.equal(await db.refund.count({ where: { paymentId: BigInt(payment.id) } }), 1);
    assert.equal(await outboxCount('payment.refunded', payment.id), 1);
    await waitForOrder(orderId, 'REFUNDED');
  });

  test('a second payment that succeeds after the order was paid is refunded on its own', async () => {
    const orderId = await newOrder();
    const first = await paid(ada, orderId);
    const second = await paid(ada, orderId);
    for (const payment of [first, second]) {
      const body = sandboxEvent(payment.providerReference, TOTAL);
      assert.equal((await deliver(stack, 'sandbox', body, sandboxHeaders(body))).status, 200);
    }
    await waitFor(async () => (await paymentStatus(second.id)) === 'REFUNDED', { what: 'duplicate refunded' });
    assert.equal(await paymentStatus(first.id), 'SUCCEEDED');
    await waitForOrder(orderId, 'PAID');
    assert.equal((await orderView(orderId)).status, 'PAID');
  });

  test('order.cancelled for an order whose payment succeeded asks for a refund the retry loop finishes', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId);
    const service = serviceWith((refund) => refund());
    // Succeeded in the payment database, while the order is cancelled before it consumed the success.
    await db.payment.update({ where: { id: BigInt(payment.id) }, data: { status: 'SUCCEEDED' } });
    await withTransaction(db, (tx) => service.orderCancelled(tx, orderId, new Date()));
    assert.equal((await db.refund.findUniqueOrThrow({ where: { paymentId: BigInt(payment.id) } })).status, 'REQUESTED');
    // The stack's own instance retries unfinished refunds every second (PAYMENT_REFUND_RETRY_SECONDS=1).
    await waitFor(async () => (await paymentStatus(payment.id)) === 'REFUNDED', { what: 'refund finished' });
    assert.equal(await db.sandboxRefund.count({ where: { reference: payment.providerReference } }), 1);
  });
});

describe('Alipay and WeChat Pay notifications', () => {
  test('a generated Alipay RSA2 notify pays the order and is answered "success"', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId, 'ALIPAY');
    assert.ok(payment.checkoutUrl?.startsWith('https://openapi.alipay.com/gateway.do?'));
    assert.equal(payment.providerReference, payment.id);

    const forged = alipayNotify(payment.id, '44.98', { signWith: keys.merchant.privateKey });
    const refused = await deliver(stack, 'alipay', forged, { 'content-type': 'application/x-www-form-urlencoded' });
    assert.deepEqual(refused, { status: 400, body: 'failure' });
    const short = alipayNotify(payment.id, '44.97');
    assert.equal(
      (await deliver(stack, 'alipay', short, { 'content-type': 'application/x-www-form-urlencoded' })).status,
      400,
    );
    assert.equal(await paymentStatus(payment.id), 'PENDING');

    const notify = alipayNotify(payment.id, '44.98');
    const reply = await deliver(stack, 'alipay', notify, {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    });
    assert.deepEqual(reply, { status: 200, body: 'success' });
    await waitForOrder(orderId, 'PAID');
    assert.equal((await orderView(orderId)).payment?.status, 'SUCCEEDED');
  });

  test('a generated WeChat Pay v3 notification pays the order and is answered 204', async () => {
    const orderId = await newOrder();
    const payment = await paid(ada, orderId, 'WECHAT_PAY');
    assert.match(payment.checkoutUrl ?? '', /^weixin:\/\/wxpay\//);

    const forged = wechatNotification(payment.id, TOTAL, { signWith: keys.merchant.privateKey });
    assert.equal((await deliver(stack, 'wechatpay', forged.body, forged.headers)).status, 400);
    const stale = wechatNotification(payment.id, TOTAL, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    assert.equal((await deliver(stack, 'wechatpay', stale.body, stale.headers)).status, 400);
    const wrongAmount = wechatNotification(payment.id, TOTAL + 1);
    assert.equal((await deliver(stack, 'wechatpay', wrongAmount.body, wrongAmount.headers)).status, 400);
    assert.equal(await paymentStatus(payment.id), 'PENDING');

    const notification = wechatNotification(payment.id, TOTAL);
    const reply = await deliver(stack, 'wechatpay', notification.body, notification.headers);
    assert.equal(reply.status, 204, reply.body);
    await waitForOrder(orderId, 'PAID');
  });
});
