import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { createLogger, IDENTITY_HEADER, loadConfig } from '@mall/platform';
import { Registry } from 'prom-client';
import { AuthFailure, type Caller, CONFIRMED } from '../src/auth.ts';
import { createAdmission, Rejection } from '../src/context.ts';
import type { RateLimitDecision } from '../src/limits.ts';
import { createRouterMetrics } from '../src/metrics.ts';

const logger = createLogger({ service: 'admission-test', level: 'silent' });
const caller: Caller = { userId: 'u-1', roles: ['CUSTOMER'], session: { id: 's', tokenId: 'j', expiresAt: 0 } };

function request(headers: Record<string, string> = {}, remoteAddress = '127.0.0.1'): IncomingMessage {
  return { headers: { ...headers }, socket: { remoteAddress } } as unknown as IncomingMessage;
}

function admission(options: {
  authenticate?: (authorization: string | undefined) => Promise<Caller | null>;
  /** The revocation lookup's verdict on a token whose signature held (default: not revoked). */
  revocation?: () => Promise<void>;
  hit?: (bucket: string, limit: number) => Promise<RateLimitDecision | null>;
  /** Buckets the limiter already knows to be over their limit (refused without counting). */
  blocked?: ReadonlySet<string>;
  env?: Record<string, string>;
}) {
  const buckets: string[] = [];
  const verified: (string | undefined)[] = [];
  const { admit, admitStaged } = createAdmission({
    config: loadConfig({
      NODE_ENV: 'test',
      RATE_LIMIT_IP_PER_MINUTE: '10',
      RATE_LIMIT_USER_PER_MINUTE: '5',
      ...options.env,
    }),
    logger,
    verifier: {
      // Like JwtVerifier: once the signature holds, the revocation lookup and `alongside` (the user limit)
      // run for the caller's id, and `confirmed` settles when both have.
      authenticateStaged: async (authorization, alongside) => {
        verified.push(authorization);
        const who = await (options.authenticate ?? (async (a) => (a ? caller : null)))(authorization);
        if (!who) return { caller: null, confirmed: CONFIRMED };
        const checks = [options.revocation?.() ?? Promise.resolve(), alongside?.(who.userId) ?? Promise.resolve()];
        return {
          caller: who,
          confirmed: Promise.allSettled(checks).then(([revoked, side]) => {
            if (revoked?.status === 'rejected') throw revoked.reason;
            if (side?.status === 'rejected') throw side.reason;
          }),
        };
      },
    },
    limiter: {
      hit: async (bucket, limit) => {
        buckets.push(`${bucket}/${limit}`);
        return options.hit ? options.hit(bucket, limit) : { allowed: true, count: 1, limit, retryAfterSeconds: 60 };
      },
      blocked: (bucket, limit) =>
        options.blocked?.has(bucket) ? { allowed: false, count: limit + 1, limit, retryAfterSeconds: 42 } : null,
    },
    metrics: createRouterMetrics(new Registry()),
  });
  return { admit, admitStaged, buckets, verified };
}

const rejectedWith = (status: number, code: string) => (err: unknown) => {
  assert.ok(err instanceof Rejection, String(err));
  assert.equal(err.status, status);
  assert.equal(err.error.extensions?.['code'], code);
  return true;
};

