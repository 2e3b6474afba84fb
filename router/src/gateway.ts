import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloGateway } from '@apollo/gateway';
import {
  type Config,
  configSection,
  type IdentitySigner,
  IdentityTokens,
  type Logger,
  SUBGRAPH_NAMES,
  type SubgraphName,
} from '@mall/platform';
import { routerConfig } from './config.ts';
import { createSubgraphAgent, SignedDataSource } from './data-source.ts';
import type { RouterMetrics } from './metrics.ts';
import type { Passthrough } from './passthrough.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The checked-in supergraph, or `SUPERGRAPH_PATH` (relative paths are taken from the repository root). */
export function supergraphPath(config: Config): string {
  return resolve(REPO_ROOT, configSection(config, routerConfig).supergraph.path ?? 'schema/supergraph.graphql');
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
  /** Learns single-fetch plans and gets the data sources it forwards through. */
  readonly passthrough?: Passthrough;
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
  // One token cache and one connection pool for all subgraphs of this router (and across supergraph reloads).
  const tokens = new IdentityTokens(options.signer);
  const agent = createSubgraphAgent();
  const { dedupe } = configSection(config, routerConfig);
  const { passthrough } = options;
  const common = {
    logger: gatewayLogger,
    buildService: ({ name, url }: { name: string; url?: string }) => {
      const source = new SignedDataSource({
        name,
        url: urlOf(name, url),
        tokens,
        agent,
        dedupe,
        ...(options.metrics ? { metrics: options.metrics } : {}),
      });
      passthrough?.addSource(name, source);
      return source;
    },
    ...(passthrough ? { experimental_didResolveQueryPlan: passthrough.learn } : {}),
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
