import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, SUBGRAPH_NAMES, type SubgraphName } from '@mall/platform';
import { deleteKeys, freePort } from '@mall/platform/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type Stack, type StackOptions, startStack } from './index.ts';

export interface GraphQLResult<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: {
    data?: T | null;
    errors?: {
      message: string;
      path?: readonly (string | number)[];
      extensions?: Record<string, unknown> & { code?: string };
    }[];
  };
}

export interface GqlOptions {
  readonly token?: string;
  readonly headers?: Record<string, string>;
}

export interface TestStack {
  /** Router GraphQL endpoint. */
  readonly url: string;
  /** Base URL (`http://127.0.0.1:port`) of every running subgraph, by name. */
  readonly subgraphUrls: Readonly<Record<string, string>>;
  /** The `/metrics` URL of every running service (router included), on its own port, by name. */
  readonly metricsUrls: Readonly<Record<string, string>>;
  readonly config: Config;
  readonly stack: Stack;
  /** A Redis client with the stack's key prefix, for assertions. */
  readonly redis: Redis;
  readonly admin: { readonly email: string; readonly password: string };
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: GqlOptions,
  ): Promise<GraphQLResult<T>>;
  /**
   * Another router in front of new instances of `subgraphs`, sharing this stack's databases, Redis and broker
   * (the other subgraphs are this stack's): what a second replica of those services sees. Closed by `close()`.
   */
  replica(subgraphs: readonly SubgraphName[]): Promise<{ readonly url: string }>;
  close(): Promise<void>;
}

export async function postGraphQL<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: GqlOptions = {},
): Promise<GraphQLResult<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body: GraphQLResult<T>['body'];
  try {
    body = JSON.parse(text) as GraphQLResult<T>['body'];
  } catch {
    throw new Error(`non-JSON response ${response.status}: ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * The sum of a metric's samples on a service's `/metrics` (router included) whose labels include `labels`:
 * a counter's value, or a histogram's `_count` across the series that match.
 */
export async function metricTotal(
  stack: Pick<TestStack, 'metricsUrls'>,
  service: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const url = stack.metricsUrls[service];
  if (!url) throw new Error(`no metrics for ${service}`);
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  return (await (await fetch(url)).text())
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => wanted.every((pair) => line.includes(pair)))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** Drops every database whose name starts with `prefix` (a test stack's own, never anyone else's). */
export async function dropDatabases(serverUrl: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [prefix],
    );
    for (const { datname } of rows)
      await client.query(`DROP DATABASE IF EXISTS "${datname.replaceAll('"', '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * A whole isolated stack for one test file: its own databases (unique MALL_DB_PREFIX), Redis prefix, data
 * directory, broker and ports. `close()` stops it and removes everything it created.
 */
export async function startTestStack(
  options: {
    subgraphs?: readonly SubgraphName[];
    env?: Record<string, string>;
    /** Start options per subgraph (a short reservation lease, a cheap password hash…). */
    subgraphOptions?: StackOptions['subgraphOptions'];
    onQuery?: StackOptions['onQuery'];
  } = {},
): Promise<TestStack> {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dbPrefix = `mt_${id}_`;
  const redisPrefix = `mt:${id}:`;
  const dataDir = await mkdtemp(join(tmpdir(), 'mall-test-'));
  const ports: Record<string, string> = { PORT: String(await freePort()), KAFKA_BROKER_PORT: String(await freePort()) };
  for (const name of SUBGRAPH_NAMES) ports[`${name.toUpperCase()}_PORT`] = String(await freePort());
  const admin = { email: `admin-${id}@mall.test`, password: `admin-${randomBytes(9).toString('base64url')}` };
  const env: Record<string, string | undefined> = {
    DATABASE_URL: process.env['DATABASE_URL'],
    REDIS_URL: process.env['REDIS_URL'],
    // A caller may size every subgraph's pool down (the bench smoke test does, running beside other stacks).
    DATABASE_POOL_SIZE: process.env['DATABASE_POOL_SIZE'],
    // …and a benchmark may turn the prepared-statement cache off to measure it.
    DATABASE_STATEMENT_CACHE: process.env['DATABASE_STATEMENT_CACHE'],
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['MALL_TEST_LOG_LEVEL'] ?? 'error',
    HOST: '127.0.0.1',
    MALL_DB_PREFIX: dbPrefix,
    MALL_REDIS_PREFIX: redisPrefix,
    MALL_DATA_DIR: dataDir,
    MALL_ADMIN_EMAIL: admin.email,
    MALL_ADMIN_PASSWORD: admin.password,
    METRICS_EPHEMERAL_PORTS: 'true',
    ...ports,
    ...options.env,
  };

  const cleanup = async (config: Config | undefined) => {
    const serverUrl =
      config?.database.serverUrl ?? env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
    const raw = new Redis(config?.redis.url ?? env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0');
    try {
      await dropDatabases(serverUrl, dbPrefix);
      await deleteKeys(raw, redisPrefix);
    } finally {
      raw.disconnect();
      await rm(dataDir, { recursive: true, force: true });
    }
  };

  const subgraphOptions = options.subgraphOptions ? { subgraphOptions: options.subgraphOptions } : {};
  let stack: Stack;
  try {
    stack = await startStack({
      env,
      ...subgraphOptions,
      ...(options.subgraphs ? { subgraphs: options.subgraphs } : {}),
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
  } catch (err) {
    await cleanup(undefined);
    throw err;
  }
  const redis = new Redis(stack.config.redis.url, { keyPrefix: redisPrefix });
  const url = stack.url!;
  const subgraphUrls = Object.fromEntries(
    [...stack.services].filter(([name]) => name !== 'router').map(([name, s]) => [name, s.url]),
  );
  const metricsUrls = Object.fromEntries(
    [...stack.services].flatMap(([name, s]) => (s.metricsUrl ? [[name, s.metricsUrl]] : [])),
  );
  const replicas: Stack[] = [];
  return {
    url,
    subgraphUrls,
    metricsUrls,
    config: stack.config,
    stack,
    redis,
    admin,
    gql: (query, variables, gqlOptions) => postGraphQL(url, query, variables, gqlOptions),
    async replica(names) {
      const replicaEnv: Record<string, string | undefined> = {
        ...env,
        PORT: String(await freePort()),
        KAFKA_BROKERS: stack.config.kafka.brokers?.join(','),
      };
      for (const name of SUBGRAPH_NAMES) {
        const upper = name.toUpperCase();
        if (names.includes(name)) replicaEnv[`${upper}_PORT`] = String(await freePort());
        else replicaEnv[`${upper}_URL`] = stack.config.subgraphs[name].url;
      }
      const replica = await startStack({ env: replicaEnv, subgraphs: names, ...subgraphOptions });
      replicas.push(replica);
      return { url: replica.url! };
    },
    async close() {
      redis.disconnect();
      for (const replica of replicas) await replica.stop();
      await stack.stop();
      await cleanup(stack.config);
    },
  };
}
