import {
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';
import { type Logger, pino } from 'pino';
// Before any kafkajs connection is made: idle connections would otherwise spin a 1 ms timer each.
import './kafkajs-idle.ts';

export interface CreateKafkaOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** Overrides for tests and unusual deployments (ssl, sasl, timeouts). */
  config?: Partial<Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>>;
}

const PINO_TO_KAFKAJS: Record<string, logLevel> = {
  trace: logLevel.DEBUG,
  debug: logLevel.DEBUG,
  info: logLevel.INFO,
  warn: logLevel.WARN,
  error: logLevel.ERROR,
  fatal: logLevel.ERROR,
  silent: logLevel.NOTHING,
};

/**
 * How long a consumer's fetch may wait at the broker for data (kafkajs's `maxWaitTimeInMs`; data is answered as
 * soon as it arrives, so this is no latency). kafkajs defaults to 5 s, Kafka's own consumer to 500 ms; a
 * stopping consumer waits out its fetch in flight before it leaves its group, so 5 s held every shutdown (a
 * deploy, a test stack) that long per consumer. Idle, a consumer fetches twice a second instead of once in five.
 */
export const FETCH_MAX_WAIT_MS = 500;

/**
 * kafkajs warns at every idempotent producer's creation unless its retries are unbounded. Ours are bounded on
 * purpose, and unbounded ones are not safe here: kafkajs's send loop reconnects even after `disconnect()`, so a
 * send started while Kafka is down would retry forever, holding the outbox rows it claimed. The outbox is our
 * durable retry instead: a send that runs out of attempts leaves its rows for a later cycle, and the relay
 * replaces the producer (a new producer id), so the sequence gap the warning is about never outlives the failed
 * send. The message is kept at debug level, where it is still visible to anyone who looks.
 */
const BOUNDED_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** A kafkajs client whose logs go through pino, at the pino logger's level. */
export function createKafka(options: CreateKafkaOptions): Kafka {
  const logger = (options.logger ?? pino({ name: options.clientId })).child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    // kafkajs retries each request itself; a few seconds of total backoff covers a broker restart or leader move
    // without hiding a dead cluster for minutes.
    retry: { initialRetryTime: 100, maxRetryTime: 5_000, retries: 8 },
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    ...options.config,
    logLevel: PINO_TO_KAFKAJS[logger.level] ?? logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const {
          message,
          timestamp: _ts,
          logger: _l,
          ...extra
        } = log as LogEntry['log'] & { timestamp?: unknown; logger?: unknown };
        const fields = { namespace, ...extra };
        if (level === logLevel.ERROR) logger.error(fields, message);
        else if (level === logLevel.WARN && message !== BOUNDED_RETRIES_WARNING) logger.warn(fields, message);
        else if (level === logLevel.INFO) logger.info(fields, message);
        else logger.debug(fields, message);
      },
  });
}

/**
 * The producer every publisher uses: idempotent (a retried produce is not duplicated by the broker),
 * acks from all in-sync replicas, one request in flight so retries cannot reorder a partition, and the
 * explicit DefaultPartitioner (murmur2, same key → partition mapping as the Java client; choosing it also
 * silences KAFKAJS_NO_PARTITIONER_WARNING).
 */
export function createProducer(kafka: Kafka, config: Partial<ProducerConfig> = {}): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    ...config,
  });
}
