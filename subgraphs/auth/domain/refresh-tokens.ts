/** 256 bits: guessing one is hopeless, so the stored hash needs no salt or slow KDF. */
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Cryptographically secure random bytes (`crypto.randomBytes` in production), passed in so this stays pure. */
export type RandomBytes = (size: number) => Uint8Array;

/** A fresh opaque refresh token (base64url, 43 characters). */
export function generateRefreshToken(random: RandomBytes): string {
  return Buffer.from(random(TOKEN_BYTES)).toString('base64url');
}

/** Cheap shape check before touching the database; anything else cannot be one of ours. */
export function isWellFormedRefreshToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

/** What the store knows about a presented refresh token and its family. */
export interface StoredRefreshToken {
  readonly id: bigint;
  readonly familyId: bigint;
  readonly userId: bigint;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly familyRevokedAt: Date | null;
}

export type RefreshDecision =
  | { readonly kind: 'rotate' }
  | { readonly kind: 'reject'; readonly reason: 'unknown' | 'revoked' | 'expired' }
  /** A spent token came back: either the client or a thief holds a copy, so the whole session ends. */
  | { readonly kind: 'reuse' };

/**
 * Decides what a refresh request may do. Reuse is checked before expiry: a spent token that also expired
 * is still evidence that a copy exists, and its family may hold a live successor.
 */
export function decideRefresh(token: StoredRefreshToken | null, now: Date): RefreshDecision {
  if (!token) return { kind: 'reject', reason: 'unknown' };
  if (token.familyRevokedAt || token.revokedAt) return { kind: 'reject', reason: 'revoked' };
  if (token.usedAt) return { kind: 'reuse' };
  if (token.expiresAt.getTime() <= now.getTime()) return { kind: 'reject', reason: 'expired' };
  return { kind: 'rotate' };
}

/** When a refresh token issued at `now` stops working: each rotation starts the session's lifetime again. */
export function refreshTokenExpiry(now: Date, ttlSeconds: number): Date {
  return new Date(now.getTime() + ttlSeconds * 1000);
}
