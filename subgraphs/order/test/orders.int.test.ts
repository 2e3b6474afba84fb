// The order subgraph through the router, as a frontend uses it, with orders placed as checkout places them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEvent, createKafka } from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { AppError, createLogger, kafkaBrokers } from '@mall/platform';
import { data, errorCode } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import {
  ADDRESS,
  admin,
  type Caller,
  customer,
  orderInput,
  orderService,
  type PlacedOrder,
  placeOrder,
} from './helpers.ts';

// The contract's operations (../shared/contract/operations.graphql), less the fields of subgraphs not built yet
// (Order.payment, Product.name, User.cart).
const ORDERS = `query Orders($first: Int, $after: String, $status: OrderStatus) {
  orders(first: $first, after: $after, status: $status) {
    totalCount
    edges { cursor node { id number status total { amount currency } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const ORDER = `query Order($id: ID!) {
  order(id: $id) {
    id number status createdAt expiresAt
    total { amount currency }
    items { quantity unitPrice { amount currency } product { id } }
    statusHistory { status at reason }
  }
}`;
const CANCEL = `mutation CancelOrder($id: ID!) { cancelOrder(id: $id) { id status } }`;
const ME = `query Me { me { id orders(first: 5) { totalCount edges { node { id status } } } } }`;
const SHIP = `mutation Ship($id: ID!) { shipOrder(id: $id, carrier: "SF", trackingNumber: "SF123") { id status } }`;
const COMPLETE = `mutation Complete($id: ID!) { completeOrder(id: $id) { id status } }`;
const ADMIN_ORDERS = `query AdminOrders($userId: ID, $first: Int) { orders(userId: $userId, first: $first) { totalCount edges { node { id } } } }`;

interface OrderView {
  readonly id: string;
  readonly number: string;
  readonly status: string;
  readonly total: { amount: number; currency: string };
  readonly items: { quantity: number; unitPrice: { amount: number }; product: { id: string } }[];
  readonly statusHistory: { status: string; reason: string | null }[];
}

interface Connection {
  readonly totalCount: number;
  readonly edges: { cursor: string; node: { id: string; status: string } }[];
  readonly pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

let stack: TestStack;
let boss: Caller;
let orders: ReturnType<typeof orderService>;

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'order'] });
  boss = await admin(stack);
  orders = orderService(stack);
});

after(async () => {
  await orders?.prisma.$disconnect();
  await stack?.close();
});

const outbox = (type: string, orderId: string) =>
  orders.prisma.outboxEvent.findMany({ where: { type, key: orderId }, orderBy: { createdAt: 'asc' } });

const view = async (caller: Caller, id: string) =>
  data<OrderView>(await stack.gql(ORDER, { id }, { token: caller.token }), 'order');

async function paidOrder(owner: Caller): Promise<PlacedOrder> {
  const order = await placeOrder(stack, orderInput(owner.id));
  await orders.service.markPaid(BigInt(order.id), { paymentId: '777', requestId: 'test-pay' });
  return order;
}

describe('placing orders (internal, for checkout)', () => {
  test('records the lines, totals and number, starts PENDING_PAYMENT and writes order.created', async () => {
    const ada = await customer(stack);
    const input = orderInput(ada.id);
    const placed = await placeOrder(stack, input);
    assert.equal(placed.id, input['orderId']);
    assert.equal(placed.status, 'PENDING_PAYMENT');
    assert.deepEqual(placed.total, { amount: 2 * 1999 + 500, currency: 'CNY' });
    const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    assert.match(placed.number, new RegExp(`^${today}\\d{6}$`));
    const expiresIn = Date.parse(placed.expiresAt) - Date.now();
    assert.ok(expiresIn > 890_000 && expiresIn <= 900_000, `expires in ${expiresIn} ms`);

    const order = await view(ada, placed.id);
    assert.deepEqual(
      order.items.map((i) => [i.product.id, i.quantity, i.unitPrice.amount]),
      [
        ['1001', 2, 1999],
        ['1002', 1, 500],
      ],
    );
    assert.deepEqual(
      order.statusHistory.map((h) => [h.status, h.reason]),
      [['PENDING_PAYMENT', null]],
    );
    const created = await outbox('order.created', placed.id);
    assert.equal(created.length, 1);
    const event = created[0]!.payload as { data: { orderNumber: string; total: unknown; items: unknown[] } };
    assert.equal(event.data.orderNumber, placed.number);
    assert.deepEqual(event.data.total, { amount: 4498, currency: 'CNY' });
    assert.equal(event.data.items.length, 2);
  });

  test('is idempotent per order id, also when retried concurrently', async () => {
    const ada = await customer(stack);
    const input = orderInput(ada.id);
    const attempts = await Promise.all(Array.from({ length: 8 }, () => placeOrder(stack, input)));
    assert.equal(new Set(attempts.map((o) => `${o.id}/${o.number}`)).size, 1);
    assert.deepEqual(await placeOrder(stack, input), attempts[0]);
    assert.equal((await outbox('order.created', String(input['orderId']))).length, 1);
    // The same id for another customer is checkout's bug, not a second order.
    const bob = await customer(stack);
    await assert.rejects(
      placeOrder(stack, { ...input, userId: bob.id }),
      (e) => (e as AppError).code === 'INVALID_STATE',
    );
  });

  test('refuses bad input field by field, and callers other than checkout and flash sale', async () => {
    const ada = await customer(stack);
    const line = { productId: '1001', quantity: 1, unitPriceAmount: 100, currency: 'CNY', name: 'Cup' };
    for (const [overrides, field] of [
      [{ lines: [] }, 'lines'],
      [{ lines: [{ ...line, quantity: 0 }] }, 'lines.0.quantity'],
      [{ lines: [{ ...line, unitPriceAmount: -1 }] }, 'lines.0.unitPriceAmount'],
      [{ lines: [line, { ...line, currency: 'USD' }] }, 'lines.1.currency'],
      [{ lines: [{ ...line, productId: 'abc' }] }, 'lines.0.productId'],
      [{ shippingAddress: { ...ADDRESS, recipient: '  ' } }, 'shippingAddress.recipient'],
      [{ note: 'x'.repeat(501) }, 'note'],
    ] as const) {
      const error = await placeOrder(stack, orderInput(ada.id, overrides)).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, `${field}: ${String(error)}`);
      assert.equal(error.code, 'BAD_USER_INPUT', field);
      const problems = error.extensions['problems'] as { field: string }[];
      assert.deepEqual(
        problems.map((p) => p.field),
        [field],
      );
    }
    await assert.rejects(placeOrder(stack, orderInput(ada.id), { issuer: 'payment' }));
    const viaRouter = await stack.gql('mutation { placeOrder(input: {}) { id } }', {}, { token: boss.token });
    assert.equal(errorCode(viaRouter), 'GRAPHQL_VALIDATION_FAILED');
  });
});

describe('reading orders', () => {
  test("the owner and an ADMIN see an order; another customer's, a malformed or unknown id is NOT_FOUND", async () => {
    const [ada, bob] = [await customer(stack), await customer(stack)];
    const placed = await placeOrder(stack, orderInput(ada.id));
    assert.equal((await view(ada, placed.id)).number, placed.number);
    assert.equal((await view(boss, placed.id)).id, placed.id);
    for (const id of [placed.id, '1', 'not-an-id'])
      assert.equal(errorCode(await stack.gql(ORDER, { id }, { token: bob.token })), 'NOT_FOUND', id);
    assert.equal(errorCode(await stack.gql(ORDER, { id: placed.id })), 'UNAUTHENTICATED');
  });

  test('orders lists the caller’s own, newest first, in pages, filtered by status, counted', async () => {
    const [ada, bob] = [await customer(stack), await customer(stack)];
    const placed: PlacedOrder[] = [];
    for (let i = 0; i < 3; i++) placed.push(await placeOrder(stack, orderInput(ada.id)));
    await placeOrder(stack, orderInput(bob.id));
    data(await stack.gql(CANCEL, { id: placed[0]!.id }, { token: ada.token }));

    const first = data<Connection>(await stack.gql(ORDERS, { first: 2 }, { token: ada.token }), 'orders');
    assert.equal(first.totalCount, 3);
    assert.deepEqual(
      first.edges.map((e) => e.node.id),
      [placed[2]!.id, placed[1]!.id],
    );
    assert.equal(first.pageInfo.hasNextPage, true);
    const rest = data<Connection>(
      await stack.gql(ORDERS, { first: 2, after: first.pageInfo.endCursor }, { token: ada.token }),
      'orders',
    );
    assert.deepEqual(
      rest.edges.map((e) => e.node.id),
      [placed[0]!.id],
    );
    assert.equal(rest.pageInfo.hasNextPage, false);
    const cancelled = data<Connection>(
      await stack.gql(ORDERS, { status: 'CANCELLED' }, { token: ada.token }),
      'orders',
    );
    assert.deepEqual(
      cancelled.edges.map((e) => [e.node.id, e.node.status]),
      [[placed[0]!.id, 'CANCELLED']],
    );
    assert.equal(cancelled.totalCount, 1);
    assert.equal(errorCode(await stack.gql(ORDERS, { first: 101 }, { token: ada.token })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(ORDERS, { after: 'bogus' }, { token: ada.token })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(ORDERS, {})), 'UNAUTHENTICATED');
  });

  test('an ADMIN lists any user’s orders; a customer naming a user is FORBIDDEN', async () => {
    const ada = await customer(stack);
    const placed = await placeOrder(stack, orderInput(ada.id));
    const listed = data<Connection>(await stack.gql(ADMIN_ORDERS, { userId: ada.id }, { token: boss.token }), 'orders');
    assert.deepEqual(
      listed.edges.map((e) => e.node.id),
      [placed.id],
    );
    const everyone = data<Connection>(await stack.gql(ADMIN_ORDERS, { first: 1 }, { token: boss.token }), 'orders');
    assert.ok(everyone.totalCount >= 2);
    assert.equal(errorCode(await stack.gql(ADMIN_ORDERS, { userId: ada.id }, { token: ada.token })), 'FORBIDDEN');
  });

  test('User.orders: me { orders } for the owner, user(id) { orders } for an ADMIN', async () => {
    const ada = await customer(stack);
    const placed = await placeOrder(stack, orderInput(ada.id));
    const me = data<{ id: string; orders: Connection }>(await stack.gql(ME, {}, { token: ada.token }), 'me');
    assert.deepEqual(me.orders.edges, [{ node: { id: placed.id, status: 'PENDING_PAYMENT' } }]);
    assert.equal(me.orders.totalCount, 1);
    const USER_ORDERS = 'query U($id: ID!) { user(id: $id) { id orders { totalCount } } }';
    const seen = data<{ orders: { totalCount: number } }>(
      await stack.gql(USER_ORDERS, { id: ada.id }, { token: boss.token }),
      'user',
    );
    assert.equal(seen.orders.totalCount, 1);
  });
});

describe('changing orders', () => {
  test('the owner cancels an unpaid order once (reason USER, one order.cancelled); another customer cannot', async () => {
    const [ada, bob] = [await customer(stack), await customer(stack)];
    const placed = await placeOrder(stack, orderInput(ada.id));
    assert.equal(errorCode(await stack.gql(CANCEL, { id: placed.id }, { token: bob.token })), 'NOT_FOUND');
    // Five at once: one cancels, the others find it cancelled.
    const results = await Promise.all(
      Array.from({ length: 5 }, () => stack.gql(CANCEL, { id: placed.id }, { token: ada.token })),
    );
    assert.equal(results.filter((r) => !r.body.errors).length, 1);
    assert.deepEqual(results.filter((r) => r.body.errors).map(errorCode), [
      'INVALID_STATE',
      'INVALID_STATE',
      'INVALID_STATE',
      'INVALID_STATE',
    ]);
    const order = await view(ada, placed.id);
    assert.equal(order.status, 'CANCELLED');
    assert.deepEqual(
      order.statusHistory.map((h) => [h.status, h.reason]),
      [
        ['PENDING_PAYMENT', null],
        ['CANCELLED', 'USER'],
      ],
    );
    const cancelled = await outbox('order.cancelled', placed.id);
    assert.equal(cancelled.length, 1);
    assert.equal((cancelled[0]!.payload as { data: { reason: string } }).data.reason, 'USER_CANCELLED');
  });

  test('an ADMIN cancels any unpaid order with reason ADMIN', async () => {
    const ada = await customer(stack);
    const placed = await placeOrder(stack, orderInput(ada.id));
    data(await stack.gql(CANCEL, { id: placed.id }, { token: boss.token }));
    assert.deepEqual((await view(ada, placed.id)).statusHistory.at(-1)?.reason, 'ADMIN');
    const [event] = await outbox('order.cancelled', placed.id);
    assert.equal((event!.payload as { data: { reason: string } }).data.reason, 'ADMIN_CANCELLED');
  });

  test('paid → shipped → completed by an ADMIN; a paid order cannot be cancelled; customers cannot ship', async () => {
    const ada = await customer(stack);
    const placed = await paidOrder(ada);
    assert.equal((await view(ada, placed.id)).status, 'PAID');
    const cancel = await stack.gql(CANCEL, { id: placed.id }, { token: ada.token });
    assert.equal(errorCode(cancel), 'INVALID_STATE');
    assert.equal(cancel.body.errors?.[0]?.extensions?.['status'], 'PAID');
    assert.equal(errorCode(await stack.gql(SHIP, { id: placed.id }, { token: ada.token })), 'FORBIDDEN');
    assert.equal(errorCode(await stack.gql(COMPLETE, { id: placed.id }, { token: boss.token })), 'INVALID_STATE');
    assert.deepEqual(data(await stack.gql(SHIP, { id: placed.id }, { token: boss.token }), 'shipOrder'), {
      id: placed.id,
      status: 'SHIPPED',
    });
    assert.deepEqual(data(await stack.gql(COMPLETE, { id: placed.id }, { token: boss.token }), 'completeOrder'), {
      id: placed.id,
      status: 'COMPLETED',
    });
    assert.equal(errorCode(await stack.gql(SHIP, { id: placed.id }, { token: boss.token })), 'INVALID_STATE');
    assert.equal(errorCode(await stack.gql(SHIP, { id: '1' }, { token: boss.token })), 'NOT_FOUND');
    assert.deepEqual(
      (await view(ada, placed.id)).statusHistory.map((h) => h.status),
      ['PENDING_PAYMENT', 'PAID', 'SHIPPED', 'COMPLETED'],
    );
    const shipped = await outbox('order.shipped', placed.id);
    assert.deepEqual((shipped[0]!.payload as { data: { carrier: string } }).data.carrier, 'SF');
    for (const type of ['order.paid', 'order.shipped', 'order.completed'])
      assert.equal((await outbox(type, placed.id)).length, 1, type);
  });
});

describe('payments', () => {
  test('payment.succeeded pays the order once: a duplicate delivery and a late redelivery change nothing', async () => {
    const ada = await customer(stack);
    const placed = await placeOrder(stack, orderInput(ada.id));
    const event = createEvent('payment.succeeded', {
      aggregateId: '5001',
      traceId: 'test-payment',
      data: {
        paymentId: '5001',
        orderId: placed.id,
        amount: placed.total,
        provider: 'sandbox',
        providerRef: 'sbx_1',
        succeededAt: new Date().toISOString(),
      },
    });
    const kafka = createKafka({
      brokers: kafkaBrokers(stack.config),
      clientId: 'order-test-payments',
      logger: createLogger({ service: 'order-test', level: 'silent' }),
    });
    const producer = kafka.producer();
    await producer.connect();
    try {
      const message = { key: placed.id, value: JSON.stringify(event) };
      await producer.send({ topic: 'payment.events', messages: [message, message] });
    } finally {
      await producer.disconnect();
    }
    await waitFor(async () => (await view(ada, placed.id)).status === 'PAID', { timeoutMs: 20_000, what: 'paid' });
    await waitFor(
      async () =>
        (await orders.prisma.processedEvent.count({ where: { consumer: 'order-payments', eventId: event.id } })) === 1,
      { what: 'the event marked processed' },
    );
    // A redelivery that got past the processed-events mark finds the order paid and leaves it alone.
    const again = await orders.prisma.$transaction((tx) => orders.service.paymentSucceeded(tx, event.data, 'again'));
    assert.equal(again, null);
    const paid = await outbox('order.paid', placed.id);
    assert.equal(paid.length, 1);
    assert.deepEqual((paid[0]!.payload as { data: { paymentId: string; amount: unknown } }).data.paymentId, '5001');
    assert.deepEqual(
      (await view(ada, placed.id)).statusHistory.map((h) => h.status),
      ['PENDING_PAYMENT', 'PAID'],
    );
  });
});
