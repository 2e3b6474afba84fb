import { configFields, defineConfig } from '@mall/platform';
import { z } from 'zod';

/** The router's own variables; the platform's (ports, Redis, rate limits, token issuer/audience) are shared. */
export const routerConfig = defineConfig(
  'router',
  z
    .object({
      NODE_ENV: z.string().optional(),
      TRUST_PROXY: z.string().default('loopback'),
      CORS_ORIGINS: configFields.optionalString,
      SUPERGRAPH_PATH: configFields.optionalString,
      SUPERGRAPH_HOT_RELOAD: z.stringbool().optional(),
      TRUSTED_DOCUMENTS: z.enum(['off', 'on']).default('off'),
      APQ_TTL_SECONDS: z.coerce.number().int().positive().default(86_400),
      SUBGRAPH_DEDUPE: z.stringbool().default(true),
      ROUTER_PASSTHROUGH: z.stringbool().default(true),
      ROUTER_REVOCATION_CACHE: z.stringbool().default(true),
      SUBSCRIPTION_REVOCATION_SWEEP_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
      APOLLO_KEY: configFields.optionalString,
      APOLLO_GRAPH_REF: configFields.optionalString,
    })
    .transform((e) => ({
      /** Proxies whose X-Forwarded-For is believed for the client IP. */
      trustProxy: e.TRUST_PROXY,
      corsOrigins: e.CORS_ORIGINS?.split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      supergraph: { path: e.SUPERGRAPH_PATH, hotReload: e.SUPERGRAPH_HOT_RELOAD ?? e.NODE_ENV !== 'production' },
      /** `on`: only the operations of `router/trusted-documents.json` run (production); `off`: any, with APQ. */
      trustedDocuments: e.TRUSTED_DOCUMENTS === 'on',
      /** How long an automatic persisted query stays registered in Redis. */
      apqTtlSeconds: e.APQ_TTL_SECONDS,
      /** Identical query fetches of one caller in flight at once go to the subgraph once (never across callers). */
      dedupe: e.SUBGRAPH_DEDUPE,
      /**
       * A query or mutation planned as one fetch of the client's own operation is answered with the subgraph's
       * bytes after the first time (`router/src/passthrough.ts`); off with Studio usage reporting, which needs
       * Apollo's path.
       */
      passthrough: e.ROUTER_PASSTHROUGH && !(e.APOLLO_KEY && e.APOLLO_GRAPH_REF),
      /**
       * Admission checks revocations in the router's own copy of them, kept current by Redis
       * (`router/src/revocation-cache.ts`), instead of one Redis round trip per request.
       */
      revocationCache: e.ROUTER_REVOCATION_CACHE,
      /** How often open subscription sockets re-check their token against logouts and revocations; 0: only on events. */
      revocationSweepMs: e.SUBSCRIPTION_REVOCATION_SWEEP_MS,
      /** Apollo Studio usage reporting, only when both are set. */
      studio: e.APOLLO_KEY && e.APOLLO_GRAPH_REF ? { key: e.APOLLO_KEY, graphRef: e.APOLLO_GRAPH_REF } : undefined,
    })),
);
export type RouterConfig = z.infer<typeof routerConfig.schema>;
