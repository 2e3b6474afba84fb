// The buy script against a real Redis: each rule on its own, the per-address cap, and the rebuild.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRedis, type TestRedis } from '@mall/platform/testing';
import { type BuyAttempt, SaleStore } from '../data/sale-store.ts';

let redis: TestRedis;
let store: SaleStore;
let nextId = 1000n;
// The real clock: the keys expire a day after the sale's end, so a fixed date would soon load expired keys.
const NOW = Date.now();

before(() => {
  // Auto-pipelining, as the subgraph's store client is.
  redis = createTestRedis('flashsale-store', { autoPipelining: true });
  store = new SaleStore(redis.redis, { max: 5, windowSeconds: 60 });
});
after(() => redis?.cleanup());

async function openSale(saleId: bigint, remaining: number, perUserLimit = 1): Promise<void> {
  await store.load(saleId, {
    remaining,
    startsAt: new Date(NOW - 1000),
    endsAt: new Date(NOW + 60_000),
    perUserLimit,
    users: new Map(),
    purchases: [],
  });
}

const attempt = (saleId: bigint, over: Partial<BuyAttempt> = {}): BuyAttempt => ({
  saleId,
  userId: nextId++,
  idempotencyKey: `k-${nextId}`,
  quantity: 1,
  purchaseId: nextId++,
  clientIp: null,
  now: NOW,
  ...over,
});

const answer = async (a: BuyAttempt) => {
  const outcome = await store.buy(a);
  return outcome.kind === 'new' || outcome.kind === 'replay'
    ? `${outcome.kind} ${outcome.record.status}${outcome.record.reason ? ` ${outcome.record.reason}` : ''}`
    : outcome.kind;
};

describe('the buy script', () => {
  test('a new store on an auto-pipelining client runs its scripts beside other commands of the same turn', async () => {
    // The store registers its scripts when it is made. Were one registered on first use, the pipeline this
    // turn's first command makes would lack it, and ioredis would crash the process (ioredis issue #1931).
    const fresh = createTestRedis('flashsale-store-fresh', { autoPipelining: true });
    try {
      const sameTurn = new SaleStore(fresh.redis, { max: 5, windowSeconds: 60 });
      const first = attempt(9n);
      const [keyBefore, , opened] = await Promise.all([
        sameTurn.answerOf(first),
        sameTurn.load(9n, {
          remaining: 1,
          startsAt: new Date(NOW - 1000),
          endsAt: new Date(NOW + 60_000),
          perUserLimit: 1,
          users: new Map(),
          purchases: [],
        }),
        sameTurn.buy(first),
        sameTurn.giveBack(
          9n,
          { userId: 1n, quantity: 1, idempotencyKey: null },
          {
            toRemaining: false,
            answer: null,
            rebuild: false,
          },
        ),
      ]);
      assert.equal(keyBefore, null);
      assert.equal(opened.kind === 'new' && opened.record.status, 'PENDING', 'in call order: loaded, then bought');
    } finally {
      await fresh.cleanup();
    }
  });

  test('window, per-user limit, units, and the first answer again for a repeated key', async () => {
    await openSale(1n, 2, 1);
    assert.equal(await answer(attempt(1n, { now: NOW - 2000 })), 'new REJECTED NOT_ACTIVE');
    assert.equal(await answer(attempt(1n, { now: NOW + 60_000 })), 'new REJECTED NOT_ACTIVE');
    const first = attempt(1n);
    assert.equal(await answer(first), 'new PENDING');
    assert.equal(await answer({ ...first, purchaseId: 1n }), 'replay PENDING');
    assert.equal(await answer({ ...first, idempotencyKey: 'other' }), 'new REJECTED LIMIT_EXCEEDED');
    assert.equal(await answer(attempt(1n, { quantity: 2 })), 'new REJECTED LIMIT_EXCEEDED');
    assert.equal(await answer(attempt(1n)), 'new PENDING');
    assert.equal(await answer(attempt(1n)), 'new REJECTED SOLD_OUT');
    assert.equal(await store.remaining(1n), 0);
  });

  test('a sale that is not loaded answers missing, and loads with its users and keys', async () => {
    assert.equal(await answer(attempt(2n)), 'missing');
    const buyer = attempt(2n);
    await store.load(2n, {
      remaining: 3,
      startsAt: new Date(NOW - 1000),
      endsAt: new Date(NOW + 60_000),
      perUserLimit: 1,
      users: new Map([[buyer.userId, 1]]),
      purchases: [
        {
          id: 77n,
          userId: buyer.userId,
          idempotencyKey: buyer.idempotencyKey,
          quantity: 1,
          status: 'PENDING',
          reason: null,
        },
      ],
    });
    const replay = await store.buy(buyer);
    assert.ok(replay.kind === 'replay' && replay.record.id === 77n, 'the recorded purchase answers its key');
    assert.equal(await answer({ ...buyer, idempotencyKey: 'again' }), 'new REJECTED LIMIT_EXCEEDED');
  });

  test('giving a unit back: to remaining, the user’s count, and the key forgotten', async () => {
    await openSale(3n, 1);
    const buyer = attempt(3n);
    assert.equal(await answer(buyer), 'new PENDING');
    await store.giveBack(3n, buyer, { toRemaining: true, answer: null, rebuild: false });
    assert.equal(await store.remaining(3n), 1);
    assert.equal(await answer({ ...buyer, purchaseId: nextId++ }), 'new PENDING', 'the key runs again');
  });

  test('one address hammering one sale is capped there, not on other sales', async () => {
    await openSale(4n, 100, 100);
    await openSale(5n, 100, 100);
    const bot = { clientIp: '203.0.113.9' };
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await answer(attempt(4n, bot)));
    assert.deepEqual(answers, [...Array(5).fill('new PENDING'), ...Array(3).fill('rate_limited')]);
    assert.equal(await answer(attempt(4n, { clientIp: '198.51.100.1' })), 'new PENDING', 'another address buys');
    assert.equal(await answer(attempt(5n, bot)), 'new PENDING', 'the same address on another sale');
  });
});

describe('rejected purchases', () => {
  test('the rejections of one turn are written together, and each is readable by its id right after', async () => {
    const rejected = Array.from({ length: 40 }, (_, i) => ({
      id: nextId++,
      flashSaleId: 6n,
      userId: nextId++,
      quantity: 1 + (i % 3),
      reason: i % 2 ? ('SOLD_OUT' as const) : ('LIMIT_EXCEEDED' as const),
    }));
    // A crowd's answers come back together: every rejection here is decided in the same turn.
    await Promise.all(rejected.map((r) => store.rememberRejection(r)));
    // And the next turn's start another write, which must not lose or mix up any either.
    const later = { id: nextId++, flashSaleId: 6n, userId: nextId++, quantity: 1, reason: 'NOT_ACTIVE' as const };
    await store.rememberRejection(later);
    for (const r of [...rejected, later]) assert.deepEqual(await store.rejected(r.id), r);
    assert.ok((await redis.redis.ttl(`flashsale:rejected:${later.id}`)) > 23 * 3600, 'kept for a day');
    assert.equal(await store.rejected(nextId++), null);
  });
});
