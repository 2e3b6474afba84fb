/**
 * The subgraph kit: the one way to write a subgraph. A subgraph's `index.ts` states only what is its own (name,
 * Prisma client, config section, trusted peers, and a `setup` that builds its use cases and returns resolvers,
 * context, consumers, extra readiness checks and routes); the kit does everything every subgraph needs, in
 * one order, and tears it down in the reverse order:
 *
 *   migrate → Prisma client → ids → Kafka client → setup() → consumers → outbox relay → HTTP (GraphQL, health
 *   with database + Redis + Kafka, metrics) → on stop: readiness off, drain, close, then the rest in reverse.
 *
 * A separate subpath (`@mall/platform/kit`) because it loads kafkajs and the events package, which nothing
 * else in the platform needs.
 */
import { fileURLToPath } from 'node:url';
import {
  type ConsumerHandle,
  type ConsumerTx,
  createKafka,
  type EventHandlers,
  KafkaProbe,
  type StartConsumerOptions,
  startConsumer,
  startOutboxRelay,
  type TransactionalClient,
} from '@mall/events';
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import {
  type Config,
  type ConfigSection,
  configSection,
  domainDatabaseUrl,
  kafkaBrokers,
  type SubgraphName,
} from './config.ts';
import { migrateDatabase } from './db/migrator.ts';
import { type CreatePrismaClientOptions, createPrismaClient, type PrismaClientFactoryOptions } from './db/prisma.ts';
import { isTransientFault } from './faults.ts';
import type { SnowflakeGenerator } from './ids/index.ts';
import { Lifecycle, stopTogether } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { createMetricsRegistry } from './metrics.ts';
import { startPeriodic } from './periodic.ts';
import { createIdGenerator, runMain, type ServiceDeps } from './runtime.ts';
import type { ReadinessChecks } from './server.ts';
import {
  type GraphQLResolverMap,
  loadTypeDefs,
  type RequestScope,
  type RunningService,
  type SubgraphRoutes,
  startSubgraph,
} from './subgraph.ts';

/** What a subgraph's Prisma client must offer the kit (every generated Prisma 7 client does). */
export interface KitPrismaClient {
  $disconnect(): Promise<void>;
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
}

/** The platform parts handed to `setup`: everything a subgraph's use cases are built from. */
export interface SubgraphKit<TPrisma, TConfig> {
  readonly name: SubgraphName;
  readonly config: Config;
  /** The subgraph's own section of the configuration (`config` in the definition), typed. */
  readonly settings: TConfig;
  readonly logger: Logger;
  /** Shared connection, keys prefixed with MALL_REDIS_PREFIX; owned by the caller, never quit by the subgraph. */
  readonly redis: Redis;
  readonly prisma: TPrisma;
  /** Snowflake ids for this instance (`ids.next()`). */
  readonly ids: SnowflakeGenerator;
  readonly kafka: Kafka;
  /** The service's one metrics registry: GraphQL, outbox relay and consumers all show on its /metrics. */
  readonly registry: Registry;
  /** Signs service-to-service identity tokens (for `ServiceClient`). */
  readonly internalSecret: string;
  /** Registers cleanup for something setup started, run at stop in reverse order, before the database closes. */
  onStop(name: string, run: () => Promise<void> | void): void;
  /** Runs `task` every `intervalMs` until the subgraph stops (`startPeriodic`: no overlap, failures counted). */
  every(name: string, intervalMs: number, task: () => Promise<unknown>): void;
}

/** An idempotent consumer the kit runs on the subgraph's database (see `startConsumer` in @mall/events). */
export interface ConsumerDefinition<TTx> {
  /** The Kafka group id and the `processed_events` key: renaming it replays every retained event. */
  readonly name: string;
  readonly topics: readonly string[];
  readonly handlers: EventHandlers<TTx>;
  readonly options?: Partial<
    Omit<StartConsumerOptions<never>, 'kafka' | 'groupId' | 'consumerName' | 'topics' | 'prisma' | 'handlers'>
  >;
}

