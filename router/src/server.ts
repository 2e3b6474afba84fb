import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloServerPluginUsageReporting } from '@apollo/server/plugin/usageReporting';
import {
  type Config,
  configSection,
  createErrorFormatter,
  createServiceServer,
  handleGraphQL,
  type Logger,
  REQUEST_ID_HEADER,
  type ReadinessChecks,
  type SubgraphRoutes,
  sendJson,
} from '@mall/platform';
import cors from 'cors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Redis } from 'ioredis';
import { routerConfig } from './config.ts';
import { type AdmitStaged, endRequest, Rejection, type RouterContext, requestIdFrom } from './context.ts';
import { costLimitPlugin, LIMITS, limitRules } from './limits.ts';
import type { Passthrough } from './passthrough.ts';
import { redisQueryCache, trustedDocumentsPlugin, trustedQueryCache } from './persisted-queries.ts';

/** Extensions the gateway adds that name our internals (which subgraph failed); never part of the contract. */
const INTERNAL_EXTENSIONS = ['serviceName'];

function withoutInternalExtensions(error: GraphQLFormattedError): GraphQLFormattedError {
  const extensions = error.extensions;
  if (!extensions || !INTERNAL_EXTENSIONS.some((key) => key in extensions)) return error;
  return {
    ...error,
    extensions: Object.fromEntries(Object.entries(extensions).filter(([key]) => !INTERNAL_EXTENSIONS.includes(key))),
  };
}

/**
 * Apollo's own refusals of a request (an unsupported persisted-query version, a hash that does not match the
 * text…) carry HTTP 400 but no code of their own: Apollo labels them INTERNAL_SERVER_ERROR, or nothing.
 */
function withRequestErrorCode(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const code = formatted.extensions?.['code'];
  if ((code !== undefined && code !== 'INTERNAL_SERVER_ERROR') || !(error instanceof GraphQLError)) return formatted;
  if (error.extensions['code'] !== undefined) return formatted;
  const http = error.extensions['http'];
  const status = typeof http === 'object' && http !== null && 'status' in http ? http.status : undefined;
  return status === 400 ? { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_REQUEST' } } : formatted;
}

const badRequest = (message: string) =>
  new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });

/**
 * Refuses what the gateway would otherwise fail on as an internal error: an `operationName` the document does
 * not define (Apollo leaves operation resolution to the gateway), and subscriptions, which it cannot run.
 */
const operationPlugin: ApolloServerPlugin<RouterContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation, operationName }) {
        if (!operation)
          throw badRequest(
            operationName ? `Unknown operation named "${operationName}"` : 'Must provide an operationName',
          );
        if (operation.operation === 'subscription')
          throw badRequest('Subscriptions are served over WebSocket (graphql-ws) on /graphql');
      },
    };
  },
};

export function createApolloServer(options: {
  config: Config;
  logger: Logger;
  gateway: ApolloGateway;
  /** The GraphQL operation metrics plugin (`graphqlOperationMetrics`, whose series the passthrough shares). */
  metricsPlugin: ApolloServerPlugin<RouterContext>;
  redis: Redis;
  /** The trusted documents (id → text) when only they may run; null for any operation (APQ in Redis). */
  trustedDocuments: ReadonlyMap<string, string> | null;
}): ApolloServer<RouterContext> {
  const { config, logger, trustedDocuments } = options;
  const { studio } = configSection(config, routerConfig);
  const formatError = createErrorFormatter(logger);
  return new ApolloServer<RouterContext>({
    gateway: options.gateway,
    logger,
    introspection: !config.isProduction,
    // Drops "Did you mean …?" from validation errors: field suggestions would hand out the schema anyway.
    hideSchemaDetailsFromClientErrors: config.isProduction,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    maxRecursiveSelections: true,
    // Usage reporting only on an explicit opt-in; Apollo would otherwise also pick these up from process.env.
    apollo: studio ?? {},
    persistedQueries: trustedDocuments
      ? { cache: trustedQueryCache(trustedDocuments), ttl: null }
      : { cache: redisQueryCache(options.redis), ttl: configSection(config, routerConfig).apqTtlSeconds },
    // The process's Lifecycle owns shutdown order (drain HTTP, then the gateway). Apollo's own handler would
    // stop the gateway under in-flight requests and then re-raise the signal, which reads as a second Ctrl-C.
    stopOnTerminationSignals: false,
    validationRules: limitRules(),
    // graphql-js stops lexing past this many tokens, before any work grows with the document.
    parseOptions: { maxTokens: LIMITS.maxTokens },
    formatError: (formatted, error) =>
      withoutInternalExtensions(formatError(withRequestErrorCode(formatted, error), error)),
    plugins: [
      // The gateway resolves no fields itself and the router sets no HTTP cache headers: the default cache
      // control plugin would only add hooks to every request.
      ApolloServerPluginCacheControlDisabled(),
      config.isProduction
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
      // Operation shapes and timings only: variables and headers (tokens, personal data) never leave.
      studio
        ? ApolloServerPluginUsageReporting({ sendVariableValues: { none: true }, sendHeaders: { none: true } })
        : ApolloServerPluginUsageReportingDisabled(),
      options.metricsPlugin,
      costLimitPlugin<RouterContext>(LIMITS.maxCost),
      ...(trustedDocuments ? [trustedDocumentsPlugin<RouterContext>()] : []),
      operationPlugin,
    ],
  });
}

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/**
 * `CORS_ORIGINS` when given (`*` for any); otherwise local pages in development and nobody in production.
 * Tokens travel in `Authorization`, never in cookies, so credentials stay off.
 */
