import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authKeys } from '@mall/platform';
import type { Redis } from 'ioredis';
import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import { AuthFailure, type AuthFailureReason, JwtVerifier, jwksUrlOf, RevocationsUnavailable } from '../src/auth.ts';
import {
  AUDIENCE,
  dropPrefix,
  generateSigningKey,
  ISSUER,
  type JwksServer,
  prefixedRedis,
  signAccessToken,
  startJwksServer,
  type TestSigningKey,
  uniquePrefix,
} from './helpers.ts';

const now = () => Math.floor(Date.now() / 1000);

const refusedWith = (reason: AuthFailureReason) => (err: unknown) => {
  assert.ok(err instanceof AuthFailure, `expected AuthFailure, got ${String(err)}`);
  assert.equal(err.reason, reason);
  return true;
};

describe('jwksUrlOf', () => {
  it('derives the JWKS URL from the auth GraphQL URL', () => {
    assert.equal(jwksUrlOf('http://127.0.0.1:4001/graphql').href, 'http://127.0.0.1:4001/.well-known/jwks.json');
    assert.equal(
      jwksUrlOf('https://auth.internal/auth/graphql/').href,
      'https://auth.internal/auth/.well-known/jwks.json',
    );
    assert.equal(jwksUrlOf('http://auth:4001').href, 'http://auth:4001/.well-known/jwks.json');
  });
});

