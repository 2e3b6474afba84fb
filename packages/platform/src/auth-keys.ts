/**
 * Redis keys that auth writes and the router reads (both prefixed by MALL_REDIS_PREFIX through ioredis).
 * Kept in one place because two services must agree on them byte for byte.
 */
export const authKeys = {
  /** Set on logout until the access token's `exp`: the router refuses that `jti`. */
  deniedAccessToken: (jti: string) => `auth:denied-jti:${jti}`,
  /** Unix seconds: access tokens of this user issued at or before it are refused (account deleted, all sessions revoked). */
  userRevokedAt: (userId: string) => `auth:user-revoked-at:${userId}`,
} as const;
