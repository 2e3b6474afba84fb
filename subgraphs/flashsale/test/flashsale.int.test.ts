// Flash sales through the router, as buyers and merchants use them: the core guarantees under concurrency.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '@mall/events/testing';
import {
  createLogger,
  createPrismaClient,
  decodeId,
  domainDatabaseUrl,
  encodeId,
  IDENTITY_HEADER,
  IdentitySigner,
  resolveInternalSecret,
} from '@mall/platform';
import { errorCode } from '@mall/platform/testing';
import { metricTotal, postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { orderService } from '../../order/test/helpers.ts';
import { PrismaClient as ProductPrisma } from '../../product/data/generated/client.ts';
import { PrismaClient } from '../data/generated/client.ts';
import type { ProductClient } from '../data/product-client.ts';
import { type BuyAttempt, type BuyOutcome, SaleStore } from '../data/sale-store.ts';
import { FlashSaleService } from '../service.ts';
import {
  BUY_FLASH_SALE,
  buy,
  type Caller,
  CREATE_FLASH_SALE,
  countBy,
  createProduct,
  createSale,
  FLASH_SALES,
  flashSaleEnv,
  flashSaleService,
  type PurchaseView,
  pool,
  productStock,
  purchase,
  retried,
  signInAdmin,
  TokenMint,
} from './helpers.ts';

let stack: TestStack;
let admin: Caller;
let db: PrismaClient;
let productDb: ProductPrisma;
let orders: ReturnType<typeof orderService>;
const mint = new TokenMint();

before(async () => {
  stack = await startTestStack({
    subgraphs: ['user', 'auth', 'product', 'order', 'flashsale'],
    env: flashSaleEnv(mint),
  });
  admin = await signInAdmin(stack);
  db = createPrismaClient(PrismaClient, {
    url: domainDatabaseUrl(stack.config, 'flashsale'),
    poolSize: 2,
    logger: createLogger({ service: 'flashsale-test', level: 'silent' }),
    applicationName: 'flashsale-test',
  });
  productDb = createPrismaClient(ProductPrisma, {
    url: domainDatabaseUrl(stack.config, 'product'),
    poolSize: 2,
    logger: createLogger({ service: 'flashsale-test', level: 'silent' }),
    applicationName: 'flashsale-test',
  });
  orders = orderService(stack);
});

after(async () => {
  await db?.$disconnect();
  await productDb?.$disconnect();
  await orders?.prisma.$disconnect();
  await stack?.close();
});

const buyers = (n: number) => Promise.all(Array.from({ length: n }, () => mint.buyer()));

/** Waits until every granted purchase of the sale is settled (no PENDING left); returns them by status. */
async function settled(saleId: string): Promise<Record<string, number>> {
  await waitFor(
    async () => (await db.flashSalePurchase.count({ where: { flashSaleId: BigInt(saleId), status: 'PENDING' } })) === 0,
    { timeoutMs: 30_000 },
  );
  const rows = await db.flashSalePurchase.findMany({ where: { flashSaleId: BigInt(saleId) } });
  return countBy(rows, (r) => r.status);
}

/**
 * A second flash-sale service over the stack's database and Redis with a store the test shapes (a reply that
 * comes late, a buy held between its script and its transaction), and the request scope of a caller.
 */
function serviceOver(store: SaleStore) {
  let nextId = 8_500_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e14));
  const logger = createLogger({ service: 'flashsale-test', level: 'silent' });
  const service = new FlashSaleService({
    prisma: db,
    store,
    products: {} as ProductClient,
    ids: { next: () => nextId++ },
    logger,
  });
  const scope = (caller: Caller) => ({
    identity: {
      userId: caller.id,
      roles: ['CUSTOMER'] as const,
      requestId: 'r',
      issuer: 'router',
      session: null,
      clientIp: null,
    },
    requestId: 'r',
    logger,
  });
  return { service, scope };
}

