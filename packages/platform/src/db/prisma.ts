import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { isTransientFault, throttled } from '../faults.ts';
import type { DbLogger } from './migrator.ts';

type PrismaLogLevel = 'info' | 'query' | 'warn' | 'error';

/** What the factory hands a generated Prisma 7 client's constructor. */
export interface PrismaClientFactoryOptions {
  adapter: PrismaPg;
  log: Array<{ level: PrismaLogLevel; emit: 'event' }>;
}

export interface CreatePrismaClientOptions {
  /** The domain database URL (`postgresql://…/mall_user`). */
  url: string;
  /** Connections in this instance's pool. Default 10; size it so pods × poolSize stays under `max_connections`. */
  poolSize?: number;
  logger?: DbLogger;
  /** Log queries slower than this (ms) at warn. Off by default: every query then becomes an event. */
  slowQueryMs?: number;
  /** Server-side cap on any single statement. Default 15 s. */
  statementTimeoutMs?: number;
  /** Shown in `pg_stat_activity`, so a stuck query can be traced to its service. */
  applicationName?: string;
  /** Called for every statement the client runs (tests count round trips with it). */
  onQuery?: (event: { query: string; durationMs: number }) => void;
  /**
   * How long a query or transaction may wait for a pooled connection (or for a new one to connect), ms.
   * Default 2 s. A transaction's own `maxWait` only applies within it, so a service whose transactions queue on
   * a hot row by design (a stock reservation rush) raises this to their `maxWait`.
   */
  poolWaitMs?: number;
  /**
   * Prepare each distinct statement once per connection and reuse it (default true): see `statementNames`.
   * Off for a transaction-mode pooler in front of Postgres that cannot carry prepared statements.
   */
  statementCache?: boolean;
}

/** Distinct statements one client names (each of its connections prepares at most these); later ones run unnamed. */
const MAX_NAMED_STATEMENTS = 2_000;
/** Longer texts run unnamed: a text that long is a bulk write whose text varies with its row count. */
const MAX_NAMED_SQL_LENGTH = 8_192;

/**
 * Names for the adapter's statements, so node-postgres prepares each distinct SQL text once per connection and
 * then only binds and executes it, and Postgres keeps its plan (a generic one once it costs no more than the
 * custom ones, `plan_cache_mode` auto). Unnamed, every statement was parsed and planned on every call: planning
 * alone was as long as executing for most of the checkout's statements (pg_stat_statements, track_planning).
 * The name is a digest of the text: the same statement gets the same name on every connection and client.
 * Postgres re-plans a prepared statement itself when a migration changes a table it reads.
 */
export function statementNames(max = MAX_NAMED_STATEMENTS): (query: { sql: string }) => string {
  const names = new Map<string, string>();
  return ({ sql }) => {
    let name = names.get(sql);
    if (name === undefined) {
      // node-postgres runs a statement with no name unprepared, as before.
      if (names.size >= max || sql.length > MAX_NAMED_SQL_LENGTH) return undefined as unknown as string;
      name = `mall_${createHash('sha256').update(sql).digest('base64url').slice(0, 27)}`;
      names.set(sql, name);
    }
    return name;
  };
}

interface LogEvent {
  message: string;
  target: string;
}

interface QueryEvent {
  query: string;
  duration: number;
  target: string;
}

// The generated client's `$on` only accepts the levels its type parameter saw at construction, which
// a generic factory cannot name; this is the runtime shape it has for the levels we configure.
interface PrismaEventSource {
  $on(event: 'warn' | 'error', callback: (event: LogEvent) => void): unknown;
  $on(event: 'query', callback: (event: QueryEvent) => void): unknown;
}

/**
 * Builds a generated Prisma 7 client (`prisma-client` generator) on `@prisma/adapter-pg` with a pool
 * sized for this instance and Prisma's warnings and errors sent to our logger.
 *
 * ```ts
 * import { PrismaClient } from '../data/generated/client.ts';
 * const prisma = createPrismaClient(PrismaClient, { url: config.databaseUrl, poolSize: 10, logger });
 * ```
 */
export function createPrismaClient<C>(
  Client: new (options: PrismaClientFactoryOptions) => C,
  options: CreatePrismaClientOptions,
): C {
  const { logger, slowQueryMs, onQuery } = options;
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1)
    throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);

  const adapter = new PrismaPg(
    {
      connectionString: options.url,
      max: poolSize,
      // Fail fast when the pool is exhausted or the server is unreachable rather than hang a request.
      // Short, so a request fails fast (UNAVAILABLE) while Postgres is out of reach instead of queueing.
      connectionTimeoutMillis: options.poolWaitMs ?? 2_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      // The server enforces statement_timeout only while it can; a stalled network needs the client's own.
      query_timeout: (options.statementTimeoutMs ?? 15_000) + 1_000,
      // A transaction left open by a bug would otherwise hold its row locks until the pod dies.
      idle_in_transaction_session_timeout: 60_000,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    },
    {
      onPoolError: (error) => logger?.error({ err: error }, 'idle database connection failed'),
      onConnectionError: (error) => logger?.error({ err: error }, 'database connection failed'),
      ...(options.statementCache === false ? {} : { statementNameGenerator: statementNames() }),
    },
  );

  const log: PrismaClientFactoryOptions['log'] = [];
  if (logger) log.push({ level: 'warn', emit: 'event' }, { level: 'error', emit: 'event' });
  const watchSlow = logger !== undefined && slowQueryMs !== undefined;
  if (watchSlow || onQuery) log.push({ level: 'query', emit: 'event' });

  const client = new Client({ adapter, log });
  const events = client as unknown as PrismaEventSource;
  if (logger) {
    events.$on('warn', (event) => logger.warn({ target: event.target }, event.message));
    // While the database is unreachable every query reports the same loss: one line every few seconds.
    const outageLog = throttled();
    events.$on('error', (event) => {
      if (!isTransientFault(event)) return logger.error({ target: event.target }, event.message);
      outageLog((suppressed) => logger.warn({ target: event.target, suppressed }, event.message));
    });
  }
  if (watchSlow || onQuery) {
    events.$on('query', (event) => {
      onQuery?.({ query: event.query, durationMs: event.duration });
      if (watchSlow && event.duration >= slowQueryMs) {
        logger.warn({ query: event.query, durationMs: event.duration }, 'slow query');
      }
    });
  }
  return client;
}
