import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { authKeys, createLogger } from '@mall/platform';
import { proxyServer } from '@mall/platform/testing';
import { Redis } from 'ioredis';
import { AuthFailure, JwtVerifier, RevocationsUnavailable } from '../src/auth.ts';
import { RevocationCache, type RevocationCacheOptions } from '../src/revocation-cache.ts';
import {
  AUDIENCE,
  dropPrefix,
  generateSigningKey,
  ISSUER,
  type JwksServer,
  prefixedRedis,
  REDIS_URL,
  signAccessToken,
  startJwksServer,
  type TestSigningKey,
  uniquePrefix,
} from './helpers.ts';

const logger = createLogger({ service: 'revocation-cache-test', level: 'silent' });

/** Waits for a condition the copy reaches on its own (a reconnect, an expiry), failing after `ms`. */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('RevocationCache', () => {
  const caches: RevocationCache[] = [];
  const prefixes: string[] = [];
  const clients: Redis[] = [];

  /** A prefix with auth's marker, a client writing under it as auth does, and a copy of it. */
  const setUp = async (options: Partial<RevocationCacheOptions> = {}) => {
    const prefix = uniquePrefix('revocation-cache');
    prefixes.push(prefix);
    const redis = prefixedRedis(prefix);
    clients.push(redis);
    await redis.set(authKeys.revocationsGeneration, 'g1');
    const cache = new RevocationCache({ url: REDIS_URL, prefix, logger, ...options });
    caches.push(cache);
    return { prefix, redis, cache };
  };

  afterEach(async () => {
    for (const cache of caches.splice(0)) await cache.stop();
    for (const redis of clients.splice(0)) redis.disconnect();
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
  });

  it('loads what Redis holds, then follows every set, delete and expiry', async () => {
    const { redis, cache } = await setUp();
    await redis.set(authKeys.deniedAccessToken('jti-a'), '1', 'EX', 60);
    await redis.set(authKeys.userRevokedAt('u-1'), '1700000000', 'EX', 60);
    assert.equal(cache.lookup('jti-a', 'u-1'), undefined, 'nothing is answered before the copy is loaded');
    cache.start();
    await cache.whenReady();
    assert.deepEqual(cache.lookup('jti-a', 'u-1'), ['g1', '1', '1700000000']);
    assert.deepEqual(cache.lookup('jti-b', 'u-2'), ['g1', null, null]);

    await redis.set(authKeys.deniedAccessToken('jti-b'), '1', 'EX', 60);
    await redis.del(authKeys.deniedAccessToken('jti-a'));
    await redis.set(authKeys.revocationsGeneration, 'g2', 'XX');
    await cache.caughtUp();
    assert.deepEqual(cache.lookup('jti-b', 'u-2'), ['g2', '1', null]);
    assert.deepEqual(cache.lookup('jti-a', 'u-1'), ['g2', null, '1700000000']);

    // Entries end by expiring, as auth writes them: Redis announces the expiry like any other change.
    await redis.set(authKeys.deniedAccessToken('jti-short'), '1', 'PX', 30);
    await cache.caughtUp();
    assert.equal(cache.lookup('jti-short', 'u-3')?.[1], '1');
    // Redis finds an expired key when it is next touched, or by sampling keys that have a time to live, which
    // on a Redis holding many such keys (a machine that just ran the benchmarks) can take far longer than this
    // test waits. Touching it each round, as a reader would, makes the expiry happen when it is due.
    await until('the expired entry is gone', async () => {
      await redis.exists(authKeys.deniedAccessToken('jti-short'));
      return cache.lookup('jti-short', 'u-3')?.[1] === null;
    });
    assert.equal(await redis.exists(authKeys.deniedAccessToken('jti-short')), 0);
  });

  it('keys written and deleted while their re-reads are in flight end as Redis has them', async () => {
    const { redis, cache } = await setUp();
    cache.start();
    await cache.whenReady();
    const jtis = Array.from({ length: 8 }, (_, i) => `jti-race-${i}`);
    for (let round = 0; round < 40; round++) {
      // Unawaited bursts from two clients: invalidations overtake the re-reads they set off.
      const writes = jtis.map(
        (jti): Promise<unknown> =>
          Math.random() < 0.5
            ? redis.set(authKeys.deniedAccessToken(jti), String(round), 'EX', 60)
            : redis.del(authKeys.deniedAccessToken(jti)),
      );
      await Promise.all(writes);
      await cache.caughtUp();
      const truth = await redis.mget(jtis.map((jti) => authKeys.deniedAccessToken(jti)));
      assert.deepEqual(
        jtis.map((jti) => cache.lookup(jti, 'u')?.[1] ?? null),
        truth,
        `round ${round}: the copy differs from Redis`,
      );
    }
  });

  it('never applies a re-read that a later change overtook on the other connection', async () => {
    // Reads answer slowly; invalidations come at once: the second change is announced while the re-read
    // of the first is still on its way back with the first value.
    const { proxy, url } = await proxyServer(REDIS_URL);
    try {
      const { redis, cache } = await setUp({ readerUrl: url, commandTimeoutMs: 5_000 });
      cache.start();
      await cache.whenReady();
      proxy.delay(100);
      const key = authKeys.deniedAccessToken('jti-overtaken');
      await redis.set(key, 'first', 'EX', 60);
      // The re-read reaches Redis after ~100 ms and is answered ~100 ms later: change the key in between.
      await new Promise((resolve) => setTimeout(resolve, 150));
      await redis.set(key, 'second', 'EX', 60);
      const seen = new Set<string | null | undefined>();
      const watching = (async () => {
        for (let settled = false; !settled; ) {
          seen.add(cache.lookup('jti-overtaken', 'u')?.[1]);
          settled = cache.lookup('jti-overtaken', 'u')?.[1] === 'second';
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
      await cache.caughtUp();
      await watching;
      assert.ok(!seen.has('first'), `after the second write the copy answered ${[...seen].join(', ')}`);
    } finally {
      await proxy.close();
    }
  });

  it('drops its copy when a connection breaks, tells its listeners, and loads what changed meanwhile', async () => {
    const { proxy, url } = await proxyServer(REDIS_URL);
    try {
      const { redis, cache } = await setUp({ url });
      let lost = 0;
      cache.onLost(() => {
        lost += 1;
      });
      cache.start();
      await cache.whenReady();
      assert.deepEqual(cache.lookup('jti-cut', 'u'), ['g1', null, null]);
      proxy.cut();
      await until('the copy is dropped', () => !cache.ready);
      assert.ok(lost > 0);
      assert.equal(cache.lookup('jti-cut', 'u'), undefined, 'no answer without the copy');
      await redis.set(authKeys.deniedAccessToken('jti-cut'), '1', 'EX', 60);
      proxy.restore();
      await cache.whenReady();
      await cache.caughtUp();
      assert.deepEqual(cache.lookup('jti-cut', 'u'), ['g1', '1', null]);
    } finally {
      await proxy.close();
    }
  });

  it('stops answering when its link stalls without breaking, and answers again once it flows', async () => {
    const { proxy, url } = await proxyServer(REDIS_URL);
    try {
      const { redis, cache } = await setUp({ url, heartbeatMs: 20, maxStalenessMs: 150 });
      cache.start();
      await cache.whenReady();
      assert.ok(cache.lookup('jti-stall', 'u'));
      proxy.blackhole();
      // Written where the copy cannot hear of it: answering from the copy now would admit a revoked token.
      await redis.set(authKeys.deniedAccessToken('jti-stall'), '1', 'EX', 60);
      await until('the copy stops answering', () => cache.lookup('jti-stall', 'u') === undefined);
      proxy.restore();
      await cache.caughtUp();
      await until('the copy answers again', () => cache.lookup('jti-stall', 'u') !== undefined);
      assert.equal(cache.lookup('jti-stall', 'u')?.[1], '1');
    } finally {
      await proxy.close();
    }
  });

  it('loads again after a flush, which leaves no marker to trust until auth reloads', async () => {
    // A database of its own: FLUSHDB there empties nothing another test uses (their copies reload, harmlessly).
    const url = new URL(REDIS_URL);
    url.pathname = '/13';
    const prefix = `${uniquePrefix('revocation-flush')}`;
    const redis = new Redis(url.toString(), { keyPrefix: prefix, maxRetriesPerRequest: 1 });
    clients.push(redis);
    await redis.set(authKeys.revocationsGeneration, 'g1');
    await redis.set(authKeys.deniedAccessToken('jti-flush'), '1', 'EX', 60);
    const cache = new RevocationCache({ url: url.toString(), prefix, logger });
    caches.push(cache);
    cache.start();
    await cache.whenReady();
    assert.deepEqual(cache.lookup('jti-flush', 'u'), ['g1', '1', null]);
    await redis.flushdb();
    await until('the copy is empty', () => cache.lookup('jti-flush', 'u')?.[0] === null);
    assert.deepEqual(cache.lookup('jti-flush', 'u'), [null, null, null]);
    await redis.set(authKeys.deniedAccessToken('jti-flush'), '1', 'EX', 60);
    await redis.set(authKeys.revocationsGeneration, 'g2');
    await cache.caughtUp();
    assert.deepEqual(cache.lookup('jti-flush', 'u'), ['g2', '1', null]);
    await redis.del(authKeys.revocationsGeneration, authKeys.deniedAccessToken('jti-flush'));
  });
});

describe('JwtVerifier with the revocation copy', () => {
  const prefix = uniquePrefix('auth-cache');
  const name = `revocations-${randomUUID()}`;
  let redis: Redis;
  let jwks: JwksServer;
  let key: TestSigningKey;
  let cache: RevocationCache;
  let verifier: JwtVerifier;
  let reads = 0;

  before(async () => {
    redis = prefixedRedis(prefix);
    await redis.set(authKeys.revocationsGeneration, 'g1');
    // Counts the verifier's own Redis lookups: the copy is there to make them rare.
    const mget = redis.mget.bind(redis) as (...keys: string[]) => Promise<(string | null)[]>;
    Object.assign(redis, {
      mget: (...keys: string[]) => {
        reads += 1;
        return mget(...keys);
      },
    });
    key = await generateSigningKey('EdDSA');
    jwks = await startJwksServer([key.publicJwk]);
    cache = new RevocationCache({ url: REDIS_URL, prefix, logger, name });
    cache.start();
    await cache.whenReady();
    verifier = new JwtVerifier({
      jwksUrl: new URL(`${jwks.url}/.well-known/jwks.json`),
      issuer: ISSUER,
      audience: AUDIENCE,
      redis,
      revocationCache: cache,
    });
  });
  after(async () => {
    await cache.stop();
    await jwks.stop();
    await dropPrefix(prefix);
    await redis.quit();
  });

  it('admits a known-good token without reading Redis, and refuses it once logged out', async () => {
    const token = await signAccessToken(key, { sub: 'u-copy', jti: `jti-${randomUUID()}` });
    await cache.caughtUp();
    reads = 0;
    for (let i = 0; i < 5; i++) await verifier.verify(token);
    assert.equal(reads, 0);
    const { session } = await verifier.verify(token);
    await redis.set(authKeys.deniedAccessToken(session.tokenId), '1', 'EX', 60);
    await cache.caughtUp();
    await assert.rejects(verifier.verify(token), (err) => err instanceof AuthFailure && err.reason === 'denylisted');
    assert.equal(reads, 0, 'refused from the copy too');
  });

  it('leaves a missing marker to Redis, which refuses to decide', async () => {
    const token = await signAccessToken(key, { sub: 'u-marker', jti: 'jti-marker' });
    await redis.del(authKeys.revocationsGeneration);
    await cache.caughtUp();
    reads = 0;
    await assert.rejects(verifier.verify(token), RevocationsUnavailable);
    assert.equal(reads, 1);
    await redis.set(authKeys.revocationsGeneration, 'g2');
    await cache.caughtUp();
    await verifier.verify(token);
  });

  it("distrusts the marker when the copy's connection breaks, as when its own does", async () => {
    const token = await signAccessToken(key, { sub: 'u-lost', jti: 'jti-lost' });
    await redis.set(authKeys.revocationsGeneration, 'g3');
    await cache.caughtUp();
    await verifier.verify(token);
    // Kill the copy's connections from the server side, as a Redis restart or a proxy would.
    const clients = String(await redis.call('CLIENT', 'LIST'));
    const mine = [...clients.matchAll(/^id=(\d+) .*? name=(\S*)/gm)].filter((m) => m[2]?.startsWith(`${name}:`));
    assert.equal(mine.length, 2, 'its invalidation and reader connections');
    assert.ok(cache.ready);
    await redis.call('CLIENT', 'KILL', 'ID', mine[0]?.[1] ?? '');
    await until('the copy is dropped', () => !cache.ready);
    await assert.rejects(verifier.verify(token), RevocationsUnavailable);
    await redis.set(authKeys.revocationsGeneration, 'g4');
    await cache.whenReady();
    await cache.caughtUp();
    await verifier.verify(token);
  });
});
