// Payment deadlines with two order instances running: BullMQ delayed jobs cancel on time, the database sweep
// cancels what Redis lost, each order is cancelled once with one event; order numbers survive a flush.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createKafka } from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { createLogger, kafkaBrokers, resolveInternalSecret } from '@mall/platform';
import type { RunningSubgraph } from '@mall/platform/kit';
import { deleteKeys } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { Redis } from 'ioredis';
import type { Consumer } from 'kafkajs';
import orderSubgraph from '../index.ts';
import { customer, orderInput, orderService, type PlacedOrder, placeOrder } from './helpers.ts';

interface Received {
  readonly type: string;
  readonly aggregateId: string;
  readonly traceId: string;
  readonly data: { readonly reason?: string; readonly cancelledAt?: string };
  /** When the test's consumer got it. */
  readonly receivedAt: number;
}

const silent = createLogger({ service: 'order-expiry-test', level: 'silent' });
let stack: TestStack;
let second: RunningSubgraph;
let consumer: Consumer;
let raw: Redis;
let orders: ReturnType<typeof orderService>;
const received: Received[] = [];

before(async () => {
  // The stack's instance only has BullMQ (its sweep waits an hour); the second one also sweeps every second.
  stack = await startTestStack({
    subgraphs: ['user', 'auth', 'order'],
    env: { ORDER_PAYMENT_TIMEOUT_SECONDS: '2', ORDER_EXPIRY_SWEEP_SECONDS: '3600' },
  });
  second = await orderSubgraph.start(
    {
      config: { ...stack.config, env: { ...stack.config.env, ORDER_EXPIRY_SWEEP_SECONDS: '1' } },
      logger: silent,
      internalSecret: await resolveInternalSecret(stack.config),
      redis: stack.redis,
    },
    { port: 0 },
  );
  raw = new Redis(stack.config.redis.url);
  orders = orderService(stack);
  const kafka = createKafka({ brokers: kafkaBrokers(stack.config), clientId: 'order-expiry-test', logger: silent });
  consumer = kafka.consumer({ groupId: `order-expiry-test-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic: 'order.events', fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(String(message.value)) as Omit<Received, 'receivedAt'>;
      received.push({ ...event, receivedAt: Date.now() });
    },
  });
});

after(async () => {
  await consumer?.disconnect();
  await second?.stop();
  raw?.disconnect();
  await orders?.prisma.$disconnect();
  await stack?.close();
});

const cancellations = (orderId: string) =>
  received.filter((e) => e.type === 'order.cancelled' && e.aggregateId === orderId);

/** Waits until every order's cancellation is on Kafka and its outbox rows are all published. */
async function cancelledOnKafka(placed: readonly PlacedOrder[]): Promise<Received[]> {
  await waitFor(() => placed.every((o) => cancellations(o.id).length > 0), {
    timeoutMs: 20_000,
    what: 'order.cancelled on Kafka',
  });
  await waitFor(async () => (await orders.prisma.outboxEvent.count({ where: { publishedAt: null } })) === 0, {
    what: 'outbox drained',
  });
  for (const order of placed) {
    const rows = await orders.prisma.orderStatusChange.findMany({ where: { orderId: BigInt(order.id) } });
    assert.deepEqual(
      rows.map((r) => [r.status, r.reason, r.actor]),
      [
        ['PENDING_PAYMENT', null, 'service:checkout'],
        ['CANCELLED', 'TIMEOUT', 'system:expiry'],
      ],
    );
  }
  assert.equal(
    await orders.prisma.outboxEvent.count({ where: { type: 'order.cancelled', key: { in: placed.map((o) => o.id) } } }),
    placed.length,
  );
  return placed.map((o) => {
    const events = cancellations(o.id);
    assert.equal(events.length, 1, `one order.cancelled for ${o.id}`);
    assert.equal(events[0]!.data.reason, 'PAYMENT_TIMEOUT');
    return events[0]!;
  });
}

/** Milliseconds from each order's deadline to its cancellation (database) and to its event on Kafka. */
function latencies(placed: readonly PlacedOrder[], events: readonly Received[]) {
  return placed.map((order, i) => {
    const deadline = Date.parse(order.expiresAt);
    const event = events[i]!;
    return { cancelled: Date.parse(event.data.cancelledAt!) - deadline, onKafka: event.receivedAt - deadline };
  });
}

const summary = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `min ${sorted[0]} / median ${sorted[Math.floor(sorted.length / 2)]} / max ${sorted.at(-1)} ms`;
};

describe('payment deadlines', () => {
  test('a 2-second deadline cancels with reason TIMEOUT and emits one event, with two order instances running', async (t) => {
    const ada = await customer(stack);
    // Placed through both instances: each schedules its own orders, either worker may run the jobs.
    const placed = await Promise.all(
      Array.from({ length: 6 }, (_, i) => placeOrder(stack, orderInput(ada.id), i % 2 ? { url: second.url } : {})),
    );
    const events = await cancelledOnKafka(placed);
    const byJob = events.filter((e) => !e.traceId.startsWith('expiry-sweep-')).length;
    assert.ok(byJob >= 1, 'BullMQ cancelled at least one (the sweep runs only once a second)');
    const measured = latencies(placed, events);
    t.diagnostic(
      `BullMQ path (${byJob}/${events.length} by the job): expiresAt → cancelled ${summary(measured.map((m) => m.cancelled))}; → on Kafka ${summary(measured.map((m) => m.onKafka))}`,
    );
    for (const m of measured) assert.ok(m.cancelled >= 0, 'never before the deadline');
  });

  test('the sweep cancels when Redis lost the job', async (t) => {
    const ada = await customer(stack);
    const placed = await Promise.all(Array.from({ length: 4 }, () => placeOrder(stack, orderInput(ada.id))));
    // Redis loses every queued job (only this stack's BullMQ keys: other tests share the server).
    await deleteKeys(raw, `${stack.config.redis.prefix}bull:`);
    const events = await cancelledOnKafka(placed);
    assert.ok(
      events.every((e) => e.traceId.startsWith('expiry-sweep-')),
      'cancelled by the sweep',
    );
    const measured = latencies(placed, events);
    t.diagnostic(
      `sweep path (every 1 s): expiresAt → cancelled ${summary(measured.map((m) => m.cancelled))}; → on Kafka ${summary(measured.map((m) => m.onKafka))}`,
    );
  });

  test('an order paid before its deadline is never cancelled by it', async () => {
    const ada = await customer(stack);
    const placed = await placeOrder(stack, orderInput(ada.id));
    await orders.service.markPaid(BigInt(placed.id), { paymentId: '9', requestId: 'test-pay' });
    // The job ran (removeOnComplete) after the deadline: what would have cancelled it has had its turn.
    const job = `${stack.config.redis.prefix}bull:order-expiry:order-${placed.id}`;
    await waitFor(async () => (await raw.exists(job)) === 0, { what: 'the expiry job ran' });
    assert.ok(Date.now() >= Date.parse(placed.expiresAt));
    assert.equal(await orders.service.expire(BigInt(placed.id)), 'settled');
    const row = await orders.prisma.order.findUnique({ where: { id: BigInt(placed.id) } });
    assert.equal(row?.status, 'PAID');
    assert.equal(await orders.prisma.outboxEvent.count({ where: { type: 'order.cancelled', key: placed.id } }), 0);
  });
});

describe('order numbers', () => {
  test('stay unique and increasing after this stack’s Redis keys are flushed', async () => {
    const ada = await customer(stack);
    const before: PlacedOrder[] = [];
    for (let i = 0; i < 3; i++) before.push(await placeOrder(stack, orderInput(ada.id)));
    // FLUSHALL of this stack's prefix: the counters are gone, the database remembers.
    await deleteKeys(raw, stack.config.redis.prefix);
    const afterFlush = await Promise.all(
      Array.from({ length: 10 }, (_, i) => placeOrder(stack, orderInput(ada.id), i % 2 ? { url: second.url } : {})),
    );
    const numbers = [...before, ...afterFlush].map((o) => BigInt(o.number));
    assert.equal(new Set(numbers).size, numbers.length, 'unique');
    const sequence = before.map((o) => BigInt(o.number));
    assert.ok(
      sequence.every((n, i) => i === 0 || n > sequence[i - 1]!),
      'increasing',
    );
    const highestBefore = sequence.at(-1)!;
    assert.ok(
      afterFlush.every((o) => BigInt(o.number) > highestBefore),
      'every number after the flush is above those before',
    );
  });
});
