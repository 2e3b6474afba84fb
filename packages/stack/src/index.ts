import { mkdir } from 'node:fs/promises';
import {
  type Config,
  createLogger,
  createRedis,
  Lifecycle,
  type Logger,
  loadConfig,
  type RunningService,
  resolveInternalSecret,
  type ServiceDeps,
  type SubgraphName,
  stopTogether,
} from '@mall/platform';
import { startTracingFromConfig, tracingConfig } from '@mall/platform/tracing';
import { AVAILABLE_SUBGRAPHS, SUBGRAPHS } from './services.ts';

export { AVAILABLE_SUBGRAPHS, SUBGRAPHS, type SubgraphEntry } from './services.ts';

export interface StackOptions {
  /** The environment to configure from (defaults to process.env). */
  readonly env?: Record<string, string | undefined>;
  readonly subgraphs?: readonly SubgraphName[];
  /** Start the router in front of the subgraphs (default true). */
  readonly router?: boolean;
  /** Per-subgraph start options (tests lower argon2 cost, tighten login limits…). */
  readonly subgraphOptions?: Partial<Record<SubgraphName, Record<string, unknown>>>;
  readonly logger?: Logger;
  /** Human-readable logs (interactive `npm start`). */
  readonly pretty?: boolean;
  /** Sees every statement of every subgraph's Prisma client (benchmarks count database round trips). */
  readonly onQuery?: (subgraph: SubgraphName, event: { query: string; durationMs: number }) => void;
}

export interface Stack {
  readonly config: Config;
  /** The router's GraphQL endpoint, when a router runs. */
  readonly url: string | undefined;
  readonly services: ReadonlyMap<string, RunningService>;
  /** True when the stack runs the embedded broker; `config.kafka.brokers` then holds its address. */
  readonly embeddedBroker: boolean;
  readonly lifecycle: Lifecycle;
  stop(): Promise<void>;
}

/**
 * Starts a whole stack in one process: the embedded Kafka-protocol broker when KAFKA_BROKERS is unset, each
 * subgraph (each migrates its own database first), then the router. Services still talk only over HTTP and
 * Kafka, exactly as separate deployments would. Stops in reverse order.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const names = options.subgraphs ?? AVAILABLE_SUBGRAPHS;
  const modules = await Promise.all(
    names.map(async (name) => {
      const entry = SUBGRAPHS.find((s) => s.name === name);
      if (!entry) throw new Error(`subgraph ${name} does not exist yet`);
      return entry.load();
    }),
  );
  const withRouter = options.router ?? true;
  const sections = modules.flatMap((m) => (m.config ? [m.config] : []));
  if (withRouter) sections.push((await import('@mall/router')).routerConfig);
  // Every service's variables are checked before anything starts, so one run reports every problem.
  let config = loadConfig(options.env ?? process.env, [tracingConfig, ...sections]);
  const root = options.logger ?? createLogger({ level: config.logLevel, pretty: options.pretty ?? false });
  const logger = root.child({ service: 'stack' });
  const lifecycle = new Lifecycle(logger);
  const services = new Map<string, RunningService>();
  try {
    // Before any service, so each picks up the tracer; one service name for the whole one-process stack.
    const tracing = await startTracingFromConfig(config, 'stack');
    if (tracing) lifecycle.onStop('tracing', () => tracing.shutdown());
    await mkdir(config.dataDir, { recursive: true });
    let brokers = config.kafka.brokers;
    const embeddedBroker = !brokers;
    if (!brokers) {
      const { startBroker } = await import('@mall/kafka-broker');
      const broker = await startBroker({
        port: config.kafka.embeddedBrokerPort,
        host: '127.0.0.1',
        dataDir: config.dataDir,
        logger: root.child({ service: 'kafka-broker' }),
      });
      lifecycle.onStop('kafka-broker', () => broker.close());
      brokers = [broker.brokers];
      config = { ...config, kafka: { ...config.kafka, brokers } };
      logger.info({ brokers }, 'embedded Kafka-protocol broker started');
    }
    // Production provisions topics from infra/kafka/topics.yaml; a local stack creates the same set (with the
    // registry's partition counts) before any producer or consumer touches them.
    const { createKafka, ensureTopics } = await import('@mall/events');
    const created = await ensureTopics(createKafka({ brokers: [...brokers], clientId: 'stack-setup', logger }));
    if (created.length) logger.info({ topics: created }, 'created Kafka topics');

    const redis = createRedis(config, logger);
    lifecycle.onStop('redis', async () => {
      await redis.quit();
    });
    const internalSecret = await resolveInternalSecret(config);
    const depsFor = (service: string): ServiceDeps => ({
      config,
      internalSecret,
      redis,
      logger: root.child({ service }),
    });

    // Stopped together, after the router: they are independent of one another, and each takes as long as its
    // consumers' fetches in flight to leave their groups (seconds), which one after the other added up.
    const started: RunningService[] = [];
    lifecycle.onStop('subgraphs', () => stopTogether(started));
    for (const subgraph of modules) {
      const subgraphOptions = options.subgraphOptions?.[subgraph.name];
      const onQuery = options.onQuery;
      const running = await subgraph.start(depsFor(subgraph.name), {
        ...(subgraphOptions ? { options: subgraphOptions } : {}),
        ...(onQuery
          ? { onQuery: (event: { query: string; durationMs: number }) => onQuery(subgraph.name, event) }
          : {}),
      });
      services.set(subgraph.name, running);
      started.push(running);
    }

    let url: string | undefined;
    if (withRouter) {
      const { startRouter } = await import('@mall/router');
      const router = await startRouter(depsFor('router'));
      services.set('router', router);
      lifecycle.onStop('router', () => router.stop());
      url = `${router.url}/graphql`;
    }

    return { config, url, services, embeddedBroker, lifecycle, stop: () => lifecycle.stop('stack stop') };
  } catch (err) {
    await lifecycle.stop('startup failure');
    throw err;
  }
}