describe('JwtVerifier', () => {
  const prefix = uniquePrefix('auth');
  let redis: Redis;
  let jwks: JwksServer;
  let es: TestSigningKey;
  let ed: TestSigningKey;
  let verifier: JwtVerifier;
  const newVerifier = (cooldownMs = 0, now?: () => number) =>
    new JwtVerifier({
      jwksUrl: new URL(`${jwks.url}/.well-known/jwks.json`),
      issuer: ISSUER,
      audience: AUDIENCE,
      redis,
      cooldownMs,
      ...(now ? { now } : {}),
    });

  before(async () => {
    redis = prefixedRedis(prefix);
    // What auth's revocation mirror keeps in Redis while Redis holds every revocation.
    await redis.set(authKeys.revocationsGeneration, 'g1');
    es = await generateSigningKey('ES256');
    ed = await generateSigningKey('EdDSA');
    jwks = await startJwksServer([es.publicJwk, ed.publicJwk]);
    verifier = newVerifier();
  });
  after(async () => {
    await jwks.stop();
    await dropPrefix(prefix);
    await redis.quit();
  });

  it('accepts valid ES256 and EdDSA tokens and returns the caller', async () => {
    const iat = now();
    const token = await signAccessToken(es, {
      sub: 'u-42',
      roles: ['CUSTOMER', 'MERCHANT'],
      sid: 'fam-1',
      jti: 'jti-1',
      iat,
    });
    assert.deepEqual(await verifier.verify(token), {
      userId: 'u-42',
      roles: ['CUSTOMER', 'MERCHANT'],
      session: { id: 'fam-1', tokenId: 'jti-1', expiresAt: iat + 900 },
      // Kept so an open subscription can be re-checked against a later user-wide revocation.
      issuedAt: iat,
    });
    const caller = await verifier.authenticate(`Bearer ${await signAccessToken(ed, { sub: 'u-43' })}`);
    assert.equal(caller?.userId, 'u-43');
  });

  it('treats a missing Authorization header as anonymous and a malformed one as a failure', async () => {
    assert.equal(await verifier.authenticate(undefined), null);
    await assert.rejects(verifier.authenticate('Basic dXNlcjpwYXNz'), refusedWith('malformed'));
    await assert.rejects(verifier.authenticate('Bearer '), refusedWith('malformed'));
    await assert.rejects(verifier.authenticate('Bearer not.a.jwt'), refusedWith('malformed'));
  });

  it('drops roles it does not know instead of trusting them', async () => {
    const caller = await verifier.verify(await signAccessToken(es, { roles: ['CUSTOMER', 'SUPERUSER'] }));
    assert.deepEqual(caller.roles, ['CUSTOMER']);
  });

  it('refuses an expired token', async () => {
    const iat = now() - 600;
    await assert.rejects(verifier.verify(await signAccessToken(es, { iat, exp: iat + 540 })), refusedWith('expired'));
  });

  it('refuses a token that lives longer than auth ever issues', async () => {
    const iat = now() - 3600;
    await assert.rejects(verifier.verify(await signAccessToken(es, { iat, exp: now() + 600 })), refusedWith('expired'));
  });

  it('refuses a token issued in the future beyond the clock tolerance, not one within it', async () => {
    await assert.rejects(verifier.verify(await signAccessToken(es, { iat: now() + 60 })), refusedWith('claims'));
    assert.equal(
      (await verifier.verify(await signAccessToken(ed, { sub: 'u-ahead', iat: now() + 5 }))).userId,
      'u-ahead',
    );
  });

  it('refuses alg "none"', async () => {
    const unsigned = new UnsecuredJWT({ sub: 'admin', roles: ['ADMIN'], sid: 's', jti: 'j' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode();
    await assert.rejects(verifier.verify(unsigned), refusedWith('alg_not_allowed'));
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    const claims = { sub: 'admin', roles: ['ADMIN'], sid: 's', jti: 'j' };
    for (const secret of [JSON.stringify(es.publicJwk), es.publicJwk.x ?? '']) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: es.kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
      await assert.rejects(verifier.verify(forged), refusedWith('alg_not_allowed'));
    }
  });

  it('refuses a wrong issuer or audience', async () => {
    await assert.rejects(verifier.verify(await signAccessToken(es, { iss: 'someone-else' })), refusedWith('claims'));
    await assert.rejects(verifier.verify(await signAccessToken(es, { aud: 'another-api' })), refusedWith('claims'));
  });

  it('refuses a tampered payload', async () => {
    const [header, payload, signature] = (await signAccessToken(es, { sub: 'u-1', roles: ['CUSTOMER'] })).split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ''))) as Record<string, unknown>;
    const forgedPayload = base64url.encode(JSON.stringify({ ...claims, sub: 'u-admin', roles: ['ADMIN'] }));
    await assert.rejects(verifier.verify(`${header}.${forgedPayload}.${signature}`), refusedWith('bad_signature'));
  });

  it('refuses tokens without the claims auth always sets', async () => {
    for (const claim of ['jti', 'sid', 'sub', 'exp'] as const) {
      await assert.rejects(verifier.verify(await signAccessToken(es, { omit: [claim] })), refusedWith('claims'), claim);
    }
  });

  it('caches the key set instead of fetching it per token', async () => {
    await verifier.verify(await signAccessToken(es));
    const fetched = jwks.fetches;
    for (let i = 0; i < 5; i++) await verifier.verify(await signAccessToken(i % 2 ? es : ed));
    assert.equal(jwks.fetches, fetched);
  });

  it('refetches on an unknown kid, so a rotated-in key works without a restart', async () => {
    const next = await generateSigningKey('EdDSA');
    const token = await signAccessToken(next, { sub: 'u-rotated' });
    const before = jwks.fetches;
    await assert.rejects(verifier.verify(token), refusedWith('unknown_kid'));
    assert.equal(jwks.fetches, before + 1, 'an unknown kid triggers one refetch');

    jwks.setKeys([es.publicJwk, ed.publicJwk, next.publicJwk]);
    assert.equal((await verifier.verify(token)).userId, 'u-rotated');
  });

  it('does not let unknown kids hammer auth within the cooldown', async () => {
    const cooling = newVerifier(60_000);
    await cooling.verify(await signAccessToken(es));
    const before = jwks.fetches;
    const stranger = await generateSigningKey('ES256');
    for (let i = 0; i < 3; i++)
      await assert.rejects(cooling.verify(await signAccessToken(stranger)), refusedWith('unknown_kid'));
    assert.equal(jwks.fetches, before);
  });

  it('refuses a token without a kid', async () => {
    const token = await new SignJWT({ sub: 'u', roles: [], sid: 's', jti: 'j' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(es.privateKey);
    await assert.rejects(verifier.verify(token), refusedWith('unknown_kid'));
  });

  it('refuses a logged-out (denylisted) jti', async () => {
    const token = await signAccessToken(es, { jti: 'jti-logged-out' });
    await verifier.verify(token);
    await redis.set(authKeys.deniedAccessToken('jti-logged-out'), '1', 'EX', 60);
    await assert.rejects(verifier.verify(token), refusedWith('denylisted'));
  });

  it('remembers a verified signature only until the token expires; revocations are looked up every time', async () => {
    let now = Date.now();
    const clocked = newVerifier(0, () => now);
    const exp = Math.floor(now / 1000) + 60;
    const token = await signAccessToken(es, { jti: 'jti-cached', exp });
    assert.equal((await clocked.verify(token)).session.tokenId, 'jti-cached');
    await redis.set(authKeys.deniedAccessToken('jti-cached'), '1', 'EX', 60);
    await assert.rejects(clocked.verify(token), refusedWith('denylisted'));
    await redis.del(authKeys.deniedAccessToken('jti-cached'));
    assert.equal((await clocked.verify(token)).session.tokenId, 'jti-cached');
    now = (exp + 11) * 1000;
    await assert.rejects(clocked.verify(token), refusedWith('expired'));
  });

  it('runs the per-user check alongside the revocation lookup; a refused token wins over its answer', async () => {
    const seen: string[] = [];
    const limited = async (userId: string) => {
      seen.push(userId);
      throw new Error('rate limited');
    };
    const token = await signAccessToken(es, { sub: 'u-side', jti: 'jti-side' });
    await assert.rejects(verifier.verify(token, limited), /rate limited/);
    await redis.set(authKeys.deniedAccessToken('jti-side'), '1', 'EX', 60);
    await assert.rejects(verifier.verify(token, limited), refusedWith('denylisted'));
    assert.deepEqual(seen, ['u-side', 'u-side']);
  });

  it('refuses to decide while Redis has lost the revocations (no generation marker), then decides again', async () => {
    const token = await signAccessToken(es, { jti: 'jti-after-flush' });
    await redis.del(authKeys.revocationsGeneration);
    await assert.rejects(verifier.verify(token), (err) => {
      assert.ok(err instanceof RevocationsUnavailable, 'not an AuthFailure: the token is not known to be bad');
      return true;
    });
    await redis.set(authKeys.revocationsGeneration, 'g2');
    assert.equal((await verifier.verify(token)).session.tokenId, 'jti-after-flush');
  });

  it('after losing its Redis connection, trusts Redis again only once auth has renewed the marker', async () => {
    const token = await signAccessToken(es, { jti: 'jti-after-cut' });
    await redis.set(authKeys.revocationsGeneration, 'g3');
    await verifier.verify(token);
    // What ioredis emits when the connection breaks; auth may have revoked tokens it could not copy meanwhile.
    redis.emit('close');
    await assert.rejects(verifier.verify(token), RevocationsUnavailable);
    await redis.set(authKeys.revocationsGeneration, 'g4');
    assert.equal((await verifier.verify(token)).session.tokenId, 'jti-after-cut');
  });

  it('refuses tokens issued at or before the user was revoked, not later ones', async () => {
    const revokedAt = now() - 5;
    await redis.set(authKeys.userRevokedAt('u-revoked'), String(revokedAt), 'EX', 60);
    await assert.rejects(
      verifier.verify(await signAccessToken(es, { sub: 'u-revoked', iat: revokedAt - 10 })),
      refusedWith('revoked'),
    );
    await assert.rejects(
      verifier.verify(await signAccessToken(es, { sub: 'u-revoked', iat: revokedAt })),
      refusedWith('revoked'),
    );
    assert.equal(
      (await verifier.verify(await signAccessToken(es, { sub: 'u-revoked', iat: revokedAt + 1 }))).userId,
      'u-revoked',
    );
  });

  it('reports an unreachable key set as its own fault, not as a bad token', async () => {
    const fresh = newVerifier();
    jwks.setDown(true);
    try {
      await assert.rejects(fresh.verify(await signAccessToken(es)), (err) => !(err instanceof AuthFailure));
    } finally {
      jwks.setDown(false);
    }
  });
});
