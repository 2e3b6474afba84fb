// The sweep over open subscription sockets: one Redis round trip for all of them, and only revoked ones close.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authKeys, createLogger } from '@mall/platform';
import type { Redis } from 'ioredis';
import type { Caller } from '../src/auth.ts';
import { RevocationWatch } from '../src/revocation-watch.ts';

function fakeRedis(values: Record<string, string>) {
  const calls = { exec: 0, mget: 0 };
  const redis = {
    pipeline() {
      const batches: string[][] = [];
      const pipe = {
        mget(keys: string[]) {
          calls.mget++;
          batches.push(keys);
          return pipe;
        },
        async exec() {
          calls.exec++;
          return batches.map((keys) => [null, keys.map((k) => values[k] ?? null)]);
        },
      };
      return pipe;
    },
  };
  return { redis: redis as unknown as Redis, calls };
}

const caller = (n: number, issuedAt = 1_000): Caller => ({
  userId: `user-${n}`,
  roles: ['CUSTOMER'],
  session: { id: `sid-${n}`, tokenId: `jti-${n}`, expiresAt: 9_999_999_999 },
  issuedAt,
});

test('one sweep over 1,500 sockets is one pipeline; the logged-out and the user-revoked close, no one else', async () => {
  const { redis, calls } = fakeRedis({
    [authKeys.deniedAccessToken('jti-7')]: '1',
    [authKeys.userRevokedAt('user-9')]: '2000', // revoked after the token was issued
    [authKeys.userRevokedAt('user-11')]: '500', // revoked before: a newer token stays valid
  });
  const watch = new RevocationWatch({
    redis,
    logger: createLogger({ service: 't', level: 'silent' }),
    sweepIntervalMs: 0,
  });
  const closed: number[] = [];
  for (let n = 0; n < 1_500; n++) watch.watch(caller(n), () => closed.push(n));
  assert.equal(await watch.sweep(), 2);
  assert.deepEqual(
    closed.sort((a, b) => a - b),
    [7, 9],
  );
  assert.equal(calls.exec, 1);
  assert.ok(calls.mget >= 6, 'keys are split into bounded MGETs');
  assert.equal(watch.size, 1_498);
  watch.stop();
});

test('a failed lookup keeps every socket open', async () => {
  const redis = {
    pipeline: () => ({ mget() {}, exec: async () => Promise.reject(new Error('down')) }),
  } as unknown as Redis;
  const watch = new RevocationWatch({
    redis,
    logger: createLogger({ service: 't', level: 'silent' }),
    sweepIntervalMs: 0,
  });
  let closed = 0;
  watch.watch(caller(1), () => closed++);
  assert.equal(await watch.sweep(), 0);
  assert.equal(closed, 0);
  watch.stop();
});

test('checks made together (one per subscriber of an event) share one round trip', async () => {
  const { redis, calls } = fakeRedis({ [authKeys.deniedAccessToken('jti-3')]: '1' });
  const watch = new RevocationWatch({
    redis,
    logger: createLogger({ service: 't', level: 'silent' }),
    sweepIntervalMs: 0,
  });
  const closed: number[] = [];
  const watches = Array.from({ length: 100 }, (_, n) => watch.watch(caller(n), () => closed.push(n)));
  const results = await Promise.all(watches.map((w) => w.check()));
  assert.equal(calls.exec, 1);
  assert.deepEqual(
    results.flatMap((revoked, n) => (revoked ? [n] : [])),
    [3],
  );
  assert.deepEqual(closed, [3]);
  watch.stop();
});
