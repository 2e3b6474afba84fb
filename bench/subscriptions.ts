/**
 * orderStatusChanged at scale, loopback only: N graphql-ws sockets through the router, one subscription each on
 * its own order, then every order paid (as the payment callback would, through the order service) at a bounded
 * concurrency. Reports commit → subscriber latency (the order's transaction committed → outbox relay → Kafka →
 * the router's consumer → refetch through the gateway → the client has the PAID message) and memory per idle
 * subscription. Writes bench/results/subscriptions.md.
 *   npm run bench:subscriptions [-- --subscriptions 1000 --concurrency 10]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startTestStack } from '@mall/stack/testing';
import { type Client, createClient } from 'graphql-ws';
import { WebSocket } from 'ws';
import { customer, orderInput, orderService, placeOrder } from '../subgraphs/order/test/helpers.ts';
import { fmt, percentile, resultFile } from './lib.ts';

const { values } = parseArgs({
  options: {
    subscriptions: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '10' },
  },
});
const total = Number(values.subscriptions);
const concurrency = Number(values.concurrency);

const SUBSCRIPTION = `subscription OrderStatus($orderId: ID!) {
  orderStatusChanged(orderId: $orderId) { orderId status previousStatus at reason }
}`;

/** Runs `task` over `items` with `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

const gc = globalThis.gc;
const memory = () => {
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
};

// Rate limits off: every socket comes from 127.0.0.1 as one user, which the edge limits would rightly refuse.
const stack = await startTestStack({
  subgraphs: ['user', 'auth', 'order'],
  env: { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0', LOG_LEVEL: 'warn' },
});
const orders = orderService(stack);
const clients: Client[] = [];
try {
  const owner = await customer(stack);
  const ids: string[] = [];
  await pool(
    Array.from({ length: total }, (_, i) => i),
    20,
    async () => {
      ids.push((await placeOrder(stack, orderInput(owner.id))).id);
    },
  );

  const before = memory();
  /** Resolvers waiting for each order's PAID message. */
  const paid = new Map<string, (at: number) => void>();
  let retried = 0;
  const opened = performance.now();
  // 10 handshakes at a time: more starves the one event loop all of this shares, and the router refuses
  // connection_init with 1013 when its Redis check times out (as it should under real overload).
  await pool(ids, 10, async (orderId) => {
    const client = createClient({
      url: stack.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      // As graphql-ws clients do by default: a 1013 (the router could not check the token in time) is retried.
      retryAttempts: 5,
      on: {
        closed: (event) => {
          if ((event as { code?: number }).code === 1013) retried += 1;
        },
      },
      connectionParams: { authorization: `Bearer ${owner.token}` },
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ orderStatusChanged: { status: string } }>(
        { query: SUBSCRIPTION, variables: { orderId } },
        {
          next: ({ data }) => {
            const status = data?.orderStatusChanged.status;
            if (status === 'PENDING_PAYMENT') resolve();
            if (status === 'PAID') paid.get(orderId)?.(performance.now());
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
  });
  const openSeconds = (performance.now() - opened) / 1000;
  const after = memory();

  const latencies: number[] = [];
  const started = performance.now();
  await pool(ids, concurrency, async (orderId) => {
    const received = new Promise<number>((resolve) => paid.set(orderId, resolve));
    await orders.service.markPaid(BigInt(orderId), { paymentId: orderId, requestId: `bench-${orderId}` });
    const committed = performance.now();
    latencies.push((await received) - committed);
  });
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);

  const perSubscription = (bytes: number) => `${(bytes / total / 1024).toFixed(1)} KiB`;
  const report = `# Subscriptions: order.events → graphql-ws subscriber

\`npm run bench:subscriptions -- --subscriptions ${total} --concurrency ${concurrency}\` on ${new Date().toISOString().slice(0, 10)}:
one process (router, user/auth/order subgraphs, embedded broker, and the clients), loopback only, a 2-core
machine shared with other work. ${total} sockets, one subscription each on its own order, all open while every
order is paid (${concurrency} payments in flight, ${(total / seconds).toFixed(0)} events/s).

| measure | value |
|---|---|
| subscriptions open (first message received) | ${total} in ${openSeconds.toFixed(1)} s (${retried} handshakes retried after 1013) |
| commit → subscriber p50 | ${fmt(percentile(latencies, 50))} |
| commit → subscriber p99 | ${fmt(percentile(latencies, 99))} |
| commit → subscriber max | ${fmt(latencies.at(-1) ?? Number.NaN)} |
| heap per idle subscription | ${perSubscription(after.heapUsed - before.heapUsed)} |
| RSS per idle subscription | ${perSubscription(after.rss - before.rss)} |

Latency runs from the order's transaction committing to the PAID message in the client: the outbox relay
publishing it, Kafka, the router's own consumer group, the in-memory fan-out, and the refetch of the
subscription's selection through the gateway and the order subgraph as the subscriber. Memory is measured
after a forced GC in this one process, so it counts both ends of each socket (server: the ws socket,
graphql-ws context, the subscription's query and watch; client: its ws socket and graphql-ws client): an
upper bound for the router alone.

Target p99 ≤ 100 ms: ${percentile(latencies, 99) <= 100 ? 'met' : 'missed'}. Everything here shares one event loop on
two shared cores (payments, outbox relay, broker, router, ${total} clients), so one busy moment delays every
message behind it; the split between relay, broker and refetch is not measured yet.
`;
  writeFileSync(resultFile('subscriptions.md'), report);
  process.stdout.write(report);
} finally {
  await Promise.all(clients.map((client) => client.dispose()));
  await orders.prisma.$disconnect();
  await stack.close();
}
