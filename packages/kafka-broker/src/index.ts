import path from 'node:path';
import type { Registry } from 'prom-client';
import { Broker } from './broker.ts';
import { promMetrics } from './metrics.ts';
import { DEFAULT_VISIBILITY, type Logger, type Visibility } from './storage/log.ts';

export type { Logger, Visibility } from './storage/log.ts';
export { DEFAULT_VISIBILITY } from './storage/log.ts';

export interface BrokerOptions {
  /** 0 = pick a free port. */
  port?: number;
  /** Interface to bind; also the advertised host unless advertisedHost is set. Default 127.0.0.1. */
  host?: string;
  advertisedHost?: string;
  /** Data lives under <dataDir>/kafka. */
  dataDir: string;
  autoCreateTopics?: boolean;
  numPartitions?: number;
  /** Per partition. bytes/ms -1 = unlimited. */
  retention?: { bytes?: number; ms?: number; checkIntervalMs?: number };
  segmentBytes?: number;
  /**
   * When consumers see a produced batch. 'written' (default, Kafka with one
   * replica): once it is in the log file. 'durable': only once it is fsynced.
   * Either way acks=1/-1 are answered only after the fsync.
   */
  visibility?: Visibility;
  maxFrameBytes?: number;
  maxMessageBytes?: number;
  initialRebalanceDelayMs?: number;
  logger?: Logger;
  metrics?: Registry;
}

export interface RunningBroker {
  port: number;
  host: string;
  /** "host:port", ready for KAFKA_BROKERS / kafkajs `brokers`. */
  brokers: string;
  /** Runs the retention pass now (it also runs on a timer); returns segments deleted. */
  runRetention(): number;
  close(): Promise<void>;
}

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? silent;
  const broker = new Broker(
    {
      dataDir: path.resolve(options.dataDir),
      advertisedHost: options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
      autoCreateTopics: options.autoCreateTopics ?? true,
      numPartitions: options.numPartitions ?? 3,
      maxFrameBytes: options.maxFrameBytes ?? 100 * 1024 * 1024,
      maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
      segmentBytes: options.segmentBytes ?? 64 * 1024 * 1024,
      visibility: options.visibility ?? DEFAULT_VISIBILITY,
      retentionBytes: options.retention?.bytes ?? -1,
      retentionMs: options.retention?.ms ?? 7 * 24 * 3600 * 1000,
      retentionCheckIntervalMs: options.retention?.checkIntervalMs ?? 60_000,
      initialRebalanceDelayMs: options.initialRebalanceDelayMs ?? 300,
    },
    log,
  );
  if (options.metrics) {
    broker.metrics = promMetrics(options.metrics, {
      groupMembers: () => broker.groups.memberCount(),
      topics: () => broker.store.topicNames().length,
      partitions: () => broker.store.topicNames().reduce((n, t) => n + (broker.store.topic(t)?.length ?? 0), 0),
      connections: () => broker.connectionCount,
    });
  }
  try {
    await broker.listen(options.port ?? 0, host);
  } catch (e) {
    await broker.close();
    throw e;
  }
  log.info(
    { host, port: broker.port, dataDir: options.dataDir, visibility: broker.cfg.visibility },
    'kafka broker listening',
  );
  return {
    port: broker.port,
    host: broker.advertisedHost,
    brokers: `${broker.advertisedHost}:${broker.port}`,
    runRetention: () => broker.runRetention(),
    close: () => broker.close(),
  };
}
