import { createKafka, KafkaProbe } from '@mall/events';
import {
  closeServer,
  configSection,
  createMetricsRegistry,
  createRedis,
  graphqlOperationMetrics,
  IdentitySigner,
  kafkaBrokers,
  listen,
  type MetricsServer,
  metricsPortOf,
  type RunningService,
  runMain,
  type ServiceDeps,
  startMetricsServer,
} from '@mall/platform';
import type { GraphQLSchema } from 'graphql';
import { JwtVerifier, jwksUrlOf } from './auth.ts';
import { routerConfig } from './config.ts';
import { createAdmission, type RouterContext } from './context.ts';
import { createGateway } from './gateway.ts';
import { RateLimiter } from './limits.ts';
import { createRouterMetrics } from './metrics.ts';
import { OrderFeed } from './order-feed.ts';
import { Passthrough } from './passthrough.ts';
import { loadTrustedDocuments } from './persisted-queries.ts';
import { RevocationCache } from './revocation-cache.ts';
import { RevocationWatch } from './revocation-watch.ts';
import { createApolloServer, createRouterServer } from './server.ts';
import { attachSubscriptions } from './subscriptions.ts';
import { paymentProxy } from './webhooks.ts';

export { routerConfig } from './config.ts';

export interface StartRouterOptions {
  /** Defaults to `config.port`; 0 picks a free port. */
  readonly port?: number;
  /** URL per subgraph name, overriding config (tests start subgraphs on random ports). `auth` also locates the JWKS. */
  readonly subgraphUrls?: Partial<Record<string, string>>;
  /** The supergraph as text; otherwise the checked-in `schema/supergraph.graphql` (or `SUPERGRAPH_PATH`). */
  readonly supergraphSdl?: string;
}

/**
 * Starts the public entry point: verifies callers, applies the limits, and serves the supergraph through
 * the gateway, signing each subgraph request with the caller's identity.
 */
export async function startRouter(deps: ServiceDeps, options: StartRouterOptions = {}): Promise<RunningService> {
  const { config, logger, redis } = deps;
  const registry = createMetricsRegistry('router');
  const metrics = createRouterMetrics(registry);
  const revocationCache = configSection(config, routerConfig).revocationCache
    ? new RevocationCache({ url: config.redis.url, prefix: config.redis.prefix, logger })
    : undefined;
  // Limits count two buckets per request (address, then user). Under a crowd, counts go through their own
  // auto-pipelining client, every count of a turn of the event loop in one write rather than one write (and
  // one wake-up of Redis) each: the router's writes per flash-sale buy fell from 4.1 to 2.1. A lone request's
  // counts still go at once on the shared client (`RateLimiter`).
  const limitsRedis = createRedis(config, logger, { autoPipelining: true });
  const { admit, admitStaged } = createAdmission({
    config,
    logger,
    verifier: new JwtVerifier({
      jwksUrl: jwksUrlOf(options.subgraphUrls?.['auth'] ?? config.subgraphs.auth.url),
      issuer: config.accessTokens.issuer,
      audience: config.accessTokens.audience,
      redis,
      revocationCache,
    }),
    limiter: new RateLimiter(redis, { batched: limitsRedis }),
    metrics,
  });
  const signer = new IdentitySigner(deps.internalSecret, 'router');
  const operationMetrics = graphqlOperationMetrics<RouterContext>(registry);
  const passthrough = configSection(config, routerConfig).passthrough
    ? new Passthrough({
        record: (name, seconds) => operationMetrics.record(name, 'query', 'ok', seconds),
        metrics,
      })
    : undefined;
  const gateway = createGateway({
    config,
    logger,
    signer,
    metrics,
    ...(passthrough ? { passthrough } : {}),
    ...(options.subgraphUrls ? { subgraphUrls: options.subgraphUrls } : {}),
    ...(options.supergraphSdl !== undefined ? { supergraphSdl: options.supergraphSdl } : {}),
  });
  let apiSchema: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded }) => {
    apiSchema = loaded;
    passthrough?.forget(loaded);
  });
  const trustedDocuments = configSection(config, routerConfig).trustedDocuments ? loadTrustedDocuments() : null;
  const apollo = createApolloServer({
    config,
    logger,
    gateway,
    metricsPlugin: operationMetrics.plugin,
    redis,
    trustedDocuments,
  });
  // Loads the supergraph: one that does not parse or plan fails start-up here, not on the first request.
  await apollo.start();
  // Few retries per attempt: without Kafka the router starts at once and the feed retries on its own.
  const feed = new OrderFeed(
    createKafka({ brokers: kafkaBrokers(config), clientId: 'router', logger, config: { retry: { retries: 1 } } }),
    logger,
  );
  await feed.start();

  const kafka = new KafkaProbe(kafkaBrokers(config), 'router');
  let stopping = false;
  const http = createRouterServer({
    config,
    logger,
    apollo,
    admit: admitStaged,
    ...(passthrough ? { passthrough } : {}),
    isStopping: () => stopping,
    routes: paymentProxy({
      paymentUrl: options.subgraphUrls?.['payment'] ?? config.subgraphs.payment.url,
      signer,
      logger,
    }),
    readiness: {
      // Reaching this server at all means the supergraph loaded; a failed hot reload keeps the previous one.
      supergraph: async () => undefined,
      redis: () => redis.ping(),
      kafka: () => kafka.check(),
    },
  });

  const subscriptions = attachSubscriptions(http, {
    logger,
    apollo,
    admit,
    feed,
    metrics,
    revocations: new RevocationWatch({
      redis,
      logger,
      sweepIntervalMs: configSection(config, routerConfig).revocationSweepMs,
    }),
    schema: () => {
      if (!apiSchema) throw new Error('supergraph not loaded');
      return apiSchema;
    },
    isProduction: config.isProduction,
    trustedDocuments,
  });

  let address: { port: number; url: string };
  let metricsServer: MetricsServer | undefined;
  // Started last, so a failed start-up above leaves no connection open; it answers once loaded.
  revocationCache?.start();
  try {
    address = await listen(http, options.port ?? config.port, config.host);
    const metricsPort = metricsPortOf(config, options.port ?? config.port);
    if (metricsPort !== null)
      metricsServer = await startMetricsServer({ registry, port: metricsPort, host: config.host, logger });
  } catch (err) {
    await revocationCache?.stop();
    await subscriptions.close();
    await closeServer(http);
    await feed.stop();
    await apollo.stop();
    await limitsRedis.quit();
    throw err;
  }
  logger.info({ url: `${address.url}/graphql`, metrics: metricsServer?.url }, 'router ready');
  return {
    name: 'router',
    url: address.url,
    port: address.port,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    async stop() {
      stopping = true;
      // Stop taking requests and let in-flight ones finish, then stop the gateway (and its supergraph watch).
      // Subscribers are told to go (1001) so their clients reconnect to another replica.
      await subscriptions.close();
      await closeServer(http);
      await feed.stop();
      await metricsServer?.close();
      await apollo.stop();
      await revocationCache?.stop();
      await limitsRedis.quit();
    },
  };
}

if (import.meta.main) await runMain('router', (deps) => startRouter(deps), [routerConfig]);
