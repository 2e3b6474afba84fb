import { randomInt } from 'node:crypto';
import { assertWorkerId, MAX_WORKER_ID } from './snowflake.ts';

export interface WorkerIdOptions {
  /** An explicit worker id wins over the environment. */
  workerId?: number;
  env?: Record<string, string | undefined>;
  /**
   * Whether a random id may be used when none is configured. Default: outside production only,
   * because two instances that happen to draw the same id can issue the same ids.
   */
  allowRandom?: boolean;
}

export interface ResolvedWorkerId {
  workerId: number;
  source: 'option' | 'env' | 'random';
}

/**
 * The snowflake worker id of this instance.
 *
 * Production: every running instance of a service needs its own id in 0..1023, set through
 * `MALL_WORKER_ID`. Run the subgraphs as StatefulSets and set it from the pod index, e.g. env
 * `MALL_WORKER_ID` from the downward API field `metadata.labels['apps.kubernetes.io/pod-index']`
 * (plus a per-service offset if several services share a table's id space). Without it, production
 * refuses to start rather than risk duplicate ids. Development falls back to a random id.
 */
export function resolveWorkerId(options: WorkerIdOptions = {}): ResolvedWorkerId {
  const env = options.env ?? process.env;
  if (options.workerId !== undefined) return { workerId: assertWorkerId(options.workerId), source: 'option' };
  const raw = env.MALL_WORKER_ID?.trim();
  if (raw) {
    if (!/^\d+$/.test(raw))
      throw new RangeError(`MALL_WORKER_ID must be an integer in 0..${MAX_WORKER_ID}, got "${raw}"`);
    return { workerId: assertWorkerId(Number(raw)), source: 'env' };
  }
  const allowRandom = options.allowRandom ?? env.NODE_ENV !== 'production';
  if (!allowRandom) {
    throw new Error(
      `MALL_WORKER_ID is not set; each production instance needs a distinct value in 0..${MAX_WORKER_ID}`,
    );
  }
  return { workerId: randomInt(0, MAX_WORKER_ID + 1), source: 'random' };
}
