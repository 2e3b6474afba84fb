import { defineSubgraph } from '@mall/platform/kit';
import { authConfig } from './config.ts';
import { createContext } from './context.ts';
import { startRevocationMirror } from './data/access-revocations.ts';
import { PrismaClient } from './data/generated/client.ts';
import { loadSigningKeys } from './data/signing-keys.ts';
import type { LoginFailurePolicy } from './domain/login-policy.ts';
import { userEventsConsumer } from './events/user-events.ts';
import { resolvers } from './resolvers/index.ts';
import { jwksRoute } from './routes.ts';
import { createAuthService } from './service.ts';

export { JWKS_PATH } from './routes.ts';

const subgraph = defineSubgraph({
  name: 'auth',
  module: import.meta.url,
  prisma: PrismaClient,
  config: authConfig,
  async setup(kit, options: { loginFailurePolicy?: Partial<LoginFailurePolicy> }) {
    const keys = await loadSigningKeys(kit.config, kit.settings, kit.logger);
    const revocations = await startRevocationMirror(kit);
    const auth = createAuthService(kit, { ...options, signingKey: keys.current, revocations });
    const userEvents = userEventsConsumer({ ...kit, ...kit.settings, revocations });
    return { resolvers, context: createContext(auth), consumers: [userEvents], routes: jwksRoute(keys) };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
