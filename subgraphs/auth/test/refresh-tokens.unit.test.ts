import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashRefreshToken } from '../data/session-store.ts';
import {
  decideRefresh,
  generateRefreshToken as generate,
  isWellFormedRefreshToken,
  refreshTokenExpiry,
  type StoredRefreshToken,
} from '../domain/refresh-tokens.ts';

const generateRefreshToken = () => generate(randomBytes);

describe('refresh token material', () => {
  it('is 256 random bits as 43 base64url characters, never repeating', () => {
    const tokens = new Set(Array.from({ length: 1000 }, generateRefreshToken));
    assert.equal(tokens.size, 1000);
    for (const token of tokens) {
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(token, 'base64url').length, 32);
      assert.ok(isWellFormedRefreshToken(token));
    }
  });

  it('is exactly the random bytes it was given, base64url-encoded', () => {
    const sizes: number[] = [];
    const token = generate((size) => {
      sizes.push(size);
      return new Uint8Array(size).fill(0xfb);
    });
    assert.deepEqual(sizes, [32]);
    assert.equal(token, Buffer.alloc(32, 0xfb).toString('base64url'));
  });

  it('is stored as its SHA-256 digest: stable, 32 bytes, and different per token', () => {
    const token = generateRefreshToken();
    const digest = hashRefreshToken(token);
    assert.equal(digest.length, 32);
    assert.deepEqual(hashRefreshToken(token), digest);
    assert.notDeepEqual(hashRefreshToken(generateRefreshToken()), digest);
    // A known vector, so the digest cannot silently change (every stored token would stop matching).
    assert.equal(
      Buffer.from(hashRefreshToken('abc')).toString('hex'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('rejects anything that is not shaped like one of ours without a lookup', () => {
    for (const bad of [
      '',
      'short',
      `${generateRefreshToken()}x`,
      'a'.repeat(10_000),
      `${'a'.repeat(42)}=`,
      `${'a'.repeat(42)}/`,
    ]) {
      assert.equal(isWellFormedRefreshToken(bad), false, bad.slice(0, 50));
    }
  });
});

describe('decideRefresh', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  const live: StoredRefreshToken = {
    id: 11n,
    familyId: 10n,
    userId: 5n,
    expiresAt: new Date('2026-12-01T00:00:00Z'),
    usedAt: null,
    revokedAt: null,
    familyRevokedAt: null,
  };
  const earlier = new Date('2026-11-25T11:00:00Z');

  it('rotates a live, unspent token', () => {
    assert.deepEqual(decideRefresh(live, now), { kind: 'rotate' });
  });

  it('rejects an unknown token', () => {
    assert.deepEqual(decideRefresh(null, now), { kind: 'reject', reason: 'unknown' });
  });

  it('treats a spent token as reuse, which ends the family', () => {
    assert.deepEqual(decideRefresh({ ...live, usedAt: earlier }, now), { kind: 'reuse' });
  });

  it('treats a spent token as reuse even after it expired', () => {
    assert.deepEqual(decideRefresh({ ...live, usedAt: earlier, expiresAt: earlier }, now), { kind: 'reuse' });
  });

  it('rejects a token of a revoked family, or a revoked token, without further action', () => {
    assert.deepEqual(decideRefresh({ ...live, familyRevokedAt: earlier }, now), { kind: 'reject', reason: 'revoked' });
    assert.deepEqual(decideRefresh({ ...live, revokedAt: earlier }, now), { kind: 'reject', reason: 'revoked' });
    assert.deepEqual(decideRefresh({ ...live, usedAt: earlier, familyRevokedAt: earlier }, now), {
      kind: 'reject',
      reason: 'revoked',
    });
  });

  it('rejects an expired token, at the exact expiry instant too', () => {
    assert.deepEqual(decideRefresh({ ...live, expiresAt: earlier }, now), { kind: 'reject', reason: 'expired' });
    assert.deepEqual(decideRefresh({ ...live, expiresAt: now }, now), { kind: 'reject', reason: 'expired' });
  });
});

describe('refreshTokenExpiry', () => {
  it('is the TTL after the given instant (each rotation slides the session)', () => {
    const now = new Date('2026-11-25T12:00:00Z');
    assert.deepEqual(refreshTokenExpiry(now, 3600), new Date('2026-11-25T13:00:00Z'));
  });
});
