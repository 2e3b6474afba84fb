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
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379/0'),
    MALL_REDIS_PREFIX: z.string().min(1).max(64).default('mall:'),
    KAFKA_BROKERS: optionalString,
    KAFKA_BROKER_PORT: port.default(9092),
    MALL_DATA_DIR: z.string().min(1).default('.data'),
    MALL_ADMIN_EMAIL: z.email().default('admin@mall.local'),
    MALL_ADMIN_PASSWORD: optionalString,
    MALL_INTERNAL_SECRET: optionalString,
    MALL_WORKER_ID: z.coerce.number().int().min(0).max(1023).optional(),
    AUTH_JWT_PRIVATE_KEY: optionalString,
    // Extra public keys auth publishes in its JWKS: a retired key until its tokens expire, or the next one ahead of a rotation.
    AUTH_JWT_PREVIOUS_PUBLIC_KEYS: optionalString,
    AUTH_JWT_ISSUER: z.string().min(1).default('mall-auth'),
    AUTH_JWT_AUDIENCE: z.string().min(1).default('mall-api'),
    AUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(900).default(900),
    AUTH_REFRESH_TOKEN_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .default(30 * 24 * 3600),
    PAYMENT_WEBHOOK_SECRET: optionalString,
    ORDER_PAYMENT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(900),
    RATE_LIMIT_IP_PER_MINUTE: perMinute.default(1200),
    RATE_LIMIT_USER_PER_MINUTE: perMinute.default(600),
    TRUST_PROXY: z.string().default('loopback'),
    CORS_ORIGINS: optionalString,
    SUPERGRAPH_PATH: optionalString,
    SUPERGRAPH_HOT_RELOAD: z.stringbool().optional(),
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
  readonly database: { readonly serverUrl: string; readonly prefix: string; readonly poolSize: number };
  readonly redis: { readonly url: string; readonly prefix: string };
  /** `undefined` means: run the embedded broker on `embeddedBrokerPort`. */
  readonly kafka: { readonly brokers: readonly string[] | undefined; readonly embeddedBrokerPort: number };
  readonly dataDir: string;
  readonly workerId: number | undefined;
  readonly admin: { readonly email: string; readonly password: string | undefined };
  readonly secrets: {
    readonly internal: string | undefined;
    readonly jwtPrivateKey: string | undefined;
    readonly paymentWebhook: string | undefined;
  };
  readonly auth: {
    readonly issuer: string;
    readonly audience: string;
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    /** JSON (a JWK, an array of JWKs or a JWKS) or PEM SPKI blocks; undefined when there are none. */
    readonly previousPublicKeys: string | undefined;
  };
  readonly orderPaymentTimeoutSeconds: number;
  readonly rateLimit: { readonly ipPerMinute: number; readonly userPerMinute: number };
  readonly trustProxy: string;
  readonly corsOrigins: readonly string[] | undefined;
  readonly supergraph: { readonly path: string | undefined; readonly hotReload: boolean };
  readonly subgraphs: Readonly<
    Record<SubgraphName, { readonly port: number; readonly url: string; readonly databaseUrl: string | undefined }>
  >;
}

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
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  }
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
    database: { serverUrl: e.DATABASE_URL, prefix: e.MALL_DB_PREFIX, poolSize: e.DATABASE_POOL_SIZE },
    redis: { url: e.REDIS_URL, prefix: e.MALL_REDIS_PREFIX },
    kafka: {
      brokers: e.KAFKA_BROKERS?.split(',')
        .map((b) => b.trim())
        .filter(Boolean),
      embeddedBrokerPort: e.KAFKA_BROKER_PORT,
    },
    dataDir: e.MALL_DATA_DIR,
    workerId: e.MALL_WORKER_ID,
    admin: { email: e.MALL_ADMIN_EMAIL.toLowerCase(), password: e.MALL_ADMIN_PASSWORD },
    secrets: {
      internal: e.MALL_INTERNAL_SECRET,
      jwtPrivateKey: e.AUTH_JWT_PRIVATE_KEY,
      paymentWebhook: e.PAYMENT_WEBHOOK_SECRET,
    },
    auth: {
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      accessTokenTtlSeconds: e.AUTH_ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.AUTH_REFRESH_TOKEN_TTL_SECONDS,
      previousPublicKeys: e.AUTH_JWT_PREVIOUS_PUBLIC_KEYS,
    },
    orderPaymentTimeoutSeconds: e.ORDER_PAYMENT_TIMEOUT_SECONDS,
    rateLimit: { ipPerMinute: e.RATE_LIMIT_IP_PER_MINUTE, userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE },
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS?.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    supergraph: { path: e.SUPERGRAPH_PATH, hotReload: e.SUPERGRAPH_HOT_RELOAD ?? !(e.NODE_ENV === 'production') },
    subgraphs,
  };
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