/** What `setup` returns: the subgraph's own parts. */
export interface SubgraphParts<TContext extends RequestScope, TInfo> {
  readonly resolvers: GraphQLResolverMap<TContext>;
  /** Builds the per-request context from the request scope: fresh DataLoaders belong here. */
  readonly context: (scope: RequestScope) => TContext | Promise<TContext>;
  // biome-ignore lint/suspicious/noExplicitAny: each consumer names its own transaction type; the kit only passes the client through.
  readonly consumers?: readonly ConsumerDefinition<any>[];
  /** Checks beyond database, Redis and Kafka, which every subgraph reports. */
  readonly readiness?: ReadinessChecks;
  /** Extra non-GraphQL HTTP routes (auth's JWKS). */
  readonly routes?: SubgraphRoutes;
  /** Whatever `start` should hand back to its caller (user's bootstrap admin, for `npm start` to print). */
  readonly info?: TInfo;
}

/** A generated Prisma client class; the kit builds it on the platform's pool and adapter. */
export type KitPrismaClass = new (options: PrismaClientFactoryOptions) => KitPrismaClient;

export interface SubgraphDefinition<
  TContext extends RequestScope,
  TPrismaClass extends KitPrismaClass,
  TConfig,
  TOptions,
  TInfo,
> {
  readonly name: SubgraphName;
  /** `import.meta.url` of the subgraph's `index.ts`: `schema.graphql` is read beside it. */
  readonly module: string;
  /** The generated Prisma client class of `prisma/<name>/schema.prisma`. */
  readonly prisma: TPrismaClass;
  /** How long a query may wait for a pooled connection, ms (`CreatePrismaClientOptions.poolWaitMs`). */
  readonly poolWaitMs?: number;
  /** The subgraph's own variables; validated with the platform's at start. */
  readonly config?: ConfigSection<TConfig>;
  /** Peer services allowed to call this subgraph's `@inaccessible` fields. */
  readonly trustedServices?: readonly string[];
  /** Runs the outbox relay (a subgraph that produces events). */
  readonly outbox?: boolean;
  setup(
    // InstanceType rather than inferring the instance type from the constructor: TypeScript does not infer
    // through Prisma's generic construct signature when `setup` is context-sensitive.
    kit: SubgraphKit<InstanceType<TPrismaClass>, TConfig>,
    options: Partial<TOptions>,
  ): Promise<SubgraphParts<TContext, TInfo>> | SubgraphParts<TContext, TInfo>;
}

export interface RunningSubgraph<TInfo = unknown> extends RunningService {
  readonly info: TInfo | undefined;
}

export interface StartOptions<TOptions> {
  readonly port?: number;
  /** Subgraph-specific overrides (tests lower argon2 cost, tighten login limits…). */
  readonly options?: Partial<TOptions>;
  /** Sees every statement of the subgraph's Prisma client: tests count database round trips with it. */
  readonly onQuery?: CreatePrismaClientOptions['onQuery'];
}

/** A subgraph as `packages/stack` and `runMain` start it. */
export interface SubgraphModule<TOptions = unknown, TInfo = unknown> {
  readonly name: SubgraphName;
  readonly config: ConfigSection<unknown> | undefined;
  start(deps: ServiceDeps, options?: StartOptions<TOptions>): Promise<RunningSubgraph<TInfo>>;
  /** Runs it as its own process: config from the environment, signals wired, exit 1 when start-up fails. */
  main(): Promise<void>;
}

/**
 * Declares a subgraph. `index.ts` ends with `export default defineSubgraph({...})` and
 * `if (import.meta.main) await subgraph.main()`.
 */
export function defineSubgraph<
  TContext extends RequestScope,
  TPrismaClass extends KitPrismaClass,
  TConfig = undefined,
  TOptions = Record<string, never>,
  TInfo = undefined,
