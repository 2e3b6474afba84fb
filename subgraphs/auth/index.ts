import { defineSubgraph } from '@mall/platform/kit';
import { authConfig } from './config.ts';
import type { AuthContext } from './context.ts';
import { RevocationMirror } from './data/access-revocations.ts';
import { PrismaClient } from './data/generated/client.ts';
import { loadSigningKeys } from './data/signing-keys.ts';
import { createUserClient } from './data/user-accounts.ts';
import { type LoginFailurePolicy, loginFailurePolicy } from './domain/login-policy.ts';
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
  async setup(
    { config, settings, logger, redis, prisma, ids, internalSecret, onStop },
    options: { loginFailurePolicy?: Partial<LoginFailurePolicy> },
  ) {
    const keys = await loadSigningKeys(config, settings, logger);
    const revocations = new RevocationMirror({ prisma, redis, logger });
    await revocations.start();
    onStop('revocation mirror', () => revocations.stop());
    const auth = new AuthService({
      prisma,
      revocations,
      users: createUserClient(config, internalSecret),
      signingKey: keys.current,
      accessTokens: { ...config.accessTokens, ttlSeconds: settings.accessTokenTtlSeconds },
      refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds,
      loginPolicy: loginFailurePolicy(config.rateLimit.ipPerMinute, options.loginFailurePolicy),
      nextId: () => ids.next(),
    });
    return {
      resolvers,
      context: (scope): AuthContext => ({ ...scope, auth }),
      consumers: [userEventsConsumer({ revocations, logger, accessTokenTtlSeconds: settings.accessTokenTtlSeconds })],
      routes: jwksRoute(keys),
    };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
