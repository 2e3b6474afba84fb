// Stock and reservations with real Postgres, Redis, the broker and the router: the internal fields as the order
// subgraph calls them, order.events as the order subgraph publishes them, the lease, stock.events in the
// outbox, and the product cache across instances and without Redis.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  createEvent,
  createKafka,
  createProducer,
  type EventEnvelope,
  eventHeaders,
  serializeEvent,
  topicOf,
} from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { createPrismaClient, domainDatabaseUrl, withTransaction } from '@mall/platform';
import { data, errorCode } from '@mall/platform/testing';
import { postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import { PrismaClient as ProductPrisma } from '../data/generated/client.ts';
import { reserveLines } from '../data/stock.ts';
import {
  ADJUST_STOCK,
  type Caller,
  COMMIT,
  createProduct,
  direct,
  merchant,
  nextOrderId,
  PRODUCT,
  productEntities,
  RELEASE,
  RESERVE,
  signIn,
  startProductInstance,
} from './helpers.ts';

let stack: TestStack;
let db: pg.Client;
let producer: Producer;
let shop: Caller;

interface ReservationView {
  readonly id: string;
  readonly orderId: string;
  readonly status: string;
  readonly expiresAt: string;
  readonly lines: { productId: string; quantity: number }[];
}

async function stockOf(productId: string): Promise<number> {
  return data<{ stock: number }>(await stack.gql(PRODUCT, { id: productId }), 'product').stock;
}

/** On hand and reserved straight from the table (the part `stock` does not show). */
async function levels(productId: string): Promise<{ available: number; reserved: number }> {
  const { rows } = await db.query('SELECT available, reserved FROM products WHERE id = $1', [productId]);
  return rows[0];
}

async function reserve(orderId: string, lines: { productId: string; quantity: number }[]) {
  return direct<{ reserveStock: ReservationView }>(stack, RESERVE, { orderId, lines });
}

async function publish(event: EventEnvelope): Promise<void> {
  await producer.send({
    topic: topicOf(event.type),
    messages: [{ key: event.aggregateId, value: serializeEvent(event), headers: eventHeaders(event) }],
  });
}

async function processed(eventId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM processed_events WHERE event_id = $1', [eventId]);
  return rows.length === 1;
}

const orderPaid = (orderId: string) =>
  createEvent('order.paid', {
    aggregateId: orderId,
    data: {
      orderId,
      userId: '1',
      paymentId: '2',
      amount: { amount: 100, currency: 'CNY' },
      paidAt: new Date().toISOString(),
    },
  });
const orderCancelled = (orderId: string) =>
  createEvent('order.cancelled', {
    aggregateId: orderId,
    data: { orderId, userId: '1', reason: 'USER_CANCELLED', cancelledAt: new Date().toISOString() },
  });

const orderRefunded = (orderId: string, quantity: number, productId: string) =>
  createEvent('order.refunded', {
    aggregateId: orderId,
    data: {
      orderId,
      userId: '1',
      paymentId: '2',
      amount: { amount: 100, currency: 'CNY' },
      items: [{ productId, quantity }],
      refundedAt: new Date().toISOString(),
    },
  });

async function reservationStatus(orderId: string): Promise<string | undefined> {
  const { rows } = await db.query('SELECT status FROM reservations WHERE order_id = $1', [orderId]);
  return rows[0]?.status;
}

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'product'] });
  db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'product') });
  await db.connect();
  producer = createProducer(createKafka({ brokers: [...(stack.config.kafka.brokers ?? [])], clientId: 'test-orders' }));
  await producer.connect();
  shop = await merchant(stack, await signIn(stack, stack.admin.email, stack.admin.password));
});

after(async () => {
  await producer?.disconnect();
  await db?.end();
  await stack?.close();
});

