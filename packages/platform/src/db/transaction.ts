import { setTimeout as delay } from 'node:timers/promises';

export type IsolationLevel = 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead' | 'Serializable';

export interface TransactionOptions {
  /** Extra attempts after a serialization failure or deadlock. Default 3. */
  maxRetries?: number;
  isolationLevel?: IsolationLevel;
  /** Prisma's interactive-transaction timeout in ms (Prisma's default is 5 s). Keep network I/O out of `fn`. */
  timeout?: number;
  /** How long to wait for a pooled connection to start the transaction, ms. Default 5 s (Prisma's is 2 s). */
  maxWait?: number;
  /** First backoff in ms; doubles per attempt, with full jitter. Default 20. */
  baseDelayMs?: number;
}

/**
 * The part of a generated Prisma client this helper needs. `Tx` is whatever the client passes its
 * callback (`Omit<PrismaClient, …>`), so callers keep full model typings inside `fn`.
 */
export interface InteractiveTransactionClient<Tx> {
  $transaction<R>(
    fn: (tx: Tx) => Promise<R>,
    options?: { maxWait?: number; timeout?: number; isolationLevel?: IsolationLevel },
  ): Promise<R>;
}

const DEFAULT_MAX_WAIT_MS = 5_000;
const PG_SERIALIZATION_FAILURE = '40001';
const PG_DEADLOCK_DETECTED = '40P01';

/**
 * True for a write conflict or deadlock: the transaction did nothing and may simply run again.
 * Prisma reports them as P2034; through the pg adapter the raw SQLSTATE may also surface.
 */
export function isRetryableTransactionError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return false;
    const { code } = current as { code?: unknown };
    if (code === 'P2034' || code === PG_SERIALIZATION_FAILURE || code === PG_DEADLOCK_DETECTED) return true;
    const meta = (current as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; kind?: unknown } } } })
      .meta;
    const cause = meta?.driverAdapterError?.cause;
    if (cause?.originalCode === PG_SERIALIZATION_FAILURE || cause?.originalCode === PG_DEADLOCK_DETECTED) return true;
    if (cause?.kind === 'TransactionWriteConflict') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs `fn` in one interactive transaction and runs it again, from the start, when Postgres aborts
 * it for a serialization conflict or deadlock; any other error is rethrown at once. Because `fn` can
 * run more than once it must only touch the database through `tx`, and publish nothing itself (write
 * to the outbox instead).
 */
export async function withTransaction<Tx, R>(
  prisma: InteractiveTransactionClient<Tx>,
  fn: (tx: Tx) => Promise<R>,
  options: TransactionOptions = {},
): Promise<R> {
  const maxRetries = options.maxRetries ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 20;
  const txOptions = {
    ...(options.isolationLevel ? { isolationLevel: options.isolationLevel } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    // A burst on one hot row or one idempotency key queues transactions for the pool while the first holds its
    // lock; Prisma's 2 s let a loaded machine fail requests that would have been answered a moment later. Still
    // bounded, and well inside the router's 10 s per subgraph fetch.
    maxWait: options.maxWait ?? DEFAULT_MAX_WAIT_MS,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      return await prisma.$transaction(fn, txOptions);
    } catch (error) {
      if (attempt >= maxRetries || !isRetryableTransactionError(error)) throw error;
      // Full jitter: colliding transactions spread out instead of colliding again in lockstep.
      await delay(Math.random() * baseDelayMs * 2 ** attempt);
    }
  }
}
