/**
 * Payment deadlines. Each order schedules its own expiry as a BullMQ delayed job due at `expiresAt` (job id per
 * order, so a retried placeOrder schedules it once); a periodic database sweep cancels whatever a lost Redis
 * forgot. Both end in OrderService.expire, whose conditional UPDATE lets exactly one of any number of
 * instances and paths cancel the order and write its one event.
 */
import type { Config, Logger } from '@mall/platform';
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq';
import type { ExpiryOutcome } from './service.ts';

const QUEUE = 'order-expiry';

/**
 * BullMQ takes connection options (it opens its own connections), not our shared client. A worker's blocking
 * commands must wait for Redis however long it is away (BullMQ requires it); the queue's `add` must fail fast
 * instead, so placeOrder is not held up by a Redis outage (the sweep covers the order).
 */
function bullConnection(redisUrl: string, role: 'queue' | 'worker'): ConnectionOptions {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: role === 'worker' ? null : 1,
  };
}

/** What the worker and the sweep call: OrderService. */
export interface Expirer {
  expire(orderId: bigint): Promise<ExpiryOutcome>;
  sweepExpired(): Promise<number>;
}

async function runJob(orders: Expirer, job: Job<{ orderId: string }>): Promise<void> {
  // A job due by this Node's clock may run a hair before the deadline by the database's: failing makes BullMQ
  // retry it after its backoff, instead of leaving the order to the sweep.
  if ((await orders.expire(BigInt(job.data.orderId))) === 'early') throw new Error('order expiry ran early');
}

export class OrderExpiryQueue {
  readonly #queue: Queue;
  readonly #redisUrl: string;
  /** The stack's MALL_REDIS_PREFIX + `bull`, so a stack's (and a test's) jobs stay its own. */
  readonly #prefix: string;
  readonly #logger: Logger;
  #worker: Worker | undefined;

  constructor(redis: Config['redis'], logger: Logger) {
    this.#redisUrl = redis.url;
    this.#prefix = `${redis.prefix}bull`;
    this.#logger = logger;
    this.#queue = new Queue(QUEUE, { connection: bullConnection(redis.url, 'queue'), prefix: this.#prefix });
    this.#queue.on('error', (err) => logger.warn({ err }, 'order expiry queue error'));
  }

  /** Schedules the order's expiry; a second call for the same order is a no-op (same job id). */
  async schedule(orderId: bigint, expiresAt: Date): Promise<void> {
    await this.#queue.add(
      'expire',
      { orderId: String(orderId) },
      {
        jobId: `order-${orderId}`,
        delay: Math.max(0, expiresAt.getTime() - Date.now()),
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    );
  }

  /**
   * Starts this instance's worker (the subgraph runs the database sweep beside it, `kit.every`). Every instance
   * runs both: BullMQ hands each due job to one worker, and the conditional UPDATE behind `expire` settles any
   * overlap with the sweeps.
   */
  start(orders: Expirer): void {
    const logger = this.#logger;
    this.#worker = new Worker(QUEUE, (job: Job<{ orderId: string }>) => runJob(orders, job), {
      connection: bullConnection(this.#redisUrl, 'worker'),
      prefix: this.#prefix,
      concurrency: 8,
    });
    this.#worker.on('failed', (job, err) => logger.warn({ err, jobId: job?.id }, 'order expiry job failed'));
    this.#worker.on('error', (err) => logger.warn({ err }, 'order expiry worker error'));
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.#queue.close();
  }
}
