// Writer and relay against real Postgres, with a recording producer standing in for Kafka so the
// database-side guarantees (atomicity, crash recovery, per-aggregate order, backoff) are checked exactly.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import pg from 'pg';
import { createEvent, type OutboxRelay, startOutboxRelay, writeOutbox } from '../src/index.ts';
import { waitFor } from '../src/testing/index.ts';
import { createFixtureDomain, type FixtureDomain, testLogger } from './helpers.ts';

interface Sent {
  topic: string;
  key: string;
  type: string;
  name: string;
  relay: string;
}

/** Appends to `log` when the "broker" acknowledges, i.e. in the order a partition would hold them. */
function recordingProducer(
  log: Sent[],
  relay: string,
  behaviour: { latencyMs?: () => number; fail?: (topic: string) => boolean; afterSend?: () => Promise<void> } = {},
): Pick<Producer, 'send'> {
  return {
    async send(record: ProducerRecord): Promise<RecordMetadata[]> {
      if (behaviour.fail?.(record.topic)) throw new Error(`broker unavailable for ${record.topic}`);
      const latency = behaviour.latencyMs?.() ?? 0;
      if (latency > 0) await delay(latency); // simulated network time, not a wait for an outcome
      for (const m of record.messages) {
        const payload = JSON.parse(String(m.value)) as { type: string; data: { name?: string } };
        log.push({ topic: record.topic, key: String(m.key), type: payload.type, name: payload.data.name ?? '', relay });
      }
      await behaviour.afterSend?.();
      return [];
    },
  };
}

const updated = (userId: string, name: string) =>
  createEvent('user.updated', { aggregateId: userId, data: { userId, name }, traceId: `req-${userId}-${name}` });

