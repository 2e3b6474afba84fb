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
    })
    .transform((e) => ({
      /** Proxies whose X-Forwarded-For is believed for the client IP. */
      trustProxy: e.TRUST_PROXY,
      corsOrigins: e.CORS_ORIGINS?.split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      supergraph: { path: e.SUPERGRAPH_PATH, hotReload: e.SUPERGRAPH_HOT_RELOAD ?? e.NODE_ENV !== 'production' },
    })),
);
export type RouterConfig = z.infer<typeof routerConfig.schema>;
