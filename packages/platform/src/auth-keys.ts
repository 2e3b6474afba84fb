/**
 * Redis keys that auth writes and the router reads (both prefixed by MALL_REDIS_PREFIX through ioredis).
 * Kept in one place because two services must agree on them byte for byte.
 */
export const authKeys = {
  /** Set on logout until the access token's `exp`: the router refuses that `jti`. */
  deniedAccessToken: (jti: string) => `auth:denied-jti:${jti}`,
  /** Unix seconds: access tokens of this user issued at or before it are refused (account deleted, all sessions revoked). */
  userRevokedAt: (userId: string) => `auth:user-revoked-at:${userId}`,
  /**
   * Present while Redis holds every live revocation (auth writes it after loading them from its database, the
   * source of truth). Missing means Redis lost its data: verifiers refuse to decide until auth has reloaded.
   */
  revocationsGeneration: 'auth:revocations:generation',
} as const;
