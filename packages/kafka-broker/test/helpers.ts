import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, type KafkaConfig, logLevel, Partitioners } from 'kafkajs';
import { type BrokerOptions, type RunningBroker, startBroker } from '../src/index.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

export function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-broker-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function broker(
  t: { after(fn: () => Promise<void> | void): void },
  opts: Partial<BrokerOptions> & { dataDir: string },
): Promise<RunningBroker> {
  const b = await startBroker({ port: 0, initialRebalanceDelayMs: 0, ...opts });
  t.after(() => b.close());
  return b;
}

export function kafka(brokers: string, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'test',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 1000 },
    ...extra,
  });
}

export const partitioner = Partitioners.DefaultPartitioner;

/** Polls a condition (no blind sleeps); fails with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