describe('reservations', () => {
  test('the one-statement record-and-hold, raced without the early check, never oversells nor holds part of an order', async () => {
    const a = await createProduct(stack, shop, { name: 'Race A', stock: 10 });
    const b = await createProduct(stack, shop, { name: 'Race B', stock: 25 });
    const prisma = createPrismaClient(ProductPrisma, { url: domainDatabaseUrl(stack.config, 'product'), poolSize: 20 });
    // One of A and two of B each: A runs out after 10, while B (25) could still take 12: a partial hold would
    // show as B going below 5.
    const lines = [
      { productId: BigInt(a.id), quantity: 1 },
      { productId: BigInt(b.id), quantity: 2 },
    ].sort((x, y) => (x.productId < y.productId ? -1 : 1));
    const reservation = () => ({
      id: BigInt(nextOrderId()),
      orderId: BigInt(nextOrderId()),
      status: 'HELD' as const,
      expiresAt: new Date(Date.now() + 60_000),
      lines,
    });
    class Short extends Error {}
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, () =>
          withTransaction(prisma, async (tx) => {
            const outcome = await reserveLines(tx, reservation());
            assert.ok(outcome.recorded);
            // What the service does with a short line: roll the whole transaction back.
            const short = lines.find((line) => !outcome.held.has(line.productId));
            if (short) throw new Short(`${short.productId}:${outcome.before.get(short.productId)}`);
            return 'held';
          }).catch((error: unknown) => {
            if (error instanceof Short) return error.message;
            throw error;
          }),
        ),
      );
      assert.equal(outcomes.filter((o) => o === 'held').length, 10);
      // Every refusal names A with nothing left: B never ran short, so no refusal ever saw a partial hold.
      assert.deepEqual(new Set(outcomes.filter((o) => o !== 'held')), new Set([`${a.id}:0`]));
      assert.deepEqual(await levels(a.id), { available: 0, reserved: 10 });
      assert.deepEqual(await levels(b.id), { available: 5, reserved: 20 });
      const { rows } = await db.query(
        'SELECT count(*)::int AS n FROM reservation_lines WHERE product_id = ANY($1::bigint[])',
        [[a.id, b.id]],
      );
      assert.equal(rows[0].n, 20, 'only the held reservations kept their lines');

      // An order that already has a reservation: nothing recorded, no stock touched.
      const held = reservation();
      await withTransaction(prisma, (tx) => reserveLines(tx, { ...held, lines: [lines[1]!] }));
      const repeat = await withTransaction(prisma, (tx) => reserveLines(tx, { ...held, id: BigInt(nextOrderId()) }));
      assert.deepEqual(repeat, { recorded: false });
      assert.deepEqual(await levels(b.id), { available: 3, reserved: 22 });
    } finally {
      await prisma.$disconnect();
    }
  });

  test('reserveStock answers each line’s product as productsByIds shows it, for checkout to price from', async () => {
    const product = await createProduct(stack, shop, { name: 'Priced at reserve', priceAmount: 1234, stock: 3 });
    const answered = await direct<{
      reserveStock: { lines: { productId: string; product: Record<string, unknown> | null }[] };
    }>(
      stack,
      `mutation($orderId: ID!, $lines: [ReservationLineInput!]!) {
        reserveStock(orderId: $orderId, lines: $lines) {
          lines { productId product { id name active deleted price { amount currency } } }
        }
      }`,
      { orderId: nextOrderId(), lines: [{ productId: product.id, quantity: 2 }] },
      { issuer: 'checkout' },
    );
    assert.deepEqual(data(answered, 'reserveStock').lines, [
      {
        productId: product.id,
        product: {
          id: product.id,
          name: 'Priced at reserve',
          active: true,
          deleted: false,
          price: { amount: 1234, currency: 'CNY' },
        },
      },
    ]);
    assert.equal(await stockOf(product.id), 1);
  });

  test('200 concurrent reservations of 1 unit against stock 50: exactly 50 succeed and stock reads 0', async () => {
    const product = await createProduct(stack, shop, { name: 'Hot item', stock: 50 });
    const results = await Promise.all(
      Array.from({ length: 200 }, () => reserve(nextOrderId(), [{ productId: product.id, quantity: 1 }])),
    );
    const codes = results.map((r) => (r.body.errors ? errorCode(r) : 'OK'));
    assert.equal(codes.filter((c) => c === 'OK').length, 50, JSON.stringify([...new Set(codes)]));
    assert.equal(codes.filter((c) => c === 'OUT_OF_STOCK').length, 150, JSON.stringify([...new Set(codes)]));
    assert.equal(await stockOf(product.id), 0);
    assert.deepEqual(await levels(product.id), { available: 0, reserved: 50 });
  });

  test('30 concurrent two-line reservations sharing products: exactly 10 held, no partial hold, no deadlock', async () => {
    // Every line of a reservation is held by one statement that locks its products in id order: overlapping
    // reservations queue instead of deadlocking (a deadlock that outlived the transaction retries would answer
    // UNAVAILABLE), and one whose second product runs short holds nothing of the first (both products' levels
    // add up only if every refused reservation rolled back whole).
    const wide = await createProduct(stack, shop, { name: 'Wide', stock: 20 });
    const narrow = await createProduct(stack, shop, { name: 'Narrow', stock: 10 });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const lines = [
          { productId: wide.id, quantity: 1 },
          { productId: narrow.id, quantity: 1 },
        ];
        return reserve(nextOrderId(), i % 2 ? lines : lines.reverse());
      }),
    );
    const codes = results.map((r) => (r.body.errors ? errorCode(r) : 'OK'));
    assert.equal(codes.filter((c) => c === 'OK').length, 10, JSON.stringify([...new Set(codes)]));
    assert.equal(codes.filter((c) => c === 'OUT_OF_STOCK').length, 20, JSON.stringify([...new Set(codes)]));
    assert.deepEqual(await levels(wide.id), { available: 10, reserved: 10 });
    assert.deepEqual(await levels(narrow.id), { available: 0, reserved: 10 });
  });

  test('all lines or none; out of stock names the product; a retry returns the same reservation', async () => {
    const plenty = await createProduct(stack, shop, { name: 'Plenty', stock: 10 });
    const scarce = await createProduct(stack, shop, { name: 'Scarce', stock: 1 });
    const orderId = nextOrderId();
    const refused = await reserve(orderId, [
      { productId: plenty.id, quantity: 3 },
      { productId: scarce.id, quantity: 2 },
    ]);
    assert.equal(errorCode(refused), 'OUT_OF_STOCK');
    assert.deepEqual(refused.body.errors?.[0]?.extensions, {
      code: 'OUT_OF_STOCK',
      productId: scarce.id,
      requested: 2,
      available: 1,
    });
    assert.equal(await stockOf(plenty.id), 10, 'the first line was rolled back');

    const lines = [
      { productId: plenty.id, quantity: 3 },
      { productId: scarce.id, quantity: 1 },
    ];
    const first = data<ReservationView>(await reserve(orderId, lines), 'reserveStock');
    const again = data<ReservationView>(await reserve(orderId, [...lines].reverse()), 'reserveStock');
    assert.equal(again.id, first.id);
    assert.equal(first.status, 'HELD');
    assert.equal(await stockOf(plenty.id), 7, 'held once');
    assert.equal(errorCode(await reserve(orderId, [{ productId: plenty.id, quantity: 1 }])), 'CONFLICT');
    assert.equal(errorCode(await reserve(nextOrderId(), [{ productId: '42', quantity: 1 }])), 'OUT_OF_STOCK');
  });

  test('only checkout, order and flash sales may call the internal fields; the public API does not have them', async () => {
    const orderId = nextOrderId();
    const lines = [{ productId: '1', quantity: 1 }];
    // A shopper's request as the router forwards it, and a peer this subgraph does not trust at all.
    assert.equal(errorCode(await direct(stack, RESERVE, { orderId, lines }, { issuer: 'router' })), 'FORBIDDEN');
    assert.equal(errorCode(await direct(stack, RESERVE, { orderId, lines }, { issuer: 'user' })), 'UNAUTHENTICATED');
    const viaRouter = await stack.gql(COMMIT, { orderId }, { token: shop.token });
    assert.equal(errorCode(viaRouter), 'GRAPHQL_VALIDATION_FAILED');
  });

  test('released twice, or released then committed, restores stock once; commit is once too', async () => {
    const product = await createProduct(stack, shop, { name: 'Settled', stock: 5 });
    const line = [{ productId: product.id, quantity: 2 }];

    const cancelled = nextOrderId();
    data(await reserve(cancelled, line));
    assert.equal(await stockOf(product.id), 3);
    for (const op of [RELEASE, RELEASE, COMMIT]) {
      const result = data<Record<string, { status: string }>>(await direct(stack, op, { orderId: cancelled }));
      assert.equal(Object.values(result)[0]?.status, 'RELEASED');
    }
    assert.equal(await stockOf(product.id), 5);

    const paid = nextOrderId();
    data(await reserve(paid, line));
    for (const op of [COMMIT, COMMIT, RELEASE])
      assert.equal(
        Object.values(data<Record<string, { status: string }>>(await direct(stack, op, { orderId: paid })))[0]?.status,
        'COMMITTED',
      );
    assert.equal(await stockOf(product.id), 3);
    assert.deepEqual(await levels(product.id), { available: 3, reserved: 0 });

    assert.equal(errorCode(await direct(stack, COMMIT, { orderId: nextOrderId() })), 'NOT_FOUND');
    // Cancelled before it was ever reserved: a late reserveStock holds nothing.
    const early = nextOrderId();
    data(await direct(stack, RELEASE, { orderId: early }));
    assert.equal(data<ReservationView>(await reserve(early, line), 'reserveStock').status, 'RELEASED');
    assert.equal(await stockOf(product.id), 3);
  });

  test('order.cancelled and order.paid: each once, whatever the redeliveries and the order they arrive in', async () => {
    const product = await createProduct(stack, shop, { name: 'Evented', stock: 10 });
    const line = [{ productId: product.id, quantity: 4 }];

    const cancelledFirst = nextOrderId();
    data(await reserve(cancelledFirst, line));
    const cancel = orderCancelled(cancelledFirst);
    const pay = orderPaid(cancelledFirst);
    await publish(cancel);
    await publish(cancel); // a redelivery
    await publish(pay); // paid after cancelled: too late, nothing to commit
    await waitFor(() => processed(pay.id), { what: 'order.paid consumed' });
    assert.equal(await stockOf(product.id), 10);

    const paidFirst = nextOrderId();
    data(await reserve(paidFirst, line));
    const paid = orderPaid(paidFirst);
    const cancelledLate = orderCancelled(paidFirst);
    await publish(paid);
    await publish(paid);
    await publish(cancelledLate);
    await waitFor(() => processed(cancelledLate.id), { what: 'order.cancelled consumed' });
    assert.equal(await stockOf(product.id), 6);
    assert.deepEqual(await levels(product.id), { available: 6, reserved: 0 });
  });
});