function corsHandler(config: Config) {
  const { corsOrigins } = configSection(config, routerConfig);
  const origin = corsOrigins
    ? corsOrigins.includes('*')
      ? '*'
      : [...corsOrigins]
    : config.isProduction
      ? false
      : LOCALHOST_ORIGIN;
  const middleware = cors({
    origin,
    methods: ['GET', 'POST'],
    maxAge: 600,
    exposedHeaders: [REQUEST_ID_HEADER, 'retry-after'],
  });
  /** Sets the CORS headers; true when the request was a preflight and has been answered. */
  return (req: IncomingMessage, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve, reject) => {
      middleware(req, res, (err?: unknown) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(false),
      );
      if (res.writableEnded) resolve(true);
    });
}

export interface RouterServerOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly apollo: ApolloServer<RouterContext>;
  readonly admit: AdmitStaged;
  readonly readiness: ReadinessChecks;
  readonly isStopping: () => boolean;
  /** Non-GraphQL paths served before `/graphql` (the payment webhook proxy); false when not theirs. */
  readonly routes?: SubgraphRoutes;
  /** Answers learned single-fetch operations without Apollo's pipeline (`passthrough.ts`). */
  readonly passthrough?: Pick<Passthrough, 'serve'>;
}

/**
 * The router's HTTP server: `/graphql` (admission, then Apollo) inside the shared shell that serves health
 * (metrics have their own listener). Subscriptions attach to the returned server's `upgrade` event
 * (`attachSubscriptions`), admitting `connection_init` through the same `admit`.
 */
export function createRouterServer(options: RouterServerOptions): Server {
  const { apollo, admit: admitStaged, logger, passthrough } = options;
  const applyCors = corsHandler(options.config);

  const server = createServiceServer({
    logger,
    readiness: options.readiness,
    isStopping: options.isStopping,
    publicEdge: true,
    handle: async (req, res, url) => {
      if (url.pathname !== '/graphql') return options.routes ? options.routes(req, res, url) : false;
      if (await applyCors(req, res)) return true;
      if (req.method === 'OPTIONS') {
        // A preflight from an origin CORS does not allow: answered empty, so the browser refuses.
        res.writeHead(204).end();
        return true;
      }
      const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
      res.setHeader(REQUEST_ID_HEADER, requestId);
      const refuse = (err: unknown) => {
        if (!(err instanceof Rejection)) throw err;
        sendJson(res, err.status, { errors: [err.error] }, { ...err.headers });
        return true;
      };
      let context: RouterContext;
      try {
        context = await admitStaged(req, requestId);
      } catch (err) {
        return refuse(err);
      }
      // The revocation lookup runs while the body is read and the operation parsed, validated and planned;
      // nothing is answered (and no subgraph is called: the data sources wait too) until it has passed.
      try {
        await handleGraphQL(apollo, req, res, {
          bodyLimitBytes: LIMITS.bodyBytes,
          url,
          context: async () => context,
          beforeAnswer: () => context.confirmed,
          ...(passthrough ? { shortcut: (body: unknown) => passthrough.serve(req, res, body, context) } : {}),
        });
      } catch (err) {
        return refuse(err);
      } finally {
        endRequest(context);
      }
      return true;
    },
  });
  // Enforced on time: the shell checks connections every second (CONNECTIONS_CHECKING_INTERVAL_MS).
  server.headersTimeout = LIMITS.headersTimeoutMs;
  server.requestTimeout = LIMITS.receiveTimeoutMs;
  return server;
}
