import { fileURLToPath } from 'node:url';
import { createKafka, startOutboxRelay } from '@mall/events';
import {
  createIdGenerator,
  createMetricsRegistry,
  createPrismaClient,
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
import { type BootstrapAdmin, ensureBootstrapAdmin } from './bootstrap.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { PasswordHasher, type PasswordPolicy } from './data/passwords.ts';
import { resolvers } from './resolvers/index.ts';
import { UserService } from './service.ts';

export type { BootstrapAdmin } from './bootstrap.ts';

export interface UserStartOptions {
  readonly port?: number;
  /** argon2id cost; OWASP's minimum by default. Tests may lower it. */
  readonly passwordPolicy?: PasswordPolicy;
}

export interface RunningUserService extends RunningService {
  /** The bootstrap administrator, for `npm start` to print. */
  readonly admin: BootstrapAdmin;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/user/migrations', import.meta.url));

/**
 * Starts the user subgraph: migrates its database, makes sure the bootstrap admin exists, starts the outbox
 * relay and serves GraphQL. `stop()` closes all of it in reverse order; so does a failed start.
 */
export async function start(deps: ServiceDeps, options: UserStartOptions = {}): Promise<RunningUserService> {
  const { config, logger } = deps;
  const databaseUrl = domainDatabaseUrl(config, 'user');
  const resources = new Lifecycle(logger);
  try {
    await migrateDatabase({ databaseUrl, migrationsDir: MIGRATIONS_DIR, logger });
    const prisma = createPrismaClient(PrismaClient, {
      url: databaseUrl,
      poolSize: config.database.poolSize,
      logger,
      applicationName: 'user',
    });
    resources.onStop('database', () => prisma.$disconnect());

    const passwords = new PasswordHasher(options.passwordPolicy);
    const ids = createIdGenerator(config);
    const nextId = () => ids.next();
    const admin = await ensureBootstrapAdmin({ config, prisma, passwords, nextId, logger });

    // One registry for the whole service, so its /metrics shows the relay's backlog next to the GraphQL series.
    const registry = createMetricsRegistry('subgraph-user');
    const kafka = createKafka({ brokers: kafkaBrokers(config), clientId: 'user-outbox', logger });
    const relay = await startOutboxRelay({ databaseUrl, kafka, logger, name: 'user-outbox-relay', registry });
    resources.onStop('outbox relay', () => relay.stop());

    const users = new UserService({ prisma, passwords, nextId });
    const server = await startSubgraph({
      name: 'user',
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      config,
      logger,
      internalSecret: deps.internalSecret,
      trustedServices: ['auth'],
      ...(options.port !== undefined ? { port: options.port } : {}),
      context: createContext(users),
      readiness: { database: () => prisma.$queryRaw`SELECT 1` },
      registry,
    });
    resources.onStop('server', () => server.stop());

    return { name: server.name, url: server.url, port: server.port, admin, stop: () => resources.stop('user stop') };
  } catch (err) {
    await resources.stop('user start failed');
    throw err;
  }
}

if (import.meta.main) await runMain('user', (deps) => start(deps));
