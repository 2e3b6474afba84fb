import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloGateway, type GraphQLDataSourceProcessOptions, RemoteGraphQLDataSource } from '@apollo/gateway';
import {
  type Config,
  configSection,
  IDENTITY_HEADER,
  type IdentitySigner,
  type Logger,
  REQUEST_ID_HEADER,
  SUBGRAPH_NAMES,
  type SubgraphName,
} from '@mall/platform';
import { Agent, type Dispatcher, request } from 'undici';
import { routerConfig } from './config.ts';
import type { RouterContext } from './context.ts';
import { LIMITS } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The checked-in supergraph, or `SUPERGRAPH_PATH` (relative paths are taken from the repository root). */
export function supergraphPath(config: Config): string {
  return resolve(REPO_ROOT, configSection(config, routerConfig).supergraph.path ?? 'schema/supergraph.graphql');
}

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherRequestInit = NonNullable<Parameters<Fetcher>[1]>;
type FetcherResponse = Parameters<RemoteGraphQLDataSource['errorFromResponse']>[0];

/**
 * The request's deadline, visible to the fetcher: the gateway hands a data source's fetcher only a URL and
 * init, so the signal travels through async context from `process()` down to `fetch()`.
 */
const requestDeadline = new AsyncLocalStorage<AbortSignal>();

/**
 * Subgraph connections: undici's low-level `request` on one keep-alive pool. The WHATWG `fetch` wrapper
 * around the same client costs about twice the CPU per call, paid on every subgraph fetch of every request.
 */
const subgraphAgent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });

/** Statuses whose Response must have no body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * One subgraph fetch bounded by `timeoutMs` and by the request's `deadline`, answered as the `Response` the
 * gateway expects. Redirects are not followed: a subgraph never redirects, and a signed identity token must
 * not follow one elsewhere.
 */
export async function subgraphFetch(
  url: string,
  init: FetcherRequestInit = {},
  deadline?: AbortSignal,
  timeoutMs: number = LIMITS.subgraphTimeoutMs,
): Promise<FetcherResponse> {
  const perFetch = AbortSignal.timeout(timeoutMs);
  const { statusCode, headers, body } = await request(url, {
    method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: init.headers ?? {},
    body: init.body ?? null,
    signal: deadline ? AbortSignal.any([deadline, perFetch]) : perFetch,
    dispatcher: subgraphAgent,
  });
  let payload: Buffer | null = null;
  if (NULL_BODY_STATUSES.has(statusCode)) await body.dump();
  else payload = Buffer.from(await body.arrayBuffer());
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, v);
  }
  return new Response(payload, { status: statusCode, headers: responseHeaders }) as unknown as FetcherResponse;
}

/** Subgraph fetches bounded per fetch and by the whole request's deadline. */
const boundedFetch: Fetcher = (url, init) => subgraphFetch(url, init, requestDeadline.getStore());

/**
 * Talks to one subgraph on behalf of the router. The outgoing request carries exactly what the router
 * vouches for: a fresh identity token addressed to this subgraph and the request id. Nothing of the client's
 * request (Authorization, cookies, a forged `mall-identity`) is forwarded.
 */
export class SignedDataSource extends RemoteGraphQLDataSource<RouterContext> {
  readonly #name: string;
  readonly #signer: IdentitySigner;

  readonly #fetches: RouterMetrics['subgraphFetch'] | undefined;

  constructor(options: {
    name: string;
    url: string;
    signer: IdentitySigner;
    fetches?: RouterMetrics['subgraphFetch'];
  }) {
    super({ url: options.url });
    this.#name = options.name;
    this.#signer = options.signer;
    this.#fetches = options.fetches;
    this.fetcher = boundedFetch;
  }

  override async process(options: GraphQLDataSourceProcessOptions<RouterContext>) {
    if (!('incomingRequestContext' in options)) return super.process(options);
    const { deadline } = options.context;
    if (deadline.aborted) throw new Error(`request deadline passed before calling subgraph ${this.#name}`);
    const end = this.#fetches?.startTimer({ subgraph: this.#name });
    try {
      const response = await requestDeadline.run(deadline, () => super.process(options));
      end?.({ outcome: 'ok' });
      return response;
    } catch (err) {
      end?.({ outcome: 'error' });
      throw err;
    }
  }

