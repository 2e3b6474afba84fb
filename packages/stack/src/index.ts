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
} from '@mall/platform';

/** A subgraph module as every `subgraphs/<name>/index.ts` exports it. */
interface SubgraphModule {
  start(deps: ServiceDeps, options?: { port?: number }): Promise<RunningService>;
}

/**
 * The subgraphs that exist so far, in start order. A new subgraph joins the stack by adding one line here
 * (and its SDL to the composition).
 */
export const SUBGRAPHS: Partial<Record<SubgraphName, () => Promise<SubgraphModule>>> = {
  user: () => import('@mall/subgraph-user'),
  auth: () => import('@mall/subgraph-auth'),
};

export const AVAILABLE_SUBGRAPHS = Object.keys(SUBGRAPHS) as SubgraphName[];

export interface StackOptions {
  /** The environment to configure from (defaults to process.env). */
  readonly env?: Record<string, string | undefined>;
  readonly subgraphs?: readonly SubgraphName[];
  /** Start the router in front of the subgraphs (default true). */
  readonly router?: boolean;
  readonly logger?: Logger;
  /** Human-readable logs (interactive `npm start`). */
  readonly pretty?: boolean;
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
  let config = loadConfig(options.env ?? process.env);
  const root = options.logger ?? createLogger({ level: config.logLevel, pretty: options.pretty ?? false });
  const logger = root.child({ service: 'stack' });
  const lifecycle = new Lifecycle(logger);
  const services = new Map<string, RunningService>();
  try {
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

    for (const name of options.subgraphs ?? AVAILABLE_SUBGRAPHS) {
      const load = SUBGRAPHS[name];
      if (!load) throw new Error(`subgraph ${name} does not exist yet`);
      const running = await (await load()).start(depsFor(name));
      services.set(name, running);
      lifecycle.onStop(name, () => running.stop());
    }

    let url: string | undefined;
    if (options.router ?? true) {
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