describe('refunds (order.refunded)', () => {
  test('a committed reservation is returned to the shelf once, whatever the redeliveries', async () => {
    const product = await createProduct(stack, shop, { name: 'Returned', stock: 10 });
    const orderId = nextOrderId();
    data(await reserve(orderId, [{ productId: product.id, quantity: 3 }]));
    const paid = orderPaid(orderId);
    await publish(paid);
    await waitFor(() => processed(paid.id), { what: 'order.paid consumed' });
    assert.deepEqual(await levels(product.id), { available: 7, reserved: 0 });
    assert.equal(await stockOf(product.id), 7); // now in the product cache

    const refunded = orderRefunded(orderId, 3, product.id);
    const duplicate = orderRefunded(orderId, 3, product.id); // the same refund under another event id
    await publish(refunded);
    await publish(refunded); // a redelivery
    await publish(duplicate);
    await waitFor(() => processed(duplicate.id), { what: 'order.refunded consumed' });
    assert.equal(await reservationStatus(orderId), 'RETURNED');
    assert.deepEqual(await levels(product.id), { available: 10, reserved: 0 });
    // Through the router, so through the cache: invalidated once the consumer's transaction committed.
    await waitFor(async () => (await stockOf(product.id)) === 10, { what: 'the cache shows the returned stock' });
    const { rows } = await db.query<{ payload: { data: Record<string, unknown> } }>(
      "SELECT payload FROM outbox WHERE key = $1 AND type = 'stock.changed' AND payload->'data'->>'reason' = 'RETURNED'",
      [product.id],
    );
    assert.deepEqual(
      rows.map((r) => r.payload.data),
      [{ productId: product.id, available: 10, delta: 3, reason: 'RETURNED' }],
    );
    // A later order.paid or order.cancelled of the refunded order changes nothing either.
    const late = orderCancelled(orderId);
    await publish(late);
    await waitFor(() => processed(late.id), { what: 'order.cancelled consumed' });
    assert.deepEqual(await levels(product.id), { available: 10, reserved: 0 });
  });

  test('nothing is returned without a committed reservation: none at all, or still held', async () => {
    const product = await createProduct(stack, shop, { name: 'Not returned', stock: 10 });
    const never = nextOrderId(); // e.g. a flash-sale order: no reservation here
    const unknown = orderRefunded(never, 2, product.id);
    await publish(unknown);
    const held = nextOrderId();
    data(await reserve(held, [{ productId: product.id, quantity: 2 }]));
    const early = orderRefunded(held, 2, product.id);
    await publish(early);
    await waitFor(async () => (await processed(unknown.id)) && (await processed(early.id)), {
      what: 'order.refunded consumed',
    });
    assert.equal(await reservationStatus(never), undefined);
    assert.equal(await reservationStatus(held), 'HELD');
    assert.deepEqual(await levels(product.id), { available: 8, reserved: 2 });
  });
});

