import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Consumer, ConsumerConfig, EachMessagePayload, IHeaders, Kafka, Producer } from 'kafkajs';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import { type AnyEvent, type EventEnvelope, EventValidationError, parseEvent } from './envelope.ts';
import { createProducer, FETCH_MAX_WAIT_MS } from './kafka.ts';
import { consumerMetrics } from './metrics.ts';
import type { EventType } from './schemas/index.ts';
import { dlqTopic } from './topics.ts';
import { withConsumerSpan } from './tracing.ts';

/** The part of a Prisma interactive-transaction client the consumer itself uses. */
export interface ConsumerTx {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** Any generated Prisma client: `Tx` is inferred from its `$transaction` callback, so handlers get full typings. */
export interface TransactionalClient<Tx> {
  $transaction<R>(fn: (tx: Tx) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
}

/**
 * Work a handler hands back to run after its transaction committed: Redis or HTTP calls that must not happen
 * inside it (a transaction held open across network I/O times out when the other side is slow). The event is
 * already marked processed when it runs, so it is not retried: it must be something its owner can redo from
 * the committed state (auth's revocation mirror copies any revocation this missed).
 */
export type AfterCommit = () => Promise<void>;

// `void`, not `undefined`: a handler is any async function, with or without a `return` of after-commit work.
// biome-ignore lint/suspicious/noConfusingVoidType: see above.
export type EventHandler<T extends EventType, Tx> = (event: EventEnvelope<T>, tx: Tx) => Promise<void | AfterCommit>;
export type EventHandlers<Tx> = { [T in EventType]?: EventHandler<T, Tx> };

/** Throw from a handler for an event that can never succeed (e.g. refers to data that cannot exist): it skips the retries. */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}

export type ConsumeStatus = 'processed' | 'duplicate' | 'skipped' | 'dead-lettered';

export interface ConsumeOutcome {
  status: ConsumeStatus;
  /** Undefined when the message could not be parsed. */
  event: AnyEvent | undefined;
  topic: string;
  partition: number;
  offset: string;
  attempts: number;
  error?: unknown;
}

export interface StartConsumerOptions<Tx extends ConsumerTx> {
  kafka: Kafka;
  groupId: string;
  /** The key in processed_events; stable across deploys (renaming it replays everything still retained). */
  consumerName: string;
  topics: readonly string[];
  prisma: TransactionalClient<Tx>;
  handlers: EventHandlers<Tx>;
  logger?: Logger;
  /** Handler attempts before the event goes to `<topic>.dlq`. Default 5. */
  maxAttempts?: number;
  /** Delay before attempt n+1: initialMs · 2^(n-1), capped at maxMs, ±20 % jitter. Default 200 ms … 10 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Tells an infrastructure fault (the database or Redis out of reach, a time-out) from a failing event. A
   * transient failure is retried with the same backoff for as long as it lasts, without spending maxAttempts,
   * so an outage never dead-letters an event. Default: nothing is transient.
   */
  isTransient?: (error: unknown) => boolean;
  /** Interactive transaction timeout for one handler run. Default 10 s. */
  transactionTimeoutMs?: number;
  /** A new group starts at the earliest retained offset (default), so events published before it existed are not lost. */
  fromBeginning?: boolean;
  /** Partitions handled in parallel; order holds within each partition. Default 1. */
  partitionsConsumedConcurrently?: number;
  /** Producer for DLQ messages; by default the consumer creates its own. */
  dlqProducer?: Pick<Producer, 'send'>;
  consumerConfig?: Partial<Omit<ConsumerConfig, 'groupId'>>;
  /** How long `stop()` waits for the group to be left before giving up on it. Default 5 s. */
  stopTimeoutMs?: number;
  /** Called after each message's outcome is final (committed effect, duplicate, skip or DLQ). */
  onProcessed?: (outcome: ConsumeOutcome) => void;
  /**
   * Where to register events_consumed_total, event_handler_duration_seconds and events_dead_lettered_total,
   * labelled with consumerName (the service's /metrics registry). Without it the consumer records nothing.
   */
  registry?: Registry;
}

export interface ConsumerHandle {
  /** Leaves the group after the message in flight; a message mid-retry is left uncommitted for the next owner. */
  stop(): Promise<void>;
  /** Emits 'outcome' (ConsumeOutcome) for every finished message, like onProcessed. */
  readonly outcomes: EventEmitter<{ outcome: [ConsumeOutcome] }>;
  readonly consumer: Consumer;
}

const MAX_HEADER_ERROR = 4_000;

/**
 * Consumes events with effect-exactly-once semantics on top of at-least-once delivery: each handler runs in
 * one Prisma transaction together with the insert of (consumer, event id) into processed_events, so a
 * redelivery finds the row and is skipped, and a failed handler leaves neither effect nor mark.
 * No Kafka I/O happens inside that transaction. Offsets are committed only past finished messages; a
 * failing message is retried in place (holding its partition, to keep per-aggregate order) and after
 * maxAttempts is copied to `<topic>.dlq` with the error, then passed.
 */
export async function startConsumer<Tx extends ConsumerTx>(options: StartConsumerOptions<Tx>): Promise<ConsumerHandle> {
  const logger = (options.logger ?? pino({ name: options.consumerName })).child({
    component: 'event-consumer',
    consumer: options.consumerName,
  });
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const initialMs = options.backoff?.initialMs ?? 200;
  const maxMs = options.backoff?.maxMs ?? 10_000;
  const txTimeout = options.transactionTimeoutMs ?? 10_000;
  const isTransient = options.isTransient ?? (() => false);
  const outcomes = new EventEmitter<{ outcome: [ConsumeOutcome] }>();
  const abort = new AbortController();
  const metrics = options.registry ? consumerMetrics(options.registry) : undefined;
  const consumerLabel = options.consumerName;

  let ownProducer: Producer | undefined;
  let dlqProducer = options.dlqProducer;
  if (!dlqProducer) {
    ownProducer = createProducer(options.kafka);
    await ownProducer.connect();
    dlqProducer = ownProducer;
  }
  const dlq = dlqProducer;

  const consumer = options.kafka.consumer({
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    ...options.consumerConfig,
    groupId: options.groupId,
  });

  const finish = (outcome: ConsumeOutcome) => {
    // Unparseable bytes carry no trustworthy type; a fixed label keeps the series count bounded by EVENTS.
    metrics?.consumed.inc({
      consumer: consumerLabel,
      type: outcome.event?.type ?? 'unparseable',
      outcome: outcome.status,
    });
    try {
      options.onProcessed?.(outcome);
      outcomes.emit('outcome', outcome);
    } catch (err) {
      logger.error({ err }, 'onProcessed listener threw');
    }
  };

  async function deadLetter(payload: EachMessagePayload, error: unknown, attempts: number): Promise<void> {
    const { topic, partition, message } = payload;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const headers: IHeaders = {
      ...message.headers,
      'dlq-error': text.slice(0, MAX_HEADER_ERROR),
      'dlq-error-code': error instanceof EventValidationError ? error.code : 'HANDLER_FAILED',
      'dlq-attempts': String(attempts),
      'dlq-original-topic': topic,
      'dlq-original-partition': String(partition),
      'dlq-original-offset': message.offset,
      'dlq-consumer': options.consumerName,
      'dlq-failed-at': new Date().toISOString(),
    };
    // The original bytes and key, untouched, so the message can be replayed onto its topic as is.
    await dlq.send({
      topic: dlqTopic(topic),
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers }],
    });
    metrics?.deadLettered.inc({ consumer: consumerLabel, topic });
  }

  /**
   * Runs the handler and the processed mark in one transaction, then the handler's after-commit work;
   * false when the mark already existed.
   */
  async function applyOnce(event: AnyEvent, handler: EventHandler<EventType, Tx>): Promise<boolean> {
    const result = await options.prisma.$transaction(
      async (tx) => {
        const inserted = await tx.$executeRawUnsafe(
          `INSERT INTO "processed_events" ("consumer", "event_id") VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          options.consumerName,
          event.id,
        );
        if (inserted === 0) return { applied: false } as const;
        return { applied: true, afterCommit: await handler(event, tx) } as const;
      },
      { timeout: txTimeout },
    );
    if (result.afterCommit) {
      try {
        await result.afterCommit();
      } catch (err) {
        logger.warn({ eventId: event.id, type: event.type, err }, 'after-commit work failed; its owner redoes it');
      }
    }
    return result.applied;
  }

  async function handleMessage(payload: EachMessagePayload): Promise<void> {
    const { topic, partition, message, heartbeat } = payload;
    const base = { topic, partition, offset: message.offset };
    let event: AnyEvent;
    try {
      event = parseEvent(message.value);
    } catch (error) {
      // Retrying cannot make bytes parse.
      logger.error({ ...base, err: error }, 'unparseable event; sending to DLQ');
      await deadLetter(payload, error, 0);
      finish({ ...base, status: 'dead-lettered', event: undefined, attempts: 0, error });
      return;
    }
    const handler = options.handlers[event.type] as EventHandler<EventType, Tx> | undefined;
    if (!handler) {
      finish({ ...base, status: 'skipped', event, attempts: 0 });
      return;
    }
    // `attempt` counts failures of the event itself (the poison budget); `outage` counts consecutive
    // infrastructure failures, which only pace the retries.
    let attempt = 1;
    let outage = 0;
    for (let run = 1; ; run++) {
      const endTimer = metrics?.handlerDuration.startTimer({ consumer: consumerLabel, type: event.type });
      try {
        const applied = await applyOnce(event, handler);
        endTimer?.();
        if (outage) logger.info({ ...base, eventId: event.id, runs: run }, 'event handled after the outage');
        finish({ ...base, status: applied ? 'processed' : 'duplicate', event, attempts: run });
        return;
      } catch (error) {
        endTimer?.();
        // Stopping mid-retry: leave the offset uncommitted so the partition's next owner starts here.
        if (abort.signal.aborted) throw error;
        const log = { ...base, eventId: event.id, type: event.type, attempt, err: error };
        if (isTransient(error) && !(error instanceof NonRetryableError)) {
          outage++;
          // Once per outage at warn; the retries after it would only repeat the line.
          if (outage === 1) logger.warn(log, 'a dependency is unavailable; retrying the event until it is back');
          await backoffWait(outage, heartbeat);
          continue;
        }
        outage = 0;
        if (attempt >= maxAttempts || error instanceof NonRetryableError) {
          logger.error(log, 'event handler failed for good; sending to DLQ');
          await deadLetter(payload, error, attempt);
          finish({ ...base, status: 'dead-lettered', event, attempts: run, error });
          return;
        }
        logger.warn(log, 'event handler failed; retrying');
        await backoffWait(attempt, heartbeat);
        attempt++;
      }
    }
  }

  async function backoffWait(attempt: number, heartbeat: () => Promise<void>): Promise<void> {
    const base = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
    let remaining = base * (0.8 + Math.random() * 0.4);
    // Heartbeat through long waits so the group does not evict us and hand the partition to someone else.
    while (remaining > 0) {
      const step = Math.min(remaining, 1_000);
      await delay(step, undefined, { signal: abort.signal });
      remaining -= step;
      await heartbeat();
    }
  }

  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: true,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      // A CONSUMER span per message continuing the producer's trace, when tracing is on.
      eachMessage: (payload) =>
        withConsumerSpan(options.consumerName, payload.topic, payload.message.headers, () => handleMessage(payload)),
    });
  } catch (err) {
    await consumer.disconnect().catch(() => {});
    await ownProducer?.disconnect().catch(() => {});
    throw err;
  }
  logger.info({ topics: options.topics, groupId: options.groupId }, 'consumer started');

  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  let stopped: Promise<void> | undefined;
  return {
    consumer,
    outcomes,
    stop() {
      stopped ??= (async () => {
        abort.abort();
        // kafkajs's disconnect waits for requests in flight, and after a broker restart a JoinGroup may be parked
        // for a whole session timeout behind members the broker still remembers (as on Kafka). A deploy must not
        // wait that long: past the bound the member is left to expire by its session timeout, and whatever it
        // had not committed is delivered again to the next owner (consumers are idempotent).
        const left = await Promise.race([
          consumer.disconnect().then(() => true),
          delay(stopTimeoutMs, false, { ref: false }),
        ]);
        if (!left) logger.warn({ groupId: options.groupId, stopTimeoutMs }, 'consumer did not leave its group in time');
        await ownProducer?.disconnect();
      })();
      return stopped;
    },
  };
}
