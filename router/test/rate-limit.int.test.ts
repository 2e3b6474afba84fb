import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countRedisWrites } from '@mall/platform/testing';
import { Redis } from 'ioredis';
import { RateLimiter } from '../src/limits.ts';
import { dropPrefix, prefixedRedis, REDIS_URL, uniquePrefix } from './helpers.ts';

describe('RateLimiter (Redis)', () => {
  const prefix = uniquePrefix('rate');
  let redis: Redis;
  let limiter: RateLimiter;

  before(() => {
    redis = prefixedRedis(prefix);
    limiter = new RateLimiter(redis);
  });
  after(async () => {
    await dropPrefix(prefix);
    await redis.quit();
  });

  it('admits up to the limit in a window, then refuses with the time left', async () => {
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.hit('ip:198.51.100.1', 3));
    assert.deepEqual(
      decisions.map((d) => [d?.allowed, d?.count]),
      [
        [true, 1],
        [true, 2],
        [true, 3],
        [false, 4],
      ],
    );
    const refused = decisions[3];
    assert.ok(
      refused && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 60,
      `retryAfter ${refused?.retryAfterSeconds}`,
    );
  });

  it('sends a lone request’s two counts at once, and a crowd’s past those in one write of the batching client', async () => {
    const direct = prefixedRedis(prefix);
    const batched = new Redis(REDIS_URL, { keyPrefix: prefix, enableAutoPipelining: true });
    await Promise.all([direct.ping(), batched.ping()]);
    const onDirect = countRedisWrites(direct);
    const onBatched = countRedisWrites(batched);
    try {
      const counting = new RateLimiter(direct, { batched });
      const lone = await Promise.all([counting.hit('ip:198.51.100.30', 50), counting.hit('user:lone', 50)]);
      assert.deepEqual(
        lone.map((d) => [d?.allowed, d?.count]),
        [
          [true, 1],
          [true, 1],
        ],
      );
      assert.deepEqual([onDirect.writes, onBatched.writes], [2, 0], 'a lone request waits for no batch');
      // A read first makes the batching client's pipeline for this turn: the counting script must be on that
      // client by then (limiters are made per limit, on first use), or ioredis throws `pipeline[name] is not a
      // function` and breaks the batch (issue #1931).
      const [, ...crowd] = await Promise.all([
        batched.get('unrelated'),
        ...Array.from({ length: 10 }, (_, i) => counting.hit(`ip:198.51.100.${40 + i}`, 70)),
      ]);
      assert.deepEqual(
        crowd.map((d) => [d?.allowed, d?.count]),
        Array.from({ length: 10 }, () => [true, 1]),
      );
      assert.deepEqual([onDirect.writes, onBatched.writes], [4, 1], 'two at once, the other eight together');
    } finally {
      onDirect.stop();
      onBatched.stop();
      direct.disconnect();
      batched.disconnect();
    }
  });

  it('opens the window with the first hit and never leaves a key without expiry', async () => {
    await limiter.hit('user:window', 10);
    const ttl = await redis.pttl(RateLimiter.key('user:window'));
    assert.ok(ttl > 0 && ttl <= 60_000, `pttl ${ttl}`);
    // A key that lost its expiry (written by hand, or an old bug) gets one on the next hit.
    await redis.persist(RateLimiter.key('user:window'));
    await limiter.hit('user:window', 10);
    assert.ok((await redis.pttl(RateLimiter.key('user:window'))) > 0);
  });

  it('reports the time actually left in the window', async () => {
    const short = new RateLimiter(redis, { windowMs: 1_500 });
    await short.hit('ip:short', 1);
    const refused = await short.hit('ip:short', 1);
    assert.equal(refused?.allowed, false);
    assert.ok(
      refused && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 2,
      `retryAfter ${refused?.retryAfterSeconds}`,
    );
    assert.ok((await redis.pttl(RateLimiter.key('ip:short'))) <= 1_500);
  });

  it('keeps buckets apart', async () => {
    await limiter.hit('ip:198.51.100.2', 1);
    assert.equal((await limiter.hit('ip:198.51.100.2', 1))?.allowed, false);
    assert.equal((await limiter.hit('ip:198.51.100.3', 1))?.allowed, true);
    assert.equal((await limiter.hit('user:198.51.100.2', 1))?.allowed, true);
  });

  it('counts atomically under concurrency', async () => {
    const decisions = await Promise.all(Array.from({ length: 25 }, () => limiter.hit('ip:burst', 10)));
    assert.equal(decisions.filter((d) => d?.allowed).length, 10);
    assert.deepEqual(
      decisions.map((d) => d?.count).sort((a, b) => (a ?? 0) - (b ?? 0)),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
  });

  it('treats a limit of 0 as off and does not touch Redis', async () => {
    assert.equal(await limiter.hit('ip:unlimited', 0), null);
    assert.equal(await redis.exists(RateLimiter.key('ip:unlimited')), 0);
  });

  it('once Redis refused a bucket, refuses the rest of its window here without counting in Redis', async () => {
    const short = new RateLimiter(redis, { windowMs: 2_000 });
    assert.equal(short.blocked('ip:flood', 2), null);
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await short.hit('ip:flood', 2));
    assert.deepEqual(
      decisions.map((d) => [d?.allowed, d?.count]),
      [
        [true, 1],
        [true, 2],
        [false, 3],
      ],
    );
    const blocked = short.blocked('ip:flood', 2);
    assert.ok(blocked && !blocked.allowed && blocked.retryAfterSeconds >= 1 && blocked.retryAfterSeconds <= 2);
    // Further hits are refused from memory: Redis still holds the count of the refusal that blocked the bucket.
    for (let i = 0; i < 5; i++) assert.equal((await short.hit('ip:flood', 2))?.allowed, false);
    assert.equal(await redis.get(RateLimiter.key('ip:flood')), '3');
    // Only that bucket, only at that limit.
    assert.equal(short.blocked('ip:other', 2), null);
    assert.equal(short.blocked('ip:flood', 3), null);
    // Another replica knows nothing of the block and counts through Redis, which refuses it there too.
    const replica = new RateLimiter(redis, { windowMs: 2_000 });
    assert.equal(replica.blocked('ip:flood', 2), null);
    assert.deepEqual(
      [(await replica.hit('ip:flood', 2))?.allowed, await redis.get(RateLimiter.key('ip:flood'))],
      [false, '4'],
    );
  });

  it('lifts the block when the window Redis counts ends', async () => {
    const short = new RateLimiter(redis, { windowMs: 1_000 });
    await short.hit('ip:lifted', 1);
    assert.equal((await short.hit('ip:lifted', 1))?.allowed, false);
    assert.ok(short.blocked('ip:lifted', 1));
    // The block lasts what Redis said was left of the window: wait for the key to expire, then a little more.
    const { promise, resolve } = Promise.withResolvers<void>();
    const poll = setInterval(async () => {
      if ((await redis.exists(RateLimiter.key('ip:lifted'))) === 0 && !short.blocked('ip:lifted', 1)) resolve();
    }, 50);
    await promise.finally(() => clearInterval(poll));
    assert.deepEqual(
      [(await short.hit('ip:lifted', 1))?.allowed, (await short.hit('ip:lifted', 1))?.allowed],
      [true, false],
    );
  });
});
