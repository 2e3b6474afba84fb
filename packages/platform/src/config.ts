import { z } from 'zod';

/**
 * Every subgraph this product will ever have, in a fixed order: a subgraph's default port is the router's
 * PORT plus its position, so ports stay stable as later subgraphs land.
 */
export const SUBGRAPH_NAMES = ['auth', 'user', 'product', 'cart', 'checkout', 'order', 'payment', 'flashsale'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

const port = z.coerce.number().int().min(0).max(65535);
const perMinute = z.coerce.number().int().min(0);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** The raw environment as the contract documents it; names match ../shared/contract/README.md. */
const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    PORT: port.default(4000),
    HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgresql://postgres@127.0.0.1:5432/postgres'),
    MALL_DB_PREFIX: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,40}$/, 'lowercase letters, digits and underscores, starting with a letter')
      .default('mall_'),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    // Prepared statements reused per connection (createPrismaClient); false behind a transaction-mode pooler
    // that cannot carry them.
    DATABASE_STATEMENT_CACHE: z.stringbool().default(true),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379/0'),
    MALL_REDIS_PREFIX: z.string().min(1).max(64).default('mall:'),
    KAFKA_BROKERS: optionalString,
    KAFKA_BROKER_PORT: port.default(9092),
    MALL_DATA_DIR: z.string().min(1).default('.data'),
    MALL_INTERNAL_SECRET: optionalString,
    // How long a stopping service keeps serving while readiness already fails; a Kubernetes endpoint update
    // takes a few seconds to reach every proxy. 5 s in production, none elsewhere (tests and Ctrl-C stop at once).
    SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(60_000).optional(),
    // Prometheus metrics are served on their own port (the service's port + this offset), never on the public
    // one; 0 turns the metrics listener off.
    METRICS_PORT_OFFSET: z.coerce.number().int().min(0).max(60_000).default(1000),
    // Test stacks: every metrics listener on a port the OS picks (read back from the running service), because a
    // fixed offset from a test's random service port can land on a port another process holds by then.
    METRICS_EPHEMERAL_PORTS: z.stringbool().default(false),
    MALL_WORKER_ID: z.coerce.number().int().min(0).max(1023).optional(),
    AUTH_JWT_ISSUER: z.string().min(1).default('mall-auth'),
    AUTH_JWT_AUDIENCE: z.string().min(1).default('mall-api'),
    RATE_LIMIT_IP_PER_MINUTE: perMinute.default(1200),
    RATE_LIMIT_USER_PER_MINUTE: perMinute.default(600),
    ...Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${name.toUpperCase()}_PORT`, port.optional()])),
    ...Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${name.toUpperCase()}_URL`, z.url().optional()])),
    ...Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${name.toUpperCase()}_DATABASE_URL`, z.url().optional()])),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    // Development may generate throwaway secrets into MALL_DATA_DIR; production must be given real ones. Only
    // the secret every service needs is demanded here: the signing key and the admin password belong to auth
    // and user alone (least privilege), and those services refuse to start without them (devSecret).
    if (!env.MALL_INTERNAL_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['MALL_INTERNAL_SECRET'], message: 'required when NODE_ENV=production' });
    } else if (env.MALL_INTERNAL_SECRET.length < 32) {
      ctx.addIssue({ code: 'custom', path: ['MALL_INTERNAL_SECRET'], message: 'must be at least 32 characters' });
    }
  });

type Env = z.infer<typeof EnvSchema>;

export interface Config {
  readonly nodeEnv: Env['NODE_ENV'];
  readonly isProduction: boolean;
  readonly logLevel: NonNullable<Env['LOG_LEVEL']>;
  readonly host: string;
  readonly port: number;
  readonly database: {
    readonly serverUrl: string;
    readonly prefix: string;
    readonly poolSize: number;
    readonly statementCache: boolean;
  };
  readonly redis: { readonly url: string; readonly prefix: string };
  /** `undefined` means: run the embedded broker on `embeddedBrokerPort`. */
  readonly kafka: { readonly brokers: readonly string[] | undefined; readonly embeddedBrokerPort: number };
  readonly dataDir: string;
  readonly workerId: number | undefined;
  /** Delay between readiness turning false and the HTTP server closing, on stop. */
  readonly shutdownDrainMs: number;
  /** Metrics listen on the service's port plus `portOffset`; 0: no metrics listener. */
  readonly metrics: { readonly portOffset: number; readonly ephemeralPorts: boolean };
  readonly secrets: { readonly internal: string | undefined };
  /** Access-token `iss`/`aud`: auth issues them, the router verifies them, so both read the same pair. */
  readonly accessTokens: { readonly issuer: string; readonly audience: string };
  /** Edge policy shared by the router (per IP/user) and auth (failed logins per IP). */
  readonly rateLimit: { readonly ipPerMinute: number; readonly userPerMinute: number };
  readonly subgraphs: Readonly<
    Record<SubgraphName, { readonly port: number; readonly url: string; readonly databaseUrl: string | undefined }>
  >;
  /** The environment it was read from, so each service reads its own section (`configSection`) from it. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * One service's own variables, declared next to that service (`subgraphs/auth/config.ts`, `router/src/config.ts`)
 * so no service carries another's knobs. `loadConfig(env, [section, …])` validates them together with the
 * platform's, reporting every problem at once; the service then reads its typed values with `configSection`.
 */
export interface ConfigSection<T> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
}

export function defineConfig<T>(name: string, schema: z.ZodType<T>): ConfigSection<T> {
  return { name, schema };
}

/** Shared field shapes for service sections. */
export const configFields = { port, perMinute, optionalString } as const;

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Validates the whole environment at once and reports every problem together, so an operator fixes a
 * deployment in one pass. Pure: reads only the object it is given.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  sections: readonly ConfigSection<unknown>[] = [],
): Config {
  const parsed = EnvSchema.safeParse(env);
  const issues = parsed.success ? [] : describe(parsed.error.issues);
  for (const section of sections) {
    const result = section.schema.safeParse(env);
    if (!result.success) issues.push(...describe(result.error.issues));
  }
  if (!parsed.success || issues.length) throw new ConfigError([...new Set(issues)]);
  const e = parsed.data;
  const dyn = e as unknown as Record<string, string | number | undefined>;
  const subgraphs = Object.fromEntries(
    SUBGRAPH_NAMES.map((name, index) => {
      const upper = name.toUpperCase();
      const subgraphPort = (dyn[`${upper}_PORT`] as number | undefined) ?? (e.PORT === 0 ? 0 : e.PORT + index + 1);
      const url = (dyn[`${upper}_URL`] as string | undefined) ?? `http://127.0.0.1:${subgraphPort}/graphql`;
      return [name, { port: subgraphPort, url, databaseUrl: dyn[`${upper}_DATABASE_URL`] as string | undefined }];
    }),
  ) as Config['subgraphs'];

  return {
    nodeEnv: e.NODE_ENV,
    isProduction: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'warn' : 'info'),
    host: e.HOST,
    port: e.PORT,
    database: {
      serverUrl: e.DATABASE_URL,
      prefix: e.MALL_DB_PREFIX,
      poolSize: e.DATABASE_POOL_SIZE,
      statementCache: e.DATABASE_STATEMENT_CACHE,
    },
    redis: { url: e.REDIS_URL, prefix: e.MALL_REDIS_PREFIX },
    kafka: {
      brokers: e.KAFKA_BROKERS?.split(',')
        .map((b) => b.trim())
        .filter(Boolean),
      embeddedBrokerPort: e.KAFKA_BROKER_PORT,
    },
    dataDir: e.MALL_DATA_DIR,
    workerId: e.MALL_WORKER_ID,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS ?? (e.NODE_ENV === 'production' ? 5_000 : 0),
    metrics: { portOffset: e.METRICS_PORT_OFFSET, ephemeralPorts: e.METRICS_EPHEMERAL_PORTS },
    secrets: { internal: e.MALL_INTERNAL_SECRET },
    accessTokens: { issuer: e.AUTH_JWT_ISSUER, audience: e.AUTH_JWT_AUDIENCE },
    rateLimit: { ipPerMinute: e.RATE_LIMIT_IP_PER_MINUTE, userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE },
    subgraphs,
    env: Object.freeze({ ...env }),
  };
}