describe('createAdmission', () => {
  it('builds the context: caller, client IP, request id, and checks the IP then the user bucket', async () => {
    const { admit, buckets } = admission({});
    const req = request({ authorization: 'Bearer t', 'x-forwarded-for': '198.51.100.9', [IDENTITY_HEADER]: 'forged' });
    const context = await admit(req, 'rid-1');
    assert.deepEqual([context.requestId, context.clientIp, context.caller], ['rid-1', '198.51.100.9', caller]);
    assert.equal(context.deadline.aborted, false);
    assert.deepEqual(buckets, ['ip:198.51.100.9/10', 'user:u-1/5']);
    assert.equal(req.headers[IDENTITY_HEADER], undefined);
  });

  it('checks only the IP bucket for anonymous callers', async () => {
    const { admit, buckets } = admission({});
    assert.equal((await admit(request(), 'rid')).caller, null);
    assert.deepEqual(buckets, ['ip:127.0.0.1/10']);
  });

  it('turns an AuthFailure into 401 UNAUTHENTICATED, saying only whether the token expired', async () => {
    const failing = (reason: 'expired' | 'bad_signature') =>
      admission({
        authenticate: async () => {
          throw new AuthFailure(reason, 'detail the client must not see');
        },
      }).admit(request({ authorization: 'Bearer t' }), 'rid');
    await assert.rejects(
      failing('expired'),
      (err) => rejectedWith(401, 'UNAUTHENTICATED')(err) && (err as Rejection).error.message === 'Access token expired',
    );
    await assert.rejects(failing('bad_signature'), (err) => {
      assert.ok(err instanceof Rejection);
      assert.equal(err.error.message, 'Invalid access token');
      assert.equal(err.headers['www-authenticate'], 'Bearer error="invalid_token"');
      return true;
    });
  });

  it('answers 503 when tokens cannot be checked at all, instead of letting them through', async () => {
    const { admit } = admission({
      authenticate: async () => {
        throw new Error('JWKS fetch failed: ECONNREFUSED');
      },
    });
    await assert.rejects(admit(request({ authorization: 'Bearer t' }), 'rid'), (err) => {
      rejectedWith(503, 'UNAVAILABLE')(err);
      assert.doesNotMatch((err as Rejection).error.message, /JWKS|ECONNREFUSED/);
      return true;
    });
  });

  it('refuses over the limit with 429 RATE_LIMITED and Retry-After', async () => {
    const { admit } = admission({
      hit: async (_bucket, limit) => ({ allowed: false, count: limit + 1, limit, retryAfterSeconds: 17 }),
    });
    await assert.rejects(admit(request(), 'rid'), (err) => {
      rejectedWith(429, 'RATE_LIMITED')(err);
      assert.equal((err as Rejection).error.extensions?.['retryAfterSeconds'], 17);
      assert.equal((err as Rejection).headers['retry-after'], '17');
      return true;
    });
  });

  it('admits when the rate limiter itself fails', async () => {
    const { admit } = admission({
      hit: async () => {
        throw new Error('redis down');
      },
    });
    assert.equal((await admit(request({ authorization: 'Bearer t' }), 'rid')).caller, caller);
  });

  it('staged: hands out the claimed caller at once and settles `confirmed` with the revocation verdict', async () => {
    let revoke!: (err?: unknown) => void;
    const verdict = new Promise<void>((resolve, reject) => {
      revoke = (err) => (err ? reject(err) : resolve());
    });
    const { admitStaged, buckets } = admission({ revocation: () => verdict });
    const context = await admitStaged(request({ authorization: 'Bearer t' }), 'rid');
    // The caller is only claimed until the lookup answers: `confirmed` is still pending.
    assert.equal(context.caller, caller);
    const settled = await Promise.race([context.confirmed.then(() => 'settled'), Promise.resolve('pending')]);
    assert.equal(settled, 'pending');
    revoke(new AuthFailure('denylisted', 'Access token revoked'));
    await assert.rejects(context.confirmed, rejectedWith(401, 'UNAUTHENTICATED'));
    assert.deepEqual(buckets, ['ip:127.0.0.1/10', 'user:u-1/5']);
  });

  it('staged: the user limit refuses through `confirmed`; the full admit waits for it', async () => {
    const over = admission({
      hit: async (bucket, limit) =>
        bucket.startsWith('user:')
          ? { allowed: false, count: limit + 1, limit, retryAfterSeconds: 9 }
          : { allowed: true, count: 1, limit, retryAfterSeconds: 60 },
    });
    const context = await over.admitStaged(request({ authorization: 'Bearer t' }), 'rid');
    await assert.rejects(context.confirmed, rejectedWith(429, 'RATE_LIMITED'));
    await assert.rejects(over.admit(request({ authorization: 'Bearer t' }), 'rid'), rejectedWith(429, 'RATE_LIMITED'));
    const revoked = admission({ revocation: async () => Promise.reject(new AuthFailure('revoked')) });
    await assert.rejects(
      revoked.admit(request({ authorization: 'Bearer t' }), 'rid'),
      rejectedWith(401, 'UNAUTHENTICATED'),
    );
  });

  it('staged: the per-IP count joins `confirmed` instead of holding the request up', async () => {
    let answer!: (decision: RateLimitDecision) => void;
    const ipAnswer = new Promise<RateLimitDecision>((resolve) => {
      answer = resolve;
    });
    const { admitStaged, buckets } = admission({
      hit: async (bucket, limit) =>
        bucket.startsWith('ip:') ? ipAnswer : { allowed: true, count: 1, limit, retryAfterSeconds: 60 },
    });
    // Both counts are sent before the context is handed out, and it is handed out before Redis answers
    // (within the turn of the event loop, which is all the fake verifier and limiter take).
    for (const headers of [{ authorization: 'Bearer t' }, {}] as Record<string, string>[]) {
      const staged = admitStaged(request(headers), 'rid');
      const turn = new Promise<'waiting'>((resolve) => setImmediate(() => resolve('waiting')));
      const first = await Promise.race([staged, turn]);
      assert.notEqual(first, 'waiting', `admission waited for the IP count (${JSON.stringify(headers)})`);
      const context = await staged;
      const settled = await Promise.race([context.confirmed.then(() => 'settled'), Promise.resolve('pending')]);
      assert.equal(settled, 'pending', JSON.stringify(headers));
    }
    assert.deepEqual(buckets, ['ip:127.0.0.1/10', 'user:u-1/5', 'ip:127.0.0.1/10']);
    const context = await admitStaged(request({ authorization: 'Bearer t' }), 'rid');
    answer({ allowed: false, count: 11, limit: 10, retryAfterSeconds: 30 });
    await assert.rejects(context.confirmed, rejectedWith(429, 'RATE_LIMITED'));
  });

  it('an address over its limit hears 429, not whether its token is any good', async () => {
    const { admit } = admission({
      authenticate: async () => {
        throw new AuthFailure('bad_signature', 'forged');
      },
      hit: async (bucket, limit) => ({ allowed: !bucket.startsWith('ip:'), count: 11, limit, retryAfterSeconds: 5 }),
    });
    await assert.rejects(admit(request({ authorization: 'Bearer forged' }), 'rid'), rejectedWith(429, 'RATE_LIMITED'));
  });

  it('refuses an address already known to be over its limit before counting it or checking its token', async () => {
    const { admitStaged, buckets, verified } = admission({ blocked: new Set(['ip:203.0.113.7']) });
    await assert.rejects(
      admitStaged(request({ authorization: 'Bearer t', 'x-forwarded-for': '203.0.113.7' }), 'rid'),
      (err) => rejectedWith(429, 'RATE_LIMITED')(err) && (err as Rejection).headers['retry-after'] === '42',
    );
    assert.deepEqual([buckets, verified], [[], []]);
    // Another address is counted and checked as usual.
    await admitStaged(request({ authorization: 'Bearer t', 'x-forwarded-for': '203.0.113.8' }), 'rid');
    assert.deepEqual([buckets, verified], [['ip:203.0.113.8/10', 'user:u-1/5'], ['Bearer t']]);
  });

  it('with the limits off, asks the limiter nothing and confirms at once', async () => {
    const { admitStaged, buckets } = admission({
      env: { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' },
    });
    const context = await admitStaged(request(), 'rid');
    assert.equal(context.confirmed, CONFIRMED);
    await admitStaged(request({ authorization: 'Bearer t' }), 'rid');
    assert.deepEqual(buckets, []);
  });
});
