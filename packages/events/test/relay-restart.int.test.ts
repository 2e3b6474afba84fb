// The relay survives its broker going away: rows wait in the outbox (attempts recorded, backing off) and are
// published once the broker is back, through a fresh idempotent producer.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBroker } from '@mall/kafka-broker';
import { freePort } from '@mall/platform/testing';
import pg from 'pg';
import {
  createEvent,
  createKafka,
  ensureTopics,
  type OutboxRelay,
  parseEvent,
  startOutboxRelay,
  writeOutbox,
} from '../src/index.ts';
import { waitFor } from '../src/testing/index.ts';
import { createFixtureDomain, type FixtureDomain, testLogger } from './helpers.ts';

let dataDir: string;
let domain: FixtureDomain;
let db: pg.Pool;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mall-relay-restart-'));
  domain = await createFixtureDomain();
  db = new pg.Pool({ connectionString: domain.db.url, max: 1 });
});
after(async () => {
  await db?.end();
  await domain?.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('a broker outage delays events but loses none', {
  skip: Boolean(process.env['KAFKA_BROKERS']) && 'needs the embedded broker',
}, async () => {
  const port = await freePort();
  let broker = await startBroker({ port, dataDir });
  const kafka = createKafka({
    brokers: [broker.brokers],
    clientId: 'relay-restart-test',
    logger: testLogger,
    config: { retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }, connectionTimeout: 500 },
  });
  await ensureTopics(kafka);
  let relay: OutboxRelay | undefined;
  try {
    relay = await startOutboxRelay({
      databaseUrl: domain.db.url,
      kafka,
      logger: testLogger,
      pollIntervalMs: 100,
      sendTimeoutMs: 1_000,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const write = (userId: string) =>
      domain.prisma.$transaction(async (tx) =>
        writeOutbox(
          tx,
          createEvent('user.deleted', { aggregateId: userId, data: { userId, deletedAt: new Date().toISOString() } }),
        ),
      );
    const published = async (count: number) =>
      (await db.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL')).rows[0]!.n ===
      String(count);

    await write('1001');
    await waitFor(() => published(1), { timeoutMs: 10_000, what: 'first event published' });

    await broker.close();
    await write('1002');
    await waitFor(
      async () =>
        Number(
          (await db.query<{ attempts: number }>(`SELECT attempts FROM outbox WHERE key = '1002'`)).rows[0]?.attempts ??
            0,
        ) > 0,
      { timeoutMs: 20_000, what: 'a failed attempt to be recorded while the broker is down' },
    );

    broker = await startBroker({ port, dataDir });
    await waitFor(() => published(2), {
      timeoutMs: 30_000,
      what: 'the delayed event to be published after the broker returns',
    });

    const consumer = kafka.consumer({ groupId: `relay-restart-${port}` });
    const seen = new Set<string>();
    await consumer.connect();
    await consumer.subscribe({ topic: 'user.events', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.add(parseEvent(message.value).aggregateId) });
    try {
      await waitFor(() => seen.has('1001') && seen.has('1002'), {
        timeoutMs: 20_000,
        what: 'both events on the topic',
      });
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual([...seen].sort(), ['1001', '1002']);
  } finally {
    await relay?.stop();
    await broker.close();
  }
});
