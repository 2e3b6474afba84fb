import { defineSubgraph } from '@mall/platform/kit';
import { authConfig } from './config.ts';
import type { AuthContext } from './context.ts';
import { RedisAccessTokenDenylist } from './data/access-revocations.ts';
import { AccessTokenIssuer } from './data/access-tokens.ts';
import { PrismaClient } from './data/generated/client.ts';
import { RedisLoginLimiter } from './data/login-limiter.ts';
import { PrismaSessionStore } from './data/session-store.ts';
import { loadSigningKeys } from './data/signing-keys.ts';
import { UserSubgraphAccounts } from './data/user-accounts.ts';
import { DEFAULT_LOGIN_FAILURE_POLICY, type LoginFailurePolicy } from './domain/login-policy.ts';
import { userEventsConsumer } from './events/user-events.ts';
import { resolvers } from './resolvers/index.ts';
import { jwksRoute } from './routes.ts';
import { AuthService } from './service.ts';

export { JWKS_PATH } from './routes.ts';

const subgraph = defineSubgraph({
  name: 'auth',
  module: import.meta.url,
  prisma: PrismaClient,
  config: authConfig,
  async setup(kit, options: { loginFailurePolicy?: Partial<LoginFailurePolicy> }) {
    const { config, settings, logger, redis, prisma, ids } = kit;
    const keys = await loadSigningKeys(config, settings);
    logger.info(
      { kid: keys.current.kid, alg: keys.current.alg, published: keys.jwks.keys.length },
      'signing key loaded',
    );
    // RATE_LIMIT_IP_PER_MINUTE=0 turns every per-IP limit off; per-account limits always stay.
    const perIp = config.rateLimit.ipPerMinute === 0 ? { perIp: null } : {};
    const policy = { ...DEFAULT_LOGIN_FAILURE_POLICY, ...perIp, ...options.loginFailurePolicy };
    const auth = new AuthService({
      accounts: UserSubgraphAccounts.fromConfig(config, kit.internalSecret),
      sessions: new PrismaSessionStore(prisma, ids),
      limiter: new RedisLoginLimiter(redis, policy),
      denylist: new RedisAccessTokenDenylist(redis),
      accessTokens: new AccessTokenIssuer(keys.current, {
        ...config.accessTokens,
        ttlSeconds: settings.accessTokenTtlSeconds,
      }),
      refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds,
    });
    return {
      resolvers,
      context: (scope): AuthContext => ({ ...scope, auth }),
      consumers: [userEventsConsumer({ redis, logger, accessTokenTtlSeconds: settings.accessTokenTtlSeconds })],
      routes: jwksRoute(keys),
    };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
