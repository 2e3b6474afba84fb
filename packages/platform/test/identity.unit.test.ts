import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AppError } from '../src/errors.ts';
import {
  anonymous,
  IdentitySigner,
  IdentityTokens,
  IdentityVerifier,
  type Role,
  requireRole,
  requireService,
  requireUser,
  type Session,
} from '../src/index.ts';

const SECRET = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

async function rejects(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (err: unknown) => err instanceof AppError && err.code === code);
}

describe('identity tokens', () => {
  const verifier = new IdentityVerifier(SECRET, 'user', ['router', 'auth']);

  it('round-trips the caller, roles, session and client IP', async () => {
    const token = await new IdentitySigner(SECRET, 'router').sign({
      userId: '42',
      roles: ['CUSTOMER', 'ADMIN'],
      requestId: 'req-1',
      audience: 'user',
      session: { id: 's1', tokenId: 'j1', expiresAt: 2_000_000_000 },
      clientIp: '127.0.0.1',
    });
    assert.deepEqual(await verifier.verify(token), {
      userId: '42',
      roles: ['CUSTOMER', 'ADMIN'],
      requestId: 'req-1',
      issuer: 'router',
      session: { id: 's1', tokenId: 'j1', expiresAt: 2_000_000_000 },
      clientIp: '127.0.0.1',
    });
  });

  it('refuses missing, forged, misdirected, untrusted, unsigned and expired tokens', async () => {
    await rejects(verifier.verify(undefined), 'UNAUTHENTICATED');
    await rejects(verifier.verify('not.a.jwt'), 'UNAUTHENTICATED');
    const forged = await new IdentitySigner(OTHER, 'router').sign({
      userId: '1',
      roles: ['ADMIN'],
      requestId: 'r',
      audience: 'user',
    });
    await rejects(verifier.verify(forged), 'UNAUTHENTICATED');
    const forAuth = await new IdentitySigner(SECRET, 'router').sign({
      userId: '1',
      roles: [],
      requestId: 'r',
      audience: 'auth',
    });
    await rejects(verifier.verify(forAuth), 'UNAUTHENTICATED');
    const fromProduct = await new IdentitySigner(SECRET, 'product').sign({
      userId: null,
      roles: [],
      requestId: 'r',
      audience: 'user',
    });
    await rejects(verifier.verify(fromProduct), 'UNAUTHENTICATED');
    const unsigned = new UnsecuredJWT({ roles: ['ADMIN'], rid: 'r' })
      .setIssuer('router')
      .setAudience('user')
      .setIssuedAt()
      .setExpirationTime('1m')
      .encode();
    await rejects(verifier.verify(unsigned), 'UNAUTHENTICATED');
    const expired = await new SignJWT({ roles: [], rid: 'r' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('router')
      .setAudience('user')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 500)
      .sign(Buffer.from(SECRET));
    await rejects(verifier.verify(expired), 'UNAUTHENTICATED');
  });

  // A verified token is kept under its exact text; these would pass if the cache skipped a check it must keep.
  describe('reusing a verified token', () => {
    const nowS = () => Math.floor(Date.now() / 1000);
    const signed = (claims: { iat: number; exp: number }) =>
      new SignJWT({ roles: ['CUSTOMER'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('router')
        .setAudience('user')
        .setSubject('42')
        .setIssuedAt(claims.iat)
        .setExpirationTime(claims.exp)
        .sign(Buffer.from(SECRET));
    const changed = (token: string, at: number) =>
      `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;

    it('refuses a token differing in one byte from one just verified', async () => {
      const verifier = new IdentityVerifier(SECRET, 'user', ['router']);
      const token = await new IdentitySigner(SECRET, 'router').sign({
        userId: '42',
        roles: ['CUSTOMER'],
        audience: 'user',
      });
      assert.equal((await verifier.verify(token)).userId, '42');
      assert.equal((await verifier.verify(token)).userId, '42');
      const [header = '', payload = ''] = token.split('.');
      // A byte of the payload (another claim set under the same signature), of the signature, of the header,
      // and the token with a byte more: none is the token that was verified.
      for (const other of [
        changed(token, header.length + 1 + Math.floor(payload.length / 2)),
        changed(token, token.length - 10),
        changed(token, 5),
        `${token}A`,
      ]) {
        assert.notEqual(other, token);
        await rejects(verifier.verify(other), 'UNAUTHENTICATED');
      }
      assert.equal((await verifier.verify(token)).userId, '42');
    });

    it('refuses a reused token once it is past its expiry, as a fresh check would', async () => {
      const verifier = new IdentityVerifier(SECRET, 'user', ['router']);
      // Expired 4–5 s ago: still inside fast-jwt's 5 s clock tolerance for about one more second.
      const token = await signed({ iat: nowS() - 10, exp: nowS() - 4 });
      assert.equal((await verifier.verify(token)).userId, '42');
      assert.equal((await verifier.verify(token)).userId, '42');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await rejects(verifier.verify(token), 'UNAUTHENTICATED');
    });

    it('refuses a reused token once it is older than the maximum age, whatever its exp says', async () => {
      const verifier = new IdentityVerifier(SECRET, 'user', ['router']);
      // Issued 63–64 s ago (the limit is 65 s, counted from the whole second of iat), expiring only in 10
      // minutes: at least a second of its life left for the first checks, so a second boundary crossed while
      // signing cannot age it out early (64 s ago did, now and then).
      const iat = nowS() - 63;
      const token = await signed({ iat, exp: nowS() + 600 });
      assert.equal((await verifier.verify(token)).userId, '42');
      assert.equal((await verifier.verify(token)).userId, '42');
      // Then wait out the rest of its maximum age, by the clock the verifier reads.
      const pastMaxAge = iat * 1000 + 65_000 + 50;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pastMaxAge - Date.now())));
      await rejects(verifier.verify(token), 'UNAUTHENTICATED');
    });

    it('hands every request the same identity, which none can change for the others', async () => {
      const verifier = new IdentityVerifier(SECRET, 'user', ['router']);
      const token = await new IdentitySigner(SECRET, 'router').sign({
        userId: '42',
        roles: ['CUSTOMER'],
        audience: 'user',
        session: { id: 's1', tokenId: 'j1', expiresAt: 2_000_000_000 },
      });
      const first = await verifier.verify(token);
      assert.throws(() => (first.roles as Role[]).push('ADMIN'), TypeError);
      assert.throws(() => {
        (first as { userId: string | null }).userId = '1';
      }, TypeError);
      assert.throws(() => {
        (first.session as { id: string }).id = 'other';
      }, TypeError);
      assert.deepEqual((await verifier.verify(token)).roles, ['CUSTOMER']);
    });
  });

  it('guards users, roles and internal operations', () => {
    const customer = { ...anonymous('r'), userId: '7', roles: ['CUSTOMER'] as const };
    assert.equal(requireUser(customer), '7');
    assert.throws(
      () => requireUser(anonymous('r')),
      (e: unknown) => e instanceof AppError && e.code === 'UNAUTHENTICATED',
    );
    assert.throws(
      () => requireRole(customer, 'MERCHANT'),
      (e: unknown) => e instanceof AppError && e.code === 'FORBIDDEN',
    );
    assert.equal(requireRole({ ...customer, roles: ['ADMIN'] }, 'MERCHANT'), '7');
    assert.throws(
      () => requireService(customer, 'auth'),
      (e: unknown) => e instanceof AppError && e.code === 'FORBIDDEN',
    );
    assert.doesNotThrow(() => requireService(anonymous('r', 'auth'), 'auth'));
  });
});

const session = (id: string): Session => ({ id, tokenId: `${id}-jti`, expiresAt: 4_102_444_800 });

describe('IdentityTokens', () => {
  const signer = new IdentitySigner(SECRET, 'router');
  const verifier = new IdentityVerifier(SECRET, 'products', ['router']);
  const who = (userId: string | null, clientIp = '203.0.113.7') => ({
    userId,
    roles: userId ? (['CUSTOMER'] as Role[]) : [],
    session: userId ? session(`s-${userId}`) : null,
    clientIp,
  });

  it('one token per caller and audience, reused for 30 s, then a fresh one', async () => {
    let now = 1_000_000;
    const tokens = new IdentityTokens(signer, () => now);
    const first = tokens.for('products', who('u1'));
    assert.equal(tokens.for('products', who('u1')), first);
    assert.notEqual(tokens.for('orders', who('u1')), first);
    assert.notEqual(tokens.for('products', who('u2')), first);
    assert.notEqual(tokens.for('products', who('u1', '198.51.100.1')), first);
    assert.notEqual(tokens.for('products', who(null)), first);
    now += 29_999;
    assert.equal(tokens.for('products', who('u1')), first);
    now += 1;
    const second = tokens.for('products', who('u1'));
    assert.notEqual(second, first);
    assert.equal((await verifier.verify(second)).userId, 'u1');
  });
});
