import { fileURLToPath } from 'node:url';
import { createKafka } from '@mall/events';
import {
  createIdGenerator,
  createMetricsRegistry,
  domainDatabaseUrl,
  kafkaBrokers,
  Lifecycle,
  loadTypeDefs,
  migrateDatabase,
  type RunningService,
  runMain,
  type ServiceDeps,
  startSubgraph,
} from '@mall/platform';
import type { AuthContext } from './context.ts';
import { createAuthPrisma } from './data/prisma.ts';
import { loadSigningKeys } from './data/signing-keys.ts';
import { createUserClient } from './data/user-accounts.ts';
import { DEFAULT_LOGIN_FAILURE_POLICY, type LoginFailurePolicy } from './domain/login-policy.ts';
import { startUserEventsConsumer } from './events/user-events.ts';
import { resolvers } from './resolvers/index.ts';
import { jwksRoute } from './routes.ts';
import { AuthService } from './service.ts';

export { JWKS_PATH } from './routes.ts';

export interface AuthStartOptions {
  readonly port?: number;
  /** Failed-login limits; the defaults are the product's (5 per account, 50 per IP, per 15 minutes). */
  readonly loginFailurePolicy?: Partial<LoginFailurePolicy>;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/auth/migrations', import.meta.url));

/**
 * Starts the auth subgraph: migrates its database, loads the signing key, consumes user events and serves
 * GraphQL plus the JWKS. `stop()` closes all of it in reverse order; so does a failed start.
 */
export async function start(deps: ServiceDeps, options: AuthStartOptions = {}): Promise<RunningService> {
  const { config, logger, redis } = deps;
  const resources = new Lifecycle(logger);
  try {
    await migrateDatabase({ databaseUrl: domainDatabaseUrl(config, 'auth'), migrationsDir: MIGRATIONS_DIR, logger });
    const prisma = createAuthPrisma(config, logger);
    resources.onStop('database', () => prisma.$disconnect());

    const keys = await loadSigningKeys(config);
    logger.info(
      { kid: keys.current.kid, alg: keys.current.alg, published: keys.jwks.keys.length },
      'access-token signing key loaded',
    );
    const ids = createIdGenerator(config);

    const policy: LoginFailurePolicy = {
      ...DEFAULT_LOGIN_FAILURE_POLICY,
      // RATE_LIMIT_IP_PER_MINUTE=0 turns every per-IP limit off; per-account limits always stay.
      ...(config.rateLimit.ipPerMinute === 0 ? { perIp: null } : {}),
      ...options.loginFailurePolicy,
    };
    const auth = new AuthService({
      prisma,
      redis,
      users: createUserClient(config, deps.internalSecret),
      signingKey: keys.current,
      accessTokens: {
        issuer: config.auth.issuer,
        audience: config.auth.audience,
        ttlSeconds: config.auth.accessTokenTtlSeconds,
      },
      refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
      loginPolicy: policy,
      nextId: () => ids.next(),
    });

    // One registry for the whole service, so its /metrics shows the consumer's outcomes next to the GraphQL series.
    const registry = createMetricsRegistry('subgraph-auth');
    const consumer = await startUserEventsConsumer({
      kafka: createKafka({ brokers: kafkaBrokers(config), clientId: 'auth', logger }),
      prisma,
      redis,
      accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
      logger,
      registry,
    });
    resources.onStop('user events consumer', () => consumer.stop());

    const server = await startSubgraph<AuthContext>({
      name: 'auth',
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      config,
      logger,
      internalSecret: deps.internalSecret,
      ...(options.port !== undefined ? { port: options.port } : {}),
      context: (base) => ({ ...base, auth }),
      readiness: { database: () => prisma.$queryRaw`SELECT 1`, redis: () => redis.ping() },
      routes: jwksRoute(keys),
      registry,
    });
    resources.onStop('server', () => server.stop());

    return { name: server.name, url: server.url, port: server.port, stop: () => resources.stop('auth stop') };
  } catch (err) {
    await resources.stop('auth start failed');
    throw err;
  }
}

if (import.meta.main) await runMain('auth', (deps) => start(deps));
