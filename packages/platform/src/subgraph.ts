import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { type DocumentNode, parse } from 'graphql';
import type { Registry } from 'prom-client';
import type { Identity } from './access.ts';
import { type Config, metricsPortOf, type SubgraphName } from './config.ts';
import { createErrorFormatter } from './error-format.ts';
import { handleGraphQL, sendJson } from './http.ts';
import { IDENTITY_HEADER, IdentityVerifier, REQUEST_ID_HEADER, requestIdFrom } from './identity.ts';
import { type Logger, lazyChild } from './logger.ts';
import { createMetricsRegistry, graphqlMetricsPlugin } from './metrics.ts';
import {
  closeServer,
  createServiceServer,
  listen,
  type MetricsServer,
  type ReadinessChecks,
  startMetricsServer,
} from './server.ts';

export type { GraphQLResolverMap };

/** What every subgraph resolver can rely on; subgraphs extend it with their loaders and services. */
export interface RequestScope {
  readonly identity: Identity;
  readonly requestId: string;
  readonly logger: Logger;
}

export interface StartSubgraphOptions<TContext extends RequestScope> {
  readonly name: SubgraphName;
  readonly typeDefs: DocumentNode;
  readonly resolvers: GraphQLResolverMap<TContext>;
  readonly config: Config;
  readonly logger: Logger;
  readonly internalSecret: string;
  /** Peer services allowed to call this subgraph directly (for `@inaccessible` internal fields). */
  readonly trustedServices?: readonly string[];
  readonly port?: number;
  readonly host?: string;
  /** Builds the per-request context: fresh DataLoaders belong here, never in module scope. */
  readonly context: (base: RequestScope) => TContext | Promise<TContext>;
  readonly readiness?: ReadinessChecks;
  readonly registry?: Registry;
  /** Extra non-GraphQL routes (e.g. auth's JWKS). */
  readonly routes?: SubgraphRoutes;
}

/** Serves extra non-GraphQL paths; returns false for paths it doesn't serve (404). */
export type SubgraphRoutes = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface RunningService {
  readonly name: string;
  /** Base URL (`http://host:port`). */
  readonly url: string;
  readonly port: number;
  /** Its Prometheus endpoint (`http://host:metricsPort/metrics`), on a port of its own; absent when off. */
  readonly metricsUrl?: string;
  stop(): Promise<void>;
}

/** Subgraph SDL is kept in `.graphql` files beside the code; this reads one relative to a module. */
export function loadTypeDefs(moduleUrl: string, file = 'schema.graphql'): DocumentNode {
  return parse(readFileSync(new URL(file, moduleUrl), 'utf8'));
}

const BODY_LIMIT_BYTES = 1024 * 1024;

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Starts one Apollo subgraph behind the shared HTTP shell. Every GraphQL request must carry an identity
 * token signed by the router (or a trusted peer service); anything else is refused before Apollo sees it, so
 * finding a subgraph's port gives a client nothing.
 */
export async function startSubgraph<TContext extends RequestScope>(
  options: StartSubgraphOptions<TContext>,
): Promise<RunningService> {
  const { name, config, logger } = options;
  const registry = options.registry ?? createMetricsRegistry(`subgraph-${name}`);
  const verifier = new IdentityVerifier(options.internalSecret, name, ['router', ...(options.trustedServices ?? [])]);
  let stopping = false;

  const server = new ApolloServer<TContext>({
    schema: buildSubgraphSchema([
      { typeDefs: options.typeDefs, resolvers: options.resolvers as GraphQLResolverMap<unknown> },
    ]),
    introspection: !config.isProduction,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // Shutdown belongs to Lifecycle; Apollo's own handler would stop the server and re-raise the signal,
    // which Lifecycle then sees as a second Ctrl-C and exits non-zero.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter(logger),
    logger,
    // No Apollo Studio here: inline (ftv1) traces would only cost every subgraph response. No cache-control
    // plugin either (Apollo installs it unless told not to): its per-field hook makes Apollo wrap every
    // resolver of the schema, for hints nothing here sets or reads (answers are per caller, never cached:
    // `no-store` below). With neither, no plugin listens per field and resolvers run unwrapped.
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginCacheControlDisabled(),
      graphqlMetricsPlugin<TContext>(registry),
    ],
  });
  await server.start();

  const http = createServiceServer({
    logger,
    readiness: options.readiness ?? {},
    isStopping: () => stopping,
    handle: async (req, res, url) => {
      if (url.pathname !== '/graphql') return options.routes ? options.routes(req, res, url) : false;
      let identity: Identity;
      try {
        identity = await verifier.verify(headerValue(req, IDENTITY_HEADER));
      } catch (err) {
        logger.warn({ remote: req.socket.remoteAddress }, 'refused request without a valid identity token');
        sendJson(res, 401, { errors: [{ message: (err as Error).message, extensions: { code: 'UNAUTHENTICATED' } }] });
        return true;
      }
      // The router reuses a caller's identity token across requests, so the request id comes in its own
      // header; a token minted for one call (service to service) may still carry it.
      const header = req.headers[REQUEST_ID_HEADER];
      const requestId = header === undefined && identity.requestId ? identity.requestId : requestIdFrom(header);
      const requestLogger = lazyChild(logger, { requestId, userId: identity.userId ?? undefined });
      // What Apollo's cache-control plugin said of every answer here: it is one caller's, never to be stored.
      res.setHeader('cache-control', 'no-store');
      await handleGraphQL(server, req, res, {
        bodyLimitBytes: BODY_LIMIT_BYTES,
        url,
        context: async () => options.context({ identity, requestId, logger: requestLogger }),
      });
      return true;
    },
  });

  const host = options.host ?? config.host;
  const { port, url } = await listen(http, options.port ?? config.subgraphs[name].port, host);
  const metricsPort = metricsPortOf(config, options.port ?? config.subgraphs[name].port);
  let metrics: MetricsServer | undefined;
  try {
    if (metricsPort !== null) metrics = await startMetricsServer({ registry, port: metricsPort, host, logger });
  } catch (err) {
    await closeServer(http);
    await server.stop();
    throw err;
  }
  logger.info({ url: `${url}/graphql`, metrics: metrics?.url }, `subgraph ${name} ready`);
  return {
    name,
    url,
    port,
    ...(metrics ? { metricsUrl: metrics.url } : {}),
    async stop() {
      // Readiness answers 503 from now on; load balancers need a moment to notice and stop sending new
      // requests, which the server keeps serving until the drain delay has passed.
      stopping = true;
      if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
      await closeServer(http);
      await metrics?.close();
      await server.stop();
    },
  };
}
