import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authKeys, createLogger } from '@mall/platform';
import { createTestRedis, deleteKeys, type TestRedis } from '@mall/platform/testing';
import { RevocationMirror, recordDeniedAccessToken, recordUserRevocation } from '../data/access-revocations.ts';
import {
  accountCounterKey,
  forgiveLoginFailures,
  ipCounterKey,
  loginRetryAfter,
  recordLoginFailure,
} from '../data/login-limiter.ts';
import type { LoginFailurePolicy, LoginSubject } from '../domain/login-policy.ts';
import { type AuthTestDatabase, createAuthTestDatabase } from './helpers.ts';

const policy = { windowSeconds: 900, perAccount: 5, perIp: 8 };
const logger = createLogger({ service: 'auth-test', level: 'silent' });

describe('login limiter (Postgres, failures only)', () => {
  let db: AuthTestDatabase;
  before(async () => {
    db = await createAuthTestDatabase();
  });
  after(() => db?.close());

  const subject = (email: string, ip: string | null = '198.51.100.7') => ({ email, ip });
  const limiter = (limits: LoginFailurePolicy = policy) => ({
    retryAfter: (s: LoginSubject, now?: Date) => loginRetryAfter(db.prisma, limits, s, now),
    failed: (s: LoginSubject, now?: Date) => recordLoginFailure(db.prisma, limits, s, now),
    succeeded: (s: LoginSubject) => forgiveLoginFailures(db.prisma, s),
  });
  const failures = async (key: string) =>
    (await db.prisma.loginFailureCounter.findUnique({ where: { key } }))?.failures ?? 0;

  it('allows five failures per account, then answers with the seconds left in the window', async () => {
    const l = limiter();
    const ada = subject('ada@example.com', null);
    for (let i = 0; i < 5; i++) {
      assert.equal(await l.retryAfter(ada), 0, `attempt ${i + 1}`);
      await l.failed(ada);
    }
    const retry = await l.retryAfter(ada);
    assert.ok(retry > 890 && retry <= 900, `retry ${retry}`);
    assert.equal(await failures(accountCounterKey('ada@example.com')), 5, 'a refused attempt is not counted');
  });

  it('keys accounts by a digest of the normalized email, never the address itself', async () => {
    assert.equal(accountCounterKey(' Ada@Example.com '), accountCounterKey('ada@example.com'));
    assert.ok(!accountCounterKey('ada@example.com').includes('ada'));
  });

  it('forgives the account on success and keeps the IP failures', async () => {
    const l = limiter();
    const bob = subject('bob@example.com', '198.51.100.20');
    for (let i = 0; i < 4; i++) await l.failed(bob);
    await l.succeeded(bob);
    assert.equal(await failures(accountCounterKey('bob@example.com')), 0);
    assert.equal(await failures(ipCounterKey('198.51.100.20')), 4);
    assert.equal(await l.retryAfter(bob), 0);
  });

  it('limits one IP across many accounts', async () => {
    const l = limiter();
    for (let i = 0; i < 8; i++) await l.failed(subject(`user${i}@example.com`, '198.51.100.30'));
    assert.ok((await l.retryAfter(subject('fresh@example.com', '198.51.100.30'))) > 0);
    assert.equal(await l.retryAfter(subject('fresh@example.com', '198.51.100.31')), 0, 'another IP is unaffected');
  });

  it('loses no failure under a burst of concurrent ones', async () => {
    const l = limiter();
    await Promise.all(Array.from({ length: 30 }, () => l.failed(subject('burst@example.com', null))));
    assert.equal(await failures(accountCounterKey('burst@example.com')), 30);
    assert.ok((await l.retryAfter(subject('burst@example.com', null))) > 0);
  });

  it('starts a new window once the old one has ended, and gives the true retry time', async () => {
    const l = limiter();
    const carol = subject('carol@example.com', null);
    const t0 = new Date();
    for (let i = 0; i < 5; i++) await l.failed(carol, t0);
    assert.equal(await l.retryAfter(carol, new Date(t0.getTime() + 600_000)), 300);
    const later = new Date(t0.getTime() + 901_000);
    assert.equal(await l.retryAfter(carol, later), 0);
    await l.failed(carol, later);
    assert.equal(await failures(accountCounterKey('carol@example.com')), 1);
  });

  it('never touches an IP counter when per-IP limits are off', async () => {
    const l = limiter({ ...policy, perIp: null });
    for (let i = 0; i < 10; i++) await l.failed(subject(`off${i}@example.com`, '198.51.100.50'));
    assert.equal(await failures(ipCounterKey('198.51.100.50')), 0);
  });
});

