import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { FETCH_MAX_WAIT_MS, parseEvent } from '@mall/events';
import { type Logger, throttled } from '@mall/platform';
import type { Consumer, Kafka } from 'kafkajs';

const TOPIC = 'order.events';
/** How long start-up waits for the group to form; past it the router starts anyway and kafkajs keeps trying. */
const JOIN_WAIT_MS = 10_000;
const RETRY_MS = 2_000;
const STOP_TIMEOUT_MS = 5_000;

export type OrderListener = () => void;

/**
 * `order.events` read by this router instance alone (its own consumer group, from the latest offset) and fanned
 * out in memory to the subscriptions watching each order, so every replica sees every event and any number of
 * replicas can run. Events carry no payload for subscribers: each one only says "refetch this order".
 */
export class OrderFeed {
  readonly #listeners = new Map<string, Set<OrderListener>>();
  readonly #kafka: Kafka;
  readonly #logger: Logger;
  #consumer: Consumer | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #eventsSeen = 0;
  readonly #log = throttled();

  constructor(kafka: Kafka, logger: Logger) {
    this.#kafka = kafka;
    this.#logger = logger.child({ component: 'order-feed' });
  }

  /**
   * Joins `order.events`; true once the group has formed, false when Kafka cannot be reached (the router
   * serves anyway, and the feed keeps trying in the background: subscribers get their first message meanwhile).
   */
  async start(): Promise<boolean> {
    if (this.#stopped) return false;
    // A group per process: groups share partitions among members, and every replica needs all of them.
    const consumer = this.#kafka.consumer({
      groupId: `router-subscriptions-${randomUUID()}`,
      sessionTimeout: 30_000,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    });
    this.#consumer = consumer;
    const joined = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), JOIN_WAIT_MS);
      consumer.on(consumer.events.GROUP_JOIN, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs restarts a consumer after a retriable crash itself; anything else is restarted from here.
      if (!payload.restart) this.#retryLater(payload.error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [TOPIC], fromBeginning: false });
      await consumer.run({ eachMessage: async ({ message }) => this.#dispatch(message.value) });
    } catch (err) {
      this.#retryLater(err);
      return false;
    }
    return joined;
  }

  #retryLater(err: unknown): void {
    this.#log((suppressed) =>
      this.#logger.warn({ err, suppressed }, 'order events unavailable; subscriptions only send the current status'),
    );
    const failed = this.#consumer;
    this.#consumer = undefined;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      void failed?.disconnect().catch(() => undefined);
      void this.start();
    }, RETRY_MS);
  }

  /** Events dispatched so far: a refetch started at the same count has seen every one of them. */
  get eventsSeen(): number {
    return this.#eventsSeen;
  }

  /** Calls `listener` on every event of `orderId` until the returned function is called. */
  watch(orderId: string, listener: OrderListener): () => void {
    let listeners = this.#listeners.get(orderId);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(orderId, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#listeners.get(orderId) === listeners) this.#listeners.delete(orderId);
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    // Bounded like @mall/events' consumers: after a broker restart kafkajs's disconnect can wait a whole session
    // timeout for a parked JoinGroup, which would hold the router's shutdown (and everything stopped after it).
    const consumer = this.#consumer;
    if (!consumer) return;
    const left = await Promise.race([
      consumer.disconnect().then(() => true),
      delay(STOP_TIMEOUT_MS, false, { ref: false }),
    ]);
    if (!left) this.#logger.warn({ stopTimeoutMs: STOP_TIMEOUT_MS }, 'order feed did not leave its group in time');
  }

  #dispatch(value: Buffer | null): void {
    let orderId: unknown;
    try {
      orderId = (parseEvent(value).data as { orderId?: unknown }).orderId;
    } catch (err) {
      this.#logger.warn({ err }, 'unreadable order event skipped');
      return;
    }
    if (typeof orderId !== 'string') return;
    this.#eventsSeen += 1;
    for (const listener of this.#listeners.get(orderId) ?? []) listener();
  }
}
