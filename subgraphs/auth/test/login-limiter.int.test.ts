import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authKeys } from '@mall/platform';
import { createTestRedis, type TestRedis } from '@mall/platform/testing';
import type { Redis } from 'ioredis';
import { denyAccessToken, revokeUserAccessTokens } from '../data/access-revocations.ts';
import {
  accountCounterKey,
  countLoginAttempt,
  forgiveLoginAttempt,
  ipCounterKey,
  refundLoginAttempt,
} from '../data/login-limiter.ts';
import type { LoginFailurePolicy, LoginSubject } from '../domain/login-policy.ts';

const policy = { windowSeconds: 900, perAccount: 5, perIp: 8 };

/** The three limiter calls bound to one client and policy, as AuthService.login makes them. */
const loginLimiter = (redis: Redis, limits: LoginFailurePolicy) => ({
  attempt: (subject: LoginSubject) => countLoginAttempt(redis, limits, subject),
  succeeded: (subject: LoginSubject) => forgiveLoginAttempt(redis, limits, subject),
  refund: (subject: LoginSubject) => refundLoginAttempt(redis, limits, subject),
});

describe('login limiter (Redis)', () => {
  let t: TestRedis;
  before(async () => {
    t = createTestRedis('test:auth');
  });
  after(() => t?.cleanup());

  const subject = (email: string, ip: string | null = '198.51.100.7') => ({ email, ip });

  it('allows five failures per account, then answers with the seconds left in the window', async () => {
    const limiter = loginLimiter(t.redis, policy);
    const ada = subject('ada@example.com', null);
    for (let i = 0; i < 5; i++) assert.equal(await limiter.attempt(ada), 0, `attempt ${i + 1}`);
    const retry = await limiter.attempt(ada);
    assert.ok(retry > 890 && retry <= 900, `retry ${retry}`);
    assert.equal(await t.redis.get(accountCounterKey('ada@example.com')), '5', 'a refused attempt is not counted');
    assert.ok((await t.redis.ttl(accountCounterKey('ada@example.com'))) > 0);
  });

  it('keys accounts by a digest of the normalized email, never the address itself', async () => {
    assert.equal(accountCounterKey(' Ada@Example.com '), accountCounterKey('ada@example.com'));
    assert.ok(!accountCounterKey('ada@example.com').includes('ada'));
  });

  it('forgives the account on success and uncounts the attempt for the IP', async () => {
    const limiter = loginLimiter(t.redis, policy);
    const bob = subject('bob@example.com', '198.51.100.20');
    for (let i = 0; i < 4; i++) await limiter.attempt(bob);
    await limiter.attempt(bob);
    await limiter.succeeded(bob);
    assert.equal(await t.redis.exists(accountCounterKey('bob@example.com')), 0);
    assert.equal(await t.redis.get(ipCounterKey('198.51.100.20')), '4');
    assert.equal(await limiter.attempt(bob), 0);
  });

  it('limits one IP across many accounts', async () => {
    const limiter = loginLimiter(t.redis, policy);
    for (let i = 0; i < 8; i++)
      assert.equal(await limiter.attempt(subject(`user${i}@example.com`, '198.51.100.30')), 0);
    assert.ok((await limiter.attempt(subject('fresh@example.com', '198.51.100.30'))) > 0);
    assert.equal(await limiter.attempt(subject('fresh@example.com', '198.51.100.31')), 0, 'another IP is unaffected');
  });

  it('counts exactly up to the limit under a burst of concurrent guesses', async () => {
    const limiter = loginLimiter(t.redis, policy);
    const results = await Promise.all(
      Array.from({ length: 30 }, () => limiter.attempt(subject('burst@example.com', null))),
    );
    assert.equal(results.filter((r) => r === 0).length, 5);
  });

  it('refunds an attempt without ever creating a counter that would not expire', async () => {
    const limiter = loginLimiter(t.redis, policy);
    const carol = subject('carol@example.com', '198.51.100.40');
    await limiter.attempt(carol);
    await limiter.refund(carol);
    assert.equal(await t.redis.get(accountCounterKey('carol@example.com')), '0');
    assert.equal(await t.redis.get(ipCounterKey('198.51.100.40')), '0');
    await limiter.refund(subject('nobody@example.com', '198.51.100.41'));
    assert.equal(await t.redis.exists(accountCounterKey('nobody@example.com'), ipCounterKey('198.51.100.41')), 0);
  });

  it('never touches an IP counter when per-IP limits are off', async () => {
    const limiter = loginLimiter(t.redis, { ...policy, perIp: null });
    for (let i = 0; i < 10; i++) await limiter.attempt(subject(`off${i}@example.com`, '198.51.100.50'));
    assert.equal(await t.redis.exists(ipCounterKey('198.51.100.50')), 0);
  });
});

describe('access-token revocations', () => {
  let t: TestRedis;
  before(async () => {
    t = createTestRedis('test:auth');
  });
  after(() => t?.cleanup());

  it('denylists a jti for the rest of its life plus the clock margin', async () => {
    const now = 1_800_000_000_000;
    await denyAccessToken(t.redis, 'jti-a', now / 1000 + 600, now);
    const ttl = await t.redis.ttl(authKeys.deniedAccessToken('jti-a'));
    assert.ok(ttl > 650 && ttl <= 660, `ttl ${ttl}`);
    await denyAccessToken(t.redis, 'jti-old', now / 1000 - 3600, now);
    assert.equal(await t.redis.exists(authKeys.deniedAccessToken('jti-old')), 0, 'a long-expired token needs no entry');
  });

  it('marks a user revoked at the current second for as long as an access token lives', async () => {
    await revokeUserAccessTokens(t.redis, '77', 900, 1_800_000_000_500);
    assert.equal(await t.redis.get(authKeys.userRevokedAt('77')), '1800000000');
    const ttl = await t.redis.ttl(authKeys.userRevokedAt('77'));
    assert.ok(ttl >= 900 && ttl <= 960, `ttl ${ttl}`);
  });
});