function describe(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
}

const sectionCache = new WeakMap<Config, Map<ConfigSection<unknown>, unknown>>();

/** A service's own typed settings, read from the environment the config was loaded from (once per config). */
export function configSection<T>(config: Config, section: ConfigSection<T>): T {
  let cache = sectionCache.get(config);
  if (!cache) {
    cache = new Map();
    sectionCache.set(config, cache);
  }
  if (cache.has(section)) return cache.get(section) as T;
  const result = section.schema.safeParse(config.env);
  if (!result.success) throw new ConfigError(describe(result.error.issues));
  cache.set(section, result.data);
  return result.data;
}

/** The database URL of one domain: its own `<DOMAIN>_DATABASE_URL`, else `${MALL_DB_PREFIX}<domain>` on DATABASE_URL. */
export function domainDatabaseUrl(config: Config, domain: SubgraphName): string {
  const own = config.subgraphs[domain].databaseUrl;
  if (own) return own;
  const url = new URL(config.database.serverUrl);
  url.pathname = `/${config.database.prefix}${domain}`;
  return url.toString();
}

/** Brokers to connect to: the configured real Kafka, else the embedded broker on loopback. */
export function kafkaBrokers(config: Config): string[] {
  return config.kafka.brokers ? [...config.kafka.brokers] : [`127.0.0.1:${config.kafka.embeddedBrokerPort}`];
}

/**
 * Where a service listening on `servicePort` serves its metrics: `servicePort + METRICS_PORT_OFFSET`, a free
 * port when the service took one (port 0) or the configuration asks for it (test stacks), or null when metrics are off.
 */
export function metricsPortOf(config: Config, servicePort: number): number | null {
  if (config.metrics.portOffset === 0) return null;
  return servicePort === 0 || config.metrics.ephemeralPorts ? 0 : servicePort + config.metrics.portOffset;
}