describe('access-token revocations (Postgres, mirrored to Redis)', () => {
  let db: AuthTestDatabase;
  let t: TestRedis;
  let mirror: RevocationMirror;
  before(async () => {
    db = await createAuthTestDatabase();
    t = createTestRedis('test:auth');
    mirror = new RevocationMirror({ prisma: db.prisma, redis: t.redis, logger, intervalMs: 60_000 });
  });
  after(async () => {
    await mirror?.stop();
    await Promise.all([db?.close(), t?.cleanup()]);
  });

  it('denylists a jti for the rest of its life plus the clock margin', async () => {
    const now = Date.now();
    await mirror.publish([await recordDeniedAccessToken(db.prisma, 'jti-a', Math.floor(now / 1000) + 600, now)]);
    const ttl = await t.redis.ttl(authKeys.deniedAccessToken('jti-a'));
    assert.ok(ttl > 650 && ttl <= 660, `ttl ${ttl}`);
    const old = await recordDeniedAccessToken(db.prisma, 'jti-old', Math.floor(now / 1000) - 3600, now);
    assert.equal(old, null, 'a long-expired token needs no entry');
    assert.equal(await db.prisma.deniedAccessToken.count({ where: { jti: 'jti-old' } }), 0);
  });

  it('marks a user revoked at the current second for as long as an access token lives', async () => {
    const now = Date.now();
    await mirror.publish([await recordUserRevocation(db.prisma, '77', 900, now)]);
    assert.equal(await t.redis.get(authKeys.userRevokedAt('77')), String(Math.floor(now / 1000)));
    const ttl = await t.redis.ttl(authKeys.userRevokedAt('77'));
    assert.ok(ttl >= 900 && ttl <= 960, `ttl ${ttl}`);
  });

  it('reloads every live revocation after Redis lost its data, and sets the generation marker last', async () => {
    const now = Date.now();
    await recordDeniedAccessToken(db.prisma, 'jti-b', Math.floor(now / 1000) + 600, now);
    await recordUserRevocation(db.prisma, '78', 900, now);
    // Redis restarted empty: the test's keys are all that this Redis holds for it.
    const raw = t.redis.duplicate({ keyPrefix: '' });
    await deleteKeys(raw, t.prefix).finally(() => raw.disconnect());
    await mirror.sync();
    assert.ok(await t.redis.get(authKeys.revocationsGeneration));
    assert.equal(await t.redis.exists(authKeys.deniedAccessToken('jti-a'), authKeys.deniedAccessToken('jti-b')), 2);
    assert.equal(await t.redis.exists(authKeys.userRevokedAt('77'), authKeys.userRevokedAt('78')), 2);
    assert.equal(await db.prisma.deniedAccessToken.count({ where: { syncedAt: null } }), 0);
  });

  it('copies what was revoked while Redis was unreachable and renews the marker after it', async () => {
    const before = await t.redis.get(authKeys.revocationsGeneration);
    const now = Date.now();
    // Committed, but the copy to Redis failed (Redis away): the row stays unsynced.
    await recordDeniedAccessToken(db.prisma, 'jti-c', Math.floor(now / 1000) + 600, now);
    await mirror.sync();
    assert.equal(await t.redis.exists(authKeys.deniedAccessToken('jti-c')), 1);
    const after = await t.redis.get(authKeys.revocationsGeneration);
    assert.ok(after && after !== before, 'a new generation tells routers the copy is complete');
  });
});