/** Cancels a flash-sale order as its payment timeout does. */
async function cancelOrder(orderId: bigint): Promise<void> {
  await orders.prisma.order.update({ where: { id: orderId }, data: { expiresAt: new Date(Date.now() - 1000) } });
  assert.equal(await orders.service.expire(orderId), 'cancelled');
}

/**
 * Waits until the product subgraph has applied every release of the sale that went to the stock, and checks
 * there are `count` of them (each event once: its processed_events mark).
 */
async function stockReleasesApplied(saleId: string, count: number): Promise<void> {
  const events = await db.outboxEvent.findMany({ where: { type: 'flashsale.purchase_released' } });
  const ids = events
    .map((e) => e.payload as { id: string; data: { flashSaleId: string; returnedTo?: string } })
    .filter((e) => e.data.flashSaleId === saleId && e.data.returnedTo === 'STOCK')
    .map((e) => e.id);
  assert.equal(ids.length, count);
  await waitFor(
    async () =>
      (await productDb.processedEvent.count({ where: { consumer: 'product-flashsale', eventId: { in: ids } } })) ===
      count,
    { timeoutMs: 15_000 },
  );
}

describe('a flash sale under a crowd', () => {
  test('2,000 concurrent buyers for 50 units: exactly 50 confirmed purchases and orders, the rest SOLD_OUT', async (t) => {
    const productId = await createProduct(stack, admin, 80);
    const sale = await createSale(stack, admin, { productId, quantity: 50, priceAmount: 4999 });
    assert.equal(sale.remaining, 50);
    assert.equal(await productStock(stack, productId), 30, 'the sale’s units left the product’s stock');

    const crowd = await buyers(2000);
    const started = performance.now();
    const answers = await pool(crowd, 200, (b) => buy(stack, b, { flashSaleId: sale.id }));
    const took = Math.round(performance.now() - started);
    t.diagnostic(
      `2,000 buys through the router, 200 at a time: ${took} ms (${retried.unavailable} UNAVAILABLE retried)`,
    );
    const byStatus = countBy(answers, (a) => `${a.status}${a.reason ? `:${a.reason}` : ''}`);
    assert.deepEqual(byStatus, { PENDING: 50, 'REJECTED:SOLD_OUT': 1950 });

    assert.deepEqual(await settled(sale.id), { CONFIRMED: 50 });
    t.diagnostic(`every purchase settled ${Math.round(performance.now() - started)} ms after the first buy`);
    const granted = await db.flashSalePurchase.findMany({ where: { flashSaleId: BigInt(sale.id) } });
    const made = await orders.prisma.order.findMany({
      where: { flashSalePurchaseId: { in: granted.map((p) => p.id) } },
      include: { lines: true },
    });
    assert.equal(made.length, 50);
    for (const order of made) {
      assert.equal(order.status, 'PENDING_PAYMENT');
      assert.equal(Number(order.totalAmount), 4999);
      assert.equal(String(order.lines[0]?.productId), productId);
    }
    const saleRow = await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } });
    assert.equal(saleRow.sold, 50);
    assert.equal(await productStock(stack, productId), 30, 'flash-sale orders reserve no stock of their own');

    // A winner reads their purchase with its order through the contract's operation.
    const winnerIndex = answers.findIndex((a) => a.status === 'PENDING');
    const winner = crowd[winnerIndex] as Caller;
    const view = await purchase(stack, winner, (answers[winnerIndex] as PurchaseView).id);
    assert.equal(view.status, 'CONFIRMED');
    assert.equal(view.order?.status, 'PENDING_PAYMENT');
    assert.equal(view.order?.total?.amount, 4999);
    // Another buyer cannot see it.
    const other = await stack.gql(
      `query P($id: ID!) { flashSalePurchase(id: $id) { id } }`,
      { id: view.id },
      {
        token: (crowd[(winnerIndex + 1) % crowd.length] as Caller).token,
      },
    );
    assert.equal(errorCode(other), 'NOT_FOUND');
    const listed = await stack.gql<{ flashSales: { id: string; remaining: number }[] }>(FLASH_SALES);
    assert.equal(listed.body.data?.flashSales.find((s) => s.id === sale.id)?.remaining, 0);
  });

  test('the per-user limit holds under concurrency', async () => {
    const productId = await createProduct(stack, admin, 50);
    const sale = await createSale(stack, admin, { productId, quantity: 40, perUserLimit: 2 });
    const [greedy] = await buyers(1);
    const answers = await pool(Array.from({ length: 30 }), 30, () =>
      buy(stack, greedy as Caller, { flashSaleId: sale.id }),
    );
    assert.deepEqual(
      countBy(answers, (a) => `${a.status}:${a.reason}`),
      { 'PENDING:null': 2, 'REJECTED:LIMIT_EXCEEDED': 28 },
    );
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 2 });
  });

  test('one idempotency key sent 20 times at once makes one purchase', async () => {
    const productId = await createProduct(stack, admin, 10);
    const sale = await createSale(stack, admin, { productId, quantity: 5, perUserLimit: 5 });
    const [caller] = await buyers(1);
    const idempotencyKey = randomUUID();
    const answers = await pool(Array.from({ length: 20 }), 20, () =>
      buy(stack, caller as Caller, { flashSaleId: sale.id, idempotencyKey }),
    );
    assert.equal(new Set(answers.map((a) => a.id)).size, 1);
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1 });
    const again = await stack.gql(
      BUY_FLASH_SALE,
      { input: { flashSaleId: sale.id, idempotencyKey, quantity: 2 } },
      {
        token: (caller as Caller).token,
      },
    );
    assert.equal(errorCode(again), 'CONFLICT', 'the same key with another quantity');
  });

  test('the router answers buys without its full pipeline (no order yet to fetch), each buy sent once', async () => {
    // The contract's BuyFlashSale selects `order { id status }`, which the order subgraph fills; at buy time
    // there is no order, so the router's passthrough answers with the flash-sale subgraph's bytes.
    const served = () => metricTotal(stack, 'router', 'router_passthrough_total', { outcome: 'served' });
    const sent = () =>
      metricTotal(stack, 'router', 'router_subgraph_fetch_duration_seconds_count', { subgraph: 'flashsale' });
    const productId = await createProduct(stack, admin, 10);
    const sale = await createSale(stack, admin, { productId, quantity: 3 });
    const crowd = await buyers(6);
    const [servedBefore, sentBefore] = [await served(), await sent()];
    const answers: PurchaseView[] = [];
    for (const caller of crowd) answers.push(await buy(stack, caller, { flashSaleId: sale.id }));
    assert.deepEqual(
      countBy(answers, (a) => `${a.status}:${a.reason}:${a.order === null}`),
      { 'PENDING:null:true': 3, 'REJECTED:SOLD_OUT:true': 3 },
    );
    assert.ok((await served()) >= servedBefore + 5, 'all but perhaps the first (which teaches the plan)');
    assert.equal((await sent()) - sentBefore, 6, 'one fetch per buy');
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 3 });
  });

  test('a grant whose buyer never heard back is recorded when its key comes again', async () => {
    const productId = await createProduct(stack, admin, 3);
    const sale = await createSale(stack, admin, { productId, quantity: 2 });
    const [caller] = (await buyers(1)) as [Caller];
    const idempotencyKey = randomUUID();
    // The buy script ran and granted, and the subgraph instance that ran it never got to the database.
    const purchaseId = 8_800_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12));
    const script = await new SaleStore(stack.redis, { max: 0, windowSeconds: 60 }).buy({
      saleId: decodeId(sale.id) as bigint,
      userId: BigInt(caller.id),
      idempotencyKey,
      quantity: 1,
      purchaseId,
      clientIp: null,
      now: Date.now(),
    });
    assert.equal(script.kind === 'new' && script.record.status, 'PENDING');
    // The buyer retries with the key (as an UNAVAILABLE answer tells it to): the grant is recorded and ordered.
    const retry = await buy(stack, caller, { flashSaleId: sale.id, idempotencyKey });
    assert.equal(retry.id, encodeId(purchaseId));
    assert.equal(retry.status, 'PENDING');
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1 });
    assert.equal((await purchase(stack, caller, retry.id)).status, 'CONFIRMED');
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } })).sold, 1);
  });

  test('a grant never recorded and never retried goes back to the sale, once, and another buyer gets it', async () => {
    const productId = await createProduct(stack, admin, 5);
    const sale = await createSale(stack, admin, { productId, quantity: 2, startsAt: new Date(Date.now() - 600_000) });
    const saleId = decodeId(sale.id) as bigint;
    const [gone, recent, loser, later] = (await buyers(4)) as [Caller, Caller, Caller, Caller];
    // Two grants whose instances died between the script and the database: one two minutes ago, one just now.
    const store = new SaleStore(stack.redis, { max: 0, windowSeconds: 60 });
    const strand = async (caller: Caller, grantedAt: number) => {
      const purchaseId = 8_700_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12));
      const idempotencyKey = `key|with:separators-${randomUUID()}`;
      const attempt = { saleId, userId: BigInt(caller.id), idempotencyKey, quantity: 1, purchaseId, clientIp: null };
      const script = await store.buy({ ...attempt, now: grantedAt });
      assert.equal(script.kind === 'new' && script.record.status, 'PENDING');
      return attempt;
    };
    const old = await strand(gone, Date.now() - 120_000);
    await strand(recent, Date.now());
    assert.equal((await buy(stack, loser, { flashSaleId: sale.id })).reason, 'SOLD_OUT');

    const service = flashSaleService(stack);
    assert.equal(await service.reclaimStranded(), 1, 'only the grant older than the threshold');
    assert.equal(await service.reclaimStranded(), 0, 'given back once');
    const released = await purchase(stack, gone, encodeId(old.purchaseId));
    assert.deepEqual([released.status, released.order], ['RELEASED', null]);
    // Its key answers the released purchase; it takes no unit again.
    const replay = await buy(stack, gone, { flashSaleId: sale.id, idempotencyKey: old.idempotencyKey });
    assert.deepEqual([replay.id, replay.status], [encodeId(old.purchaseId), 'RELEASED']);

    const won = await buy(stack, later, { flashSaleId: sale.id });
    assert.equal(won.status, 'PENDING');
    assert.equal((await buy(stack, loser, { flashSaleId: sale.id })).reason, 'SOLD_OUT');
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1, RELEASED: 1 });
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: saleId } })).sold, 1);
    // The recent grant is still listed (not yet stranded); the recorded ones are dropped by the next round.
    await service.reclaimStranded();
    assert.deepEqual(Object.keys(await stack.redis.hgetall(`{sale:${saleId}}:grants`)).length, 1);
  });

  test('a sweep that stopped after recording a stranded grant gives its unit back on the next round', async () => {
    const productId = await createProduct(stack, admin, 5);
    const sale = await createSale(stack, admin, { productId, quantity: 1, startsAt: new Date(Date.now() - 600_000) });
    const saleId = decodeId(sale.id) as bigint;
    const [gone, later] = (await buyers(2)) as [Caller, Caller];
    const purchaseId = 8_600_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12));
    const store = new SaleStore(stack.redis, { max: 0, windowSeconds: 60 });
    const attempt = { saleId, userId: BigInt(gone.id), idempotencyKey: randomUUID(), quantity: 1, purchaseId };
    await store.buy({ ...attempt, clientIp: null, now: Date.now() - 120_000 });
    // The sweep's transaction committed (RELEASED, no order) and its instance died before Redis heard of it.
    const { userId, idempotencyKey, quantity } = attempt;
    const row = { id: purchaseId, flashSaleId: saleId, userId, idempotencyKey, quantity, status: 'RELEASED' as const };
    await db.flashSalePurchase.create({ data: row });
    assert.equal((await buy(stack, later, { flashSaleId: sale.id })).reason, 'SOLD_OUT');
    assert.equal(await flashSaleService(stack).reclaimStranded(), 1);
    assert.equal((await buy(stack, later, { flashSaleId: sale.id })).status, 'PENDING');
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1, RELEASED: 1 });
  });

  test('a buy script whose reply came too late still counts: the grant is recorded, not lost', async () => {
    const productId = await createProduct(stack, admin, 3);
    const sale = await createSale(stack, admin, { productId, quantity: 1 });
    // What a command time-out does under load: the script runs in Redis, the caller gives up on its reply.
    class LateReplies extends SaleStore {
      override async buy(attempt: BuyAttempt): Promise<BuyOutcome> {
        await super.buy(attempt);
        throw new Error('Command timed out');
      }
    }
    const { service: late, scope } = serviceOver(new LateReplies(stack.redis, { max: 0, windowSeconds: 60 }));
    const [winner, loser] = (await buyers(2)) as [Caller, Caller];
    const won = await late.buy(scope(winner), { flashSaleId: sale.id, idempotencyKey: 'k' });
    assert.equal(won.status, 'PENDING');
    const lost = await late.buy(scope(loser), { flashSaleId: sale.id, idempotencyKey: 'k' });
    assert.deepEqual([lost.status, lost.reason], ['REJECTED', 'SOLD_OUT']);
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1 });
    assert.equal((await purchase(stack, winner, encodeId(won.id))).status, 'CONFIRMED');
  });

  test('a grant recorded by its own retry while the first buy was still on its way takes one unit, not two', async () => {
    const productId = await createProduct(stack, admin, 5);
    const sale = await createSale(stack, admin, { productId, quantity: 2 });
    const saleId = decodeId(sale.id) as bigint;
    // The first buy stops between its script and its transaction until its retry (same key) has recorded it.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let first = true;
    class SlowFirst extends SaleStore {
      override async buy(attempt: BuyAttempt): Promise<BuyOutcome> {
        const outcome = await super.buy(attempt);
        if (first) {
          first = false;
          await held;
        }
        return outcome;
      }
    }
    const { service, scope: scopeOf } = serviceOver(new SlowFirst(stack.redis, { max: 0, windowSeconds: 60 }));
    const [caller] = (await buyers(1)) as [Caller];
    const scope = scopeOf(caller);
    const input = { flashSaleId: sale.id, idempotencyKey: randomUUID() };
    const original = service.buy(scope, input);
    await waitFor(async () => (await stack.redis.hget(`{sale:${saleId}}:state`, 'remaining')) === '1', {
      timeoutMs: 5000,
    });
    const retry = await service.buy(scope, input);
    release();
    const answered = await original;
    assert.equal(answered.id, retry.id);
    assert.equal(await stack.redis.hget(`{sale:${saleId}}:state`, 'remaining'), '1', 'one unit taken, none given back');
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: saleId } })).sold, 1);
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1 });
  });

  test('Redis flushed or wrong mid-sale: still no unit oversold', async () => {
    const productId = await createProduct(stack, admin, 30);
    const sale = await createSale(stack, admin, { productId, quantity: 20 });
    const first = await pool(await buyers(10), 10, (b) => buy(stack, b, { flashSaleId: sale.id }));
    assert.equal(first.filter((a) => a.status === 'PENDING').length, 10);
    // Redis loses writes: it believes 1,000 units are left, and every buyer's count is gone.
    const tag = `{sale:${sale.id}}`;
    await stack.redis.hset(`${tag}:state`, 'remaining', 1000);
    await stack.redis.del(`${tag}:users`);
    const crowd = await buyers(60);
    const flushing = (async () => {
      // ... and then loses the sale altogether while the crowd buys (rebuilt from the database).
      await waitFor(async () => Number(await stack.redis.hget(`${tag}:state`, 'remaining')) < 1000, { intervalMs: 1 });
      await stack.redis.del(`${tag}:state`, `${tag}:users`, `${tag}:keys`);
    })();
    const second = await pool(crowd, 30, (b) => buy(stack, b, { flashSaleId: sale.id }));
    await flushing;
    assert.equal(second.filter((a) => a.status === 'PENDING').length, 10, 'only the 10 units left were granted');
    assert.ok(second.every((a) => a.status === 'PENDING' || a.reason === 'SOLD_OUT'));
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 20 });
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } })).sold, 20);
    // Redis flushed again after the sale: a retry of a winner's key answers the same purchase, not a second one.
    await stack.redis.del(`${tag}:state`, `${tag}:users`, `${tag}:keys`);
    const winner = crowd[second.findIndex((a) => a.status === 'PENDING')] as Caller;
    const keys = await db.flashSalePurchase.findFirstOrThrow({ where: { userId: BigInt(winner.id) } });
    const replay = await buy(stack, winner, { flashSaleId: sale.id, idempotencyKey: keys.idempotencyKey });
    assert.equal(replay.id, String(keys.id));
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } })).sold, 20);
  });

  test('a timed-out flash-sale order gives its unit back and another buyer gets it', async () => {
    const productId = await createProduct(stack, admin, 5);
    const sale = await createSale(stack, admin, { productId, quantity: 1 });
    const [first, second] = await buyers(2);
    const won = await buy(stack, first as Caller, { flashSaleId: sale.id });
    assert.equal(won.status, 'PENDING');
    assert.equal((await buy(stack, second as Caller, { flashSaleId: sale.id })).reason, 'SOLD_OUT');
    await settled(sale.id);
    const orderId = BigInt(won.id);
    await orders.prisma.order.update({ where: { id: orderId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    assert.equal(await orders.service.expire(orderId), 'cancelled');
    await waitFor(async () => (await purchase(stack, first as Caller, won.id)).status === 'RELEASED', {
      timeoutMs: 15_000,
    });
    const retry = await waitFor(
      async () => {
        const answer = await buy(stack, second as Caller, { flashSaleId: sale.id });
        return answer.status === 'PENDING' ? answer : null;
      },
      { timeoutMs: 15_000 },
    );
    assert.equal(retry.status, 'PENDING');
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 1, RELEASED: 1 });
  });

  test('before the window or after it: NOT_ACTIVE', async () => {
    const productId = await createProduct(stack, admin, 10);
    const now = Date.now();
    const upcoming = await createSale(stack, admin, {
      productId,
      quantity: 2,
      startsAt: new Date(now + 3600_000),
      endsAt: new Date(now + 7200_000),
    });
    const [caller] = await buyers(1);
    const early = await buy(stack, caller as Caller, { flashSaleId: upcoming.id });
    assert.deepEqual([early.status, early.reason], ['REJECTED', 'NOT_ACTIVE']);
    const endsAt = new Date(Date.now() + 1500);
    const ending = await createSale(stack, admin, { productId, quantity: 2, endsAt });
    // The window closes by the clock: wait for the clock, not for an event.
    await waitFor(() => Date.now() > endsAt.getTime() + 50, { timeoutMs: 5000 });
    const late = await buy(stack, caller as Caller, { flashSaleId: ending.id });
    assert.deepEqual([late.status, late.reason], ['REJECTED', 'NOT_ACTIVE']);
  });

  test('when a sale ends its unsold units go back to the product’s stock, once', async () => {
    const productId = await createProduct(stack, admin, 10);
    const endsAt = new Date(Date.now() + 2500);
    const sale = await createSale(stack, admin, { productId, quantity: 5, endsAt });
    assert.equal(await productStock(stack, productId), 5);
    const answers = await pool(await buyers(3), 3, (b) => buy(stack, b, { flashSaleId: sale.id }));
    assert.ok(answers.every((a) => a.status === 'PENDING'));
    await settled(sale.id);
    await waitFor(() => Date.now() > endsAt.getTime() + 50, { timeoutMs: 5000 });
    const flashSales = flashSaleService(stack);
    await flashSales.settleEnded();
    await flashSales.settleEnded();
    assert.equal(await productStock(stack, productId), 7, 'the 2 unsold units are back; the 3 sold stay sold');
    const row = await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } });
    assert.ok(row.settledAt && row.stockSettledAt);
    assert.equal(row.sold, 3);
  });

  test('an order cancelled after its sale was settled gives its unit back to the product’s stock, once', async () => {
    const productId = await createProduct(stack, admin, 10);
    const endsAt = new Date(Date.now() + 3000);
    const sale = await createSale(stack, admin, { productId, quantity: 5, endsAt });
    const crowd = await buyers(4);
    const answers = await pool(crowd, 4, (b) => buy(stack, b, { flashSaleId: sale.id }));
    assert.ok(answers.every((a) => a.status === 'PENDING'));
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 4 });
    const [whileRunning, afterSettlement] = answers as [PurchaseView, PurchaseView];
    // While the sale runs: back to the sale (its sold count), not to the stock.
    await cancelOrder(BigInt(whileRunning.id));
    await waitFor(async () => (await purchase(stack, crowd[0] as Caller, whileRunning.id)).status === 'RELEASED', {
      timeoutMs: 15_000,
    });
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } })).sold, 3);
    assert.equal(await productStock(stack, productId), 5);
    await waitFor(() => Date.now() > endsAt.getTime() + 50, { timeoutMs: 6000 });
    await flashSaleService(stack).settleEnded();
    assert.equal(await productStock(stack, productId), 7, 'the 2 unsold units (one of them released) are back');
    // After settlement: the sold count is frozen; the unit goes back to the stock through the release event.
    await cancelOrder(BigInt(afterSettlement.id));
    await waitFor(async () => (await productStock(stack, productId)) === 8, { timeoutMs: 15_000 });
    assert.equal((await purchase(stack, crowd[1] as Caller, afterSettlement.id)).status, 'RELEASED');
    await stockReleasesApplied(sale.id, 1);
    await flashSaleService(stack).settleEnded();
    assert.equal(await productStock(stack, productId), 8, 'once: the settlement repeated changes nothing');
    assert.equal((await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } })).sold, 3);
  });

  test('cancellations racing the end-of-sale settlement: every unit back exactly once', async () => {
    const productId = await createProduct(stack, admin, 8);
    const endsAt = new Date(Date.now() + 3000);
    const sale = await createSale(stack, admin, { productId, quantity: 8, endsAt });
    const crowd = await buyers(6);
    const answers = await pool(crowd, 6, (b) => buy(stack, b, { flashSaleId: sale.id }));
    assert.ok(answers.every((a) => a.status === 'PENDING'));
    assert.deepEqual(await settled(sale.id), { CONFIRMED: 6 });
    await waitFor(() => Date.now() > endsAt.getTime() + 50, { timeoutMs: 6000 });
    const flashSales = flashSaleService(stack);
    const released = async () =>
      (await db.flashSalePurchase.count({ where: { flashSaleId: BigInt(sale.id), status: 'RELEASED' } })) === 6;
    // The settlement runs again and again while the six orders are cancelled and their releases consumed:
    // some land before the sold count is frozen (back to the sale), the rest after (back to the stock).
    await Promise.all([
      pool(answers, 6, (a) => cancelOrder(BigInt(a.id))),
      (async () => {
        for (let round = 0; round < 1000 && !(await released()); round++) await flashSales.settleEnded();
      })(),
    ]);
    await waitFor(released, { timeoutMs: 15_000 });
    await flashSales.settleEnded();
    const row = await db.flashSale.findUniqueOrThrow({ where: { id: BigInt(sale.id) } });
    assert.ok(row.settledAt && row.stockSettledAt);
    // Units still counted sold at the freeze are exactly the ones released to the stock afterwards.
    await stockReleasesApplied(sale.id, row.sold);
    assert.equal(await productStock(stack, productId), 8, 'every unit back on the shelf, none twice');
  });

  const badDateTime = (productId: string) => ({
    productId,
    priceAmount: 100,
    quantity: 1,
    startsAt: 'not-a-date',
    endsAt: new Date(Date.now() + 60_000).toISOString(),
  });

  test('a malformed DateTime is BAD_USER_INPUT naming the field, from the subgraph itself', async () => {
    const signer = new IdentitySigner(await resolveInternalSecret(stack.config), 'router');
    const identity = await signer.sign({ userId: admin.id, roles: ['ADMIN'], requestId: 't', audience: 'flashsale' });
    const call = (query: string, variables: Record<string, unknown> = {}) =>
      postGraphQL(`${stack.subgraphUrls['flashsale']}/graphql`, query, variables, {
        headers: { [IDENTITY_HEADER]: identity },
      });
    const inVariable = await call(CREATE_FLASH_SALE, { input: badDateTime('1') });
    assert.equal(errorCode(inVariable), 'BAD_USER_INPUT');
    const problems = inVariable.body.errors?.[0]?.extensions?.['problems'] as { field: string }[] | undefined;
    assert.deepEqual(
      problems?.map((p) => p.field),
      ['input.startsAt'],
    );
    const literal = `mutation { createFlashSale(input: { productId: "1", priceAmount: 1, quantity: 1,
      startsAt: "2030-01-01T00:00:00Z", endsAt: "tomorrow" }) { id } }`;
    const inLiteral = await call(literal);
    assert.equal(errorCode(inLiteral), 'BAD_USER_INPUT');
    assert.match(inLiteral.body.errors?.[0]?.message ?? '', /DateTime/);
  });

  // The subgraph refuses the variable with HTTP 400; the router passes BAD_USER_INPUT on instead of masking it.
  test('a malformed DateTime through the router is BAD_USER_INPUT', async () => {
    const productId = await createProduct(stack, admin, 1);
    const answer = await stack.gql(CREATE_FLASH_SALE, { input: badDateTime(productId) }, { token: admin.token });
    assert.equal(errorCode(answer), 'BAD_USER_INPUT');
    assert.match(answer.body.errors?.[0]?.message ?? '', /startsAt/);
    const problems = answer.body.errors?.[0]?.extensions?.['problems'] as { field: string }[] | undefined;
    assert.deepEqual(
      problems?.map((p) => p.field),
      ['input.startsAt'],
    );
  });

  test('bad input is BAD_USER_INPUT; customers cannot create sales; unknown sales are NOT_FOUND', async () => {
    const productId = await createProduct(stack, admin, 10);
    const [caller] = await buyers(1);
    const token = (caller as Caller).token;
    const base = {
      productId,
      priceAmount: 100,
      quantity: 1,
      startsAt: new Date().toISOString(),
      endsAt: new Date(Date.now() + 60_000).toISOString(),
    };
    for (const input of [
      { ...base, quantity: 0 },
      { ...base, priceAmount: -1 },
      { ...base, endsAt: base.startsAt },
    ])
      assert.equal(errorCode(await stack.gql(CREATE_FLASH_SALE, { input }, { token: admin.token })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(CREATE_FLASH_SALE, { input: base }, { token })), 'FORBIDDEN');
    const sale = await createSale(stack, admin, { productId, quantity: 1 });
    for (const input of [
      { flashSaleId: sale.id, quantity: 0, idempotencyKey: 'k' },
      { flashSaleId: sale.id, idempotencyKey: '' },
      { flashSaleId: sale.id, idempotencyKey: 'x'.repeat(201) },
      { flashSaleId: 'not-an-id', idempotencyKey: 'k' },
    ])
      assert.equal(errorCode(await stack.gql(BUY_FLASH_SALE, { input }, { token })), 'BAD_USER_INPUT');
    const unknown = { flashSaleId: '123456789', idempotencyKey: 'k' };
    assert.equal(errorCode(await stack.gql(BUY_FLASH_SALE, { input: unknown }, { token })), 'NOT_FOUND');
    const anonymous = await stack.gql(BUY_FLASH_SALE, { input: { flashSaleId: sale.id, idempotencyKey: 'k' } });
    assert.equal(errorCode(anonymous), 'UNAUTHENTICATED');
  });
});