describe('transactional outbox', () => {
  let domain: FixtureDomain;
  let relays: OutboxRelay[] = [];

  before(async () => {
    domain = await createFixtureDomain();
  });
  after(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await domain?.close();
  });
  beforeEach(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
    await domain.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('TRUNCATE "outbox", "processed_events", "effect"');
    });
  });

  async function relay(
    options: Omit<Parameters<typeof startOutboxRelay>[0], 'databaseUrl' | 'logger'>,
  ): Promise<OutboxRelay> {
    const r = await startOutboxRelay({ databaseUrl: domain.db.url, logger: testLogger, ...options });
    relays.push(r);
    return r;
  }

  async function outboxRows(): Promise<
    { id: string; key: string; attempts: number; last_error: string | null; published: boolean; backoff_ms: number }[]
  > {
    const c = new pg.Client({ connectionString: domain.db.url });
    await c.connect();
    try {
      const { rows } = await c.query(
        `SELECT id, key, attempts, last_error, published_at IS NOT NULL AS published,
                (extract(epoch FROM available_at - created_at) * 1000)::int AS backoff_ms
         FROM outbox ORDER BY created_at, id`,
      );
      return rows;
    } finally {
      await c.end();
    }
  }

  test('rows exist only if the domain transaction commits, and the commit wakes a relay through NOTIFY', async () => {
    const log: Sent[] = [];
    // A poll far longer than the test: only the NOTIFY can make this relay publish in time.
    const r = await relay({ producer: recordingProducer(log, 'r1'), pollIntervalMs: 600_000 });
    await r.drain(); // queued behind the relay's start-up look, so that look is over

    await assert.rejects(
      domain.prisma.$transaction(async (tx) => {
        await tx.effect.create({ data: { id: 'e1', eventId: 'x', note: 'rolled back' } });
        await writeOutbox(tx, updated('1', 'ghost'));
        throw new Error('business rule failed');
      }),
      /business rule failed/,
    );
    assert.equal((await outboxRows()).length, 0);

    await domain.prisma.$transaction(async (tx) => {
      await tx.effect.create({ data: { id: 'e2', eventId: 'x', note: 'committed' } });
      await writeOutbox(tx, [updated('1', 'a'), updated('1', 'b')]);
    });
    await waitFor(() => log.length === 2, { what: 'published after commit', timeoutMs: 5_000 });
    assert.deepEqual(
      log.map((s) => [s.topic, s.key, s.name]),
      [
        ['user.events', '1', 'a'],
        ['user.events', '1', 'b'],
      ],
    );
    await waitFor(async () => (await outboxRows()).every((r) => r.published), { what: 'rows marked published' });
  });

  test('a relay that dies between publishing and marking leaves the rows to the next relay (at-least-once)', async () => {
    await domain.prisma.$transaction(async (tx) => {
      await writeOutbox(tx, [updated('7', 'a'), updated('7', 'b'), updated('8', 'a')]);
    });
    const log: Sent[] = [];
    let killed = false;
    const killer = new pg.Client({ connectionString: domain.db.url });
    await killer.connect();
    try {
      // Crash after the broker acknowledged and before the relay's UPDATE/COMMIT: its backend is terminated.
      await relay({
        name: 'relay-doomed',
        producer: recordingProducer(log, 'doomed', {
          afterSend: async () => {
            if (killed) return;
            killed = true;
            await killer.query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relay-doomed' AND datname = current_database()`,
            );
          },
        }),
        pollIntervalMs: 600_000,
      }).then(async (doomed) => {
        await waitFor(() => killed, { what: 'doomed relay published' });
        await doomed.stop();
      });
    } finally {
      await killer.end();
    }
    assert.ok(log.length > 0);
    assert.ok(
      (await outboxRows()).every((r) => !r.published),
      'nothing was marked: the transaction died with the connection',
    );

    await relay({ name: 'relay-restarted', producer: recordingProducer(log, 'restarted') });
    await waitFor(async () => (await outboxRows()).every((r) => r.published), { what: 'republished after restart' });
    const restarted = log.filter((s) => s.relay === 'restarted').map((s) => `${s.key}:${s.name}`);
    assert.deepEqual(restarted.sort(), ['7:a', '7:b', '8:a']);
  });

  test('two relays publish every aggregate in order, each row once', async () => {
    const log: Sent[] = [];
    const latency = () => Math.floor(Math.random() * 8);
    const aggregates = ['101', '102', '103', '104', '105', '106'];
    const perAggregate = 40;
    const write = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        for (const id of aggregates) {
          await domain.prisma.$transaction(async (tx) => {
            await writeOutbox(tx, updated(id, String(i).padStart(3, '0')));
          });
        }
      }
    };
    // A backlog first, so both relays contend for the same aggregates from their first cycle, then more
    // events arriving while they run.
    await write(0, perAggregate / 2);
    await relay({
      name: 'relay-a',
      producer: recordingProducer(log, 'a', { latencyMs: latency }),
      batchSize: 4,
      pollIntervalMs: 50,
    });
    await relay({
      name: 'relay-b',
      producer: recordingProducer(log, 'b', { latencyMs: latency }),
      batchSize: 4,
      pollIntervalMs: 50,
    });
    await write(perAggregate / 2, perAggregate);
    const total = aggregates.length * perAggregate;
    await waitFor(() => log.length >= total, { what: `${total} published`, timeoutMs: 30_000 });
    await waitFor(async () => (await outboxRows()).every((r) => r.published), { what: 'all marked' });

    assert.equal(log.length, total, 'no row published twice');
    for (const id of aggregates) {
      const names = log.filter((s) => s.key === id).map((s) => s.name);
      assert.deepEqual(
        names,
        Array.from({ length: perAggregate }, (_, i) => String(i).padStart(3, '0')),
        `order of aggregate ${id}`,
      );
    }
    assert.ok(log.some((s) => s.relay === 'a') && log.some((s) => s.relay === 'b'), 'both relays took part');
  });

  test('after a cycle that published, a burst gathers into one batch; the first event after a quiet spell goes at once', async () => {
    const log: Sent[] = [];
    const batches: number[] = [];
    const recording = recordingProducer(log, 'r');
    const producer: Pick<Producer, 'send'> = {
      send(record) {
        batches.push(record.messages.length);
        return recording.send(record);
      },
    };
    // A pause far longer than writing the burst below takes, even on a loaded machine.
    const r = await relay({ producer, pollIntervalMs: 600_000, coalesceMs: 3_000 });
    await r.drain(); // queued behind the relay's start-up look (which published nothing), so that look is over
    const started = performance.now();
    await domain.prisma.$transaction((tx) => writeOutbox(tx, updated('21', 'first')));
    await waitFor(() => log.length === 1, { what: 'the lone event published' });
    assert.ok(performance.now() - started < 2_000, 'not held back: the cycle before it published nothing');
    // Twenty commits, each notifying the relay, while it pauses after publishing the first event.
    for (let i = 0; i < 20; i++)
      await domain.prisma.$transaction((tx) => writeOutbox(tx, updated(String(100 + i), 'burst')));
    await waitFor(() => log.length === 21, { what: 'the burst published', timeoutMs: 10_000 });
    assert.deepEqual(batches, [1, 20], 'one produce request for the whole burst');
  });

  test('a failing topic backs off with attempts and error recorded, holding its aggregate but not the others', async () => {
    const log: Sent[] = [];
    let orderBrokerDown = true;
    const r = await relay({
      producer: recordingProducer(log, 'r', { fail: (topic) => orderBrokerDown && topic === 'order.events' }),
      backoff: { initialMs: 100, maxMs: 200 },
      pollIntervalMs: 600_000,
    });
    const cancelled = (orderId: string, n: number) =>
      createEvent('order.completed', {
        aggregateId: orderId,
        data: { orderId, userId: '1', completedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString() },
      });
    await domain.prisma.$transaction(async (tx) => {
      await writeOutbox(tx, [cancelled('55', 1), updated('9', 'x'), cancelled('55', 2)]);
    });
    await waitFor(() => log.length === 1, { what: 'user event published despite the order topic failing' });
    assert.equal(log[0]!.topic, 'user.events');

    const failed = (await outboxRows()).filter((row) => row.key === '55');
    assert.equal(failed.length, 2);
    assert.ok(
      failed.every((row) => !row.published && row.attempts >= 1 && /broker unavailable/.test(row.last_error ?? '')),
    );
    assert.ok(
      failed[0]!.backoff_ms >= 100,
      'head row is backed off (available_at pushed past its creation by the backoff)',
    );

    orderBrokerDown = false;
    await waitFor(
      async () => {
        await r.drain();
        return log.length === 3;
      },
      { what: 'order events published after the backoff', timeoutMs: 5_000 },
    );
    assert.deepEqual(
      log.filter((s) => s.key === '55').map((s) => s.type),
      ['order.completed', 'order.completed'],
    );
  });
});
