import { authKeys } from '@mall/platform';
import type { Redis } from 'ioredis';

// Entries outlive the tokens they refuse by this much: a verifier tolerating some clock skew on `exp` must
// not find the entry gone while it still accepts the token.
const CLOCK_MARGIN_SECONDS = 60;

/**
 * The router refuses any access token whose `jti` has a denylist entry; the entry lives as long as the token
 * (`expiresAt`, unix seconds) plus the margin.
 */
export async function denyAccessToken(
  redis: Redis,
  jti: string,
  expiresAt: number,
  now: number = Date.now(),
): Promise<void> {
  const remaining = expiresAt - Math.floor(now / 1000);
  // Long expired: refused by its `exp` already.
  if (remaining + CLOCK_MARGIN_SECONDS <= 0) return;
  await redis.set(authKeys.deniedAccessToken(jti), '1', 'EX', remaining + CLOCK_MARGIN_SECONDS);
}

/**
 * Marks every access token of `userId` issued up to now as revoked (the router compares `iat`), for as long
 * as such a token can live; later tokens cannot exist, as the account can no longer sign in or refresh.
 */
export async function revokeUserAccessTokens(
  redis: Redis,
  userId: string,
  accessTokenTtlSeconds: number,
  now: number = Date.now(),
): Promise<void> {
  await redis.set(
    authKeys.userRevokedAt(userId),
    String(Math.floor(now / 1000)),
    'EX',
    accessTokenTtlSeconds + CLOCK_MARGIN_SECONDS,
  );
}