>(definition: SubgraphDefinition<TContext, TPrismaClass, TConfig, TOptions, TInfo>): SubgraphModule<TOptions, TInfo> {
  const { name } = definition;
  const migrationsDir = fileURLToPath(new URL(`../../prisma/${name}/migrations`, definition.module));

  async function start(deps: ServiceDeps, startOptions: StartOptions<TOptions> = {}): Promise<RunningSubgraph<TInfo>> {
    const { config, logger, redis } = deps;
    const databaseUrl = domainDatabaseUrl(config, name);
    const resources = new Lifecycle(logger);
    try {
      const settings = (definition.config ? configSection(config, definition.config) : undefined) as TConfig;
      await migrateDatabase({ databaseUrl, migrationsDir, logger });
      const prisma = createPrismaClient(definition.prisma, {
        url: databaseUrl,
        poolSize: config.database.poolSize,
        statementCache: config.database.statementCache,
        logger,
        applicationName: `mall-${name}`,
        ...(definition.poolWaitMs !== undefined ? { poolWaitMs: definition.poolWaitMs } : {}),
        ...(startOptions.onQuery ? { onQuery: startOptions.onQuery } : {}),
      }) as InstanceType<TPrismaClass>;
      resources.onStop('database', () => prisma.$disconnect());

      const registry = createMetricsRegistry(`subgraph-${name}`);
      const kafka = createKafka({ brokers: kafkaBrokers(config), clientId: name, logger });
      const parts = await definition.setup(
        {
          name,
          config,
          settings,
          logger,
          redis,
          prisma,
          ids: createIdGenerator(config),
          kafka,
          registry,
          internalSecret: deps.internalSecret,
          onStop: (task, run) => resources.onStop(task, run),
          every: (task, intervalMs, run) => {
            const periodic = startPeriodic(task, intervalMs, run, { logger, registry });
            resources.onStop(task, () => periodic.stop());
          },
        },
        startOptions.options ?? {},
      );

      // Stopped together: each waits out its fetch in flight (FETCH_MAX_WAIT_MS at most) before it leaves its
      // group, which one after the other added up. All have stopped before the database closes behind them.
      const consumers: ConsumerHandle[] = [];
      resources.onStop('consumers', () => stopTogether(consumers));
      for (const consumer of parts.consumers ?? []) {
        consumers.push(await runConsumer(consumer, { kafka, prisma, logger, registry }));
      }
      if (definition.outbox) {
        const relay = await startOutboxRelay({ databaseUrl, kafka, logger, name: `${name}-outbox-relay`, registry });
        resources.onStop('outbox relay', () => relay.stop());
      }

      const kafkaProbe = new KafkaProbe(kafkaBrokers(config), name);
      const server = await startSubgraph<TContext>({
        name,
        typeDefs: loadTypeDefs(definition.module),
        resolvers: parts.resolvers,
        config,
        logger,
        internalSecret: deps.internalSecret,
        trustedServices: definition.trustedServices ?? [],
        ...(startOptions.port !== undefined ? { port: startOptions.port } : {}),
        context: parts.context,
        readiness: {
          database: async () => {
            await prisma.$queryRawUnsafe('SELECT 1');
          },
          redis: () => redis.ping(),
          kafka: () => kafkaProbe.check(),
          ...parts.readiness,
        },
        ...(parts.routes ? { routes: parts.routes } : {}),
        registry,
      });
      resources.onStop('server', () => server.stop());

      return {
        name: server.name,
        url: server.url,
        port: server.port,
        ...(server.metricsUrl ? { metricsUrl: server.metricsUrl } : {}),
        info: parts.info,
        stop: () => resources.stop(`${name} stop`),
      };
    } catch (err) {
      await resources.stop(`${name} start failed`);
      throw err;
    }
  }

  return {
    name,
    config: definition.config as ConfigSection<unknown> | undefined,
    start,
    main: () => runMain(name, (deps) => start(deps), definition.config ? [definition.config] : []),
  };
}

/** Starts one consumer definition on a database: what the kit does for each, and what consumer tests call. */
export function runConsumer<TTx extends ConsumerTx>(
  consumer: ConsumerDefinition<TTx>,
  on: { kafka: Kafka; prisma: unknown; logger: Logger; registry?: Registry },
): Promise<ConsumerHandle> {
  return startConsumer<TTx>({
    // An outage of the database or Redis is waited out, never dead-lettered.
    isTransient: isTransientFault,
    ...consumer.options,
    kafka: on.kafka,
    groupId: consumer.name,
    consumerName: consumer.name,
    topics: consumer.topics,
    // The subgraph's generated client; its interactive transactions hand handlers the `TTx` they declare.
    prisma: on.prisma as TransactionalClient<TTx>,
    handlers: consumer.handlers,
    logger: on.logger,
    ...(on.registry ? { registry: on.registry } : {}),
  });
}