  override async willSendRequest(options: GraphQLDataSourceProcessOptions<RouterContext>): Promise<void> {
    const http = options.request.http;
    if (!http) throw new Error('subgraph request without HTTP settings');
    // Start from nothing: whatever the gateway or a plugin put here so far is not something we signed.
    for (const [name] of [...http.headers]) http.headers.delete(name);
    http.headers.set('content-type', 'application/json');

    const context = 'incomingRequestContext' in options ? options.context : undefined;
    const requestId = context?.requestId ?? randomUUID();
    http.headers.set(IDENTITY_HEADER, await this.#identityToken(context, requestId));
    http.headers.set(REQUEST_ID_HEADER, requestId);
  }

  #identityToken(context: RouterContext | undefined, requestId: string): Promise<string> {
    const sign = () => {
      const caller = context?.caller ?? null;
      return this.#signer.sign({
        userId: caller?.userId ?? null,
        roles: caller?.roles ?? [],
        requestId,
        audience: this.#name,
        session: caller?.session ?? null,
        clientIp: context?.clientIp ?? null,
      });
    };
    if (!context) return sign();
    let token = context.identityTokens.get(this.#name);
    if (!token) {
      token = sign();
      context.identityTokens.set(this.#name, token);
    }
    return token;
  }

  /**
   * A non-2xx answer means the router and the subgraph disagree (a refused identity token, a body limit), never
   * something the client should see: Apollo's default attaches the subgraph's URL and body to a 401/403 with a
   * public code. A plain error is logged in full and reaches the client masked.
   */
  override async errorFromResponse(response: FetcherResponse): Promise<never> {
    const body = (await response.text().catch(() => '')).slice(0, 500);
    throw new Error(`subgraph ${this.#name} answered HTTP ${response.status}: ${body}`);
  }
}

export interface GatewayOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly signer: IdentitySigner;
  readonly metrics?: RouterMetrics;
  /** Per-subgraph URL overrides (tests with random ports); otherwise `config.subgraphs[name].url`. */
  readonly subgraphUrls?: Partial<Record<string, string>>;
  /** A supergraph given as text (tests); otherwise read from `supergraphPath(config)`. */
  readonly supergraphSdl?: string;
}

const isKnownSubgraph = (name: string): name is SubgraphName => (SUBGRAPH_NAMES as readonly string[]).includes(name);

/**
 * The gateway over the composed supergraph. Subgraph names are the supergraph's `join__Graph` names (`user`,
 * `auth`…), which are also the audiences their identity tokens are addressed to. In development the
 * supergraph file is watched and swapped in place when `npm run compose` rewrites it.
 */
export function createGateway(options: GatewayOptions): ApolloGateway {
  const { config, logger } = options;
  // @apollo/gateway otherwise ships usage metrics to Apollo's OTLP endpoint and probes cloud metadata servers
  // (GCP, AWS, Azure) on construction: no caller data or outbound traffic leaves without an explicit opt-in.
  process.env['APOLLO_TELEMETRY_DISABLED'] ??= 'true';
  const urlOf = (name: string, composedUrl: string | undefined): string => {
    const url = options.subgraphUrls?.[name] ?? (isKnownSubgraph(name) ? config.subgraphs[name].url : composedUrl);
    if (!url) throw new Error(`no URL for subgraph ${name}`);
    return url;
  };
  const gatewayLogger = logger.child({ component: 'gateway' });
  const common = {
    logger: gatewayLogger,
    buildService: ({ name, url }: { name: string; url?: string }) =>
      new SignedDataSource({
        name,
        url: urlOf(name, url),
        signer: options.signer,
        ...(options.metrics ? { fetches: options.metrics.subgraphFetch } : {}),
      }),
  };

  if (options.supergraphSdl !== undefined)
    return new ApolloGateway({ ...common, supergraphSdl: options.supergraphSdl });

  const path = supergraphPath(config);
  if (config.isProduction || !configSection(config, routerConfig).supergraph.hotReload) {
    return new ApolloGateway({
      ...common,
      supergraphSdl: async () => ({ supergraphSdl: await readFile(path, 'utf8') }),
    });
  }
  return new ApolloGateway({
    ...common,
    supergraphSdl: async ({ update }) => {
      const initial = await readFile(path, 'utf8');
      const stopWatching = watchSupergraph(path, initial, gatewayLogger, update);
      return { supergraphSdl: initial, cleanup: async () => stopWatching() };
    },
  });
}

/**
 * Watches the directory rather than the file: editors and the compose script replace the file, which ends
 * a watch on the old inode. Changes are debounced and only a different text is applied; a supergraph the
 * gateway rejects is logged and the running one stays.
 */
function watchSupergraph(path: string, initial: string, logger: Logger, update: (sdl: string) => void): () => void {
  let current = initial;
  let timer: NodeJS.Timeout | undefined;
  const reload = async () => {
    let next: string;
    try {
      next = await readFile(path, 'utf8');
    } catch (err) {
      logger.warn({ err, path }, 'supergraph unreadable; keeping the running one');
      return;
    }
    if (next === current || next.trim() === '') return;
    try {
      update(next);
      current = next;
      logger.info({ path }, 'supergraph reloaded');
    } catch (err) {
      logger.error({ err, path }, 'supergraph update rejected; keeping the running one');
    }
  };
  const watcher = watch(dirname(path), (_event, filename) => {
    if (filename !== basename(path)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), 100);
  });
  watcher.on('error', (err) => logger.warn({ err, path }, 'supergraph watch failed'));
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