describe('stock.events through the outbox', () => {
  test('every level change is stock.changed; crossing the low threshold is stock.low once; zero is stock.out', async () => {
    const product = await createProduct(stack, shop, { name: 'Signalled', stock: 12 });
    for (const delta of [-2, -1, -9])
      data(await stack.gql(ADJUST_STOCK, { productId: product.id, delta }, { token: shop.token }));
    const { rows } = await db.query<{ type: string; payload: { data: Record<string, unknown> } }>(
      'SELECT type, payload FROM outbox WHERE key = $1 ORDER BY created_at, id',
      [product.id],
    );
    assert.deepEqual(
      rows.map((r) => [r.type, r.payload.data['available']]),
      [
        ['stock.changed', 10],
        ['stock.low', 10],
        ['stock.changed', 9],
        ['stock.changed', 0],
        ['stock.out', 0],
      ],
    );
  });
});

describe('the product cache', () => {
  test('an update is visible on the next read through a second router and subgraph instance', async () => {
    const product = await createProduct(stack, shop, { name: 'Cached', stock: 7 });
    const replica = await stack.replica(['product']);
    const read = async (url: string) =>
      data<{ name: string; stock: number }>(await postProduct(url, product.id), 'product');
    assert.deepEqual(await read(replica.url), { name: 'Cached', stock: 7 }); // cached now
    data(await stack.gql(ADJUST_STOCK, { productId: product.id, delta: 5 }, { token: shop.token }));
    assert.equal((await read(replica.url)).stock, 12);
    data(
      await stack.gql(
        'mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }',
        { id: product.id, input: { name: 'Renamed' } },
        { token: shop.token },
      ),
    );
    assert.equal((await read(replica.url)).name, 'Renamed');
    data(await reserve(nextOrderId(), [{ productId: product.id, quantity: 2 }]));
    assert.equal((await read(replica.url)).stock, 10);
  });

  test('a batch of misses is stored in one round trip; a reservation touches no cache entry and stock stays live', async () => {
    const products = await Promise.all(
      [1, 2, 3].map((i) => createProduct(stack, shop, { name: `Pipelined ${i}`, stock: 10 })),
    );
    const ids = products.map((p) => p.id);
    // Entries the creation may have cached go, so the first read below misses all three.
    await stack.redis.del(...ids.map((id) => `product:{${id}}`));
    const redis = new Redis(stack.config.redis.url, { keyPrefix: stack.config.redis.prefix });
    await redis.ping(); // connected, so its socket exists
    // Every write to the socket that carries a script call: one per round trip of script calls.
    const stream = (redis as unknown as { stream: { write: (chunk: unknown, ...rest: unknown[]) => boolean } }).stream;
    const write = stream.write;
    let scriptWrites = 0;
    stream.write = function counted(this: unknown, chunk: unknown, ...rest: unknown[]) {
      if (/\bEVAL(SHA)?\b/i.test(String(chunk))) scriptWrites++;
      return write.call(this, chunk, ...rest);
    };
    const instance = await startProductInstance(stack, { redis });
    try {
      assert.deepEqual(
        (await productEntities(stack, instance.url, ids)).map((p) => p.stock),
        [10, 10, 10],
      );
      assert.equal(scriptWrites, 1, 'three misses stored in one round trip');
      scriptWrites = 0;
      const lines = ids.map((productId) => ({ productId, quantity: 1 }));
      data(await direct(stack, RESERVE, { orderId: nextOrderId(), lines }, { url: instance.url }));
      assert.equal(scriptWrites, 0, 'the cache holds no stock: a reservation invalidates nothing');
      assert.deepEqual(
        (await productEntities(stack, instance.url, ids)).map((p) => p.stock),
        [9, 9, 9],
        'stock is read live, beside the cached rest',
      );
      assert.equal(scriptWrites, 0, 'that read was served from the cache: nothing stored again');
      const entry = await stack.redis.get(`product:{${ids[0]}}`);
      assert.ok(entry && !('stock' in JSON.parse(entry)), 'no stock in the entry');
    } finally {
      await instance.stop();
      stream.write = write;
      redis.disconnect();
    }
  });

  test('with Redis slow or gone, reads answer from Postgres; a failed invalidation is retried once it is back', async () => {
    const product = await createProduct(stack, shop, { name: 'Resilient', stock: 4 });
    const proxy = await startRedisProxy(new URL(stack.config.redis.url));
    const redis = new Redis(proxy.url, { keyPrefix: stack.config.redis.prefix, maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
    // The production timeout, so a stalled Redis costs what it would cost a shopper.
    const instance = await startProductInstance(stack, { redis, cacheTimeoutMs: 50 });
    const asShop = { issuer: 'router', url: instance.url, userId: shop.id, roles: ['CUSTOMER', 'MERCHANT'] } as const;
    try {
      const read = async () => (await productEntities(stack, instance.url, [product.id]))[0]?.stock;
      assert.equal(await read(), 4, 'read and cached through the proxy');
      proxy.stall();
      assert.equal(await read(), 4, 'a Redis that stops answering costs one timeout, not an error');
      proxy.cut();
      assert.equal(await read(), 4, 'Redis gone: served from Postgres');
      // Stock is never cached: a change made while Redis is out of reach shows everywhere at once.
      const adjusted = await direct<{ adjustStock: { stock: number } }>(
        stack,
        ADJUST_STOCK,
        { productId: product.id, delta: 1 },
        asShop,
      );
      assert.equal(data(adjusted, 'adjustStock').stock, 5);
      assert.equal(await read(), 5);
      assert.equal(await stockOf(product.id), 5, 'another instance sees it too, with no invalidation');
      // A catalog write on the instance that cannot reach Redis: it commits, and its invalidation waits for Redis.
      const renamed = await direct<{ updateProduct: { name: string } }>(
        stack,
        'mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id name } }',
        { id: product.id, input: { name: 'Renamed while cut off' } },
        asShop,
      );
      assert.equal(data(renamed, 'updateProduct').name, 'Renamed while cut off');
      proxy.restore();
      await waitFor(
        async () =>
          data<{ name: string }>(await postProduct(stack.url, product.id), 'product').name === 'Renamed while cut off',
        {
          what: 'the invalidation retried after Redis came back, so other instances see the change',
        },
      );
    } finally {
      await instance.stop();
      redis.disconnect();
      await proxy.close();
    }
  });
});

/** `product(id)` on a router URL. */
function postProduct(url: string, id: string) {
  return postGraphQL<{ product: { name: string; stock: number } }>(
    url,
    'query($id: ID!) { product(id: $id) { name stock } }',
    { id },
  );
}

/**
 * A TCP proxy in front of Redis that a test can make stall (accept bytes, answer nothing), cut (close every
 * connection and refuse new ones) and restore: Redis slow or gone for one client, without stopping the shared
 * server that other tests use.
 */
async function startRedisProxy(
  target: URL,
): Promise<{ url: string; stall(): void; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let mode: 'pass' | 'stall' | 'cut' = 'pass';
  const server: Server = createServer((client) => {
    if (mode === 'cut') return client.destroy();
    const redisSocket = connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(redisSocket);
    client.on('data', (chunk: Buffer) => {
      if (mode === 'pass') redisSocket.write(chunk);
    });
    redisSocket.on('data', (chunk: Buffer) => {
      if (mode === 'pass') client.write(chunk);
    });
    for (const s of [client, redisSocket]) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        redisSocket.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const db = target.pathname || '/0';
  return {
    url: `redis://127.0.0.1:${port}${db}`,
    stall: () => {
      mode = 'stall';
    },
    cut: () => {
      mode = 'cut';
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      mode = 'pass';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
