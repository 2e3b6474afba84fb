// The relay's and the consumer's Prometheus series, read back from the registry's exposition text as a scrape
// of /metrics would see them: real Postgres outbox, embedded broker, one event dead-lettered.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry } from '@mall/platform';
import type { Kafka, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import {
  type ConsumeOutcome,
  createEvent,
  type EventHandlers,
  NonRetryableError,
  serializeEvent,
  startConsumer,
  startOutboxRelay,
  writeOutbox,
} from '../src/index.ts';
import { waitFor } from '../src/testing/index.ts';
import { type EventsHarness, type FixtureDomain, type FixtureTx, startEventsHarness, testLogger } from './helpers.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (enough of it for prom-client's output). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = raw!.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one series matching name and labels, or undefined when there is none. */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const matches = parseExposition(await registry.metrics()).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(matches.length <= 1, `${name} ${JSON.stringify(labels)} matches ${matches.length} series`);
  return matches[0]?.value;
}

describe('event pipeline metrics (Postgres + embedded broker)', () => {
  let harness: EventsHarness;
  let kafka: Kafka;
  let domain: FixtureDomain;
  let producer: Producer;
  let cleanups: EventsHarness['cleanups'];

  before(async () => {
    harness = await startEventsHarness('events-metrics-test');
    ({ kafka, domain, producer, cleanups } = harness);
  });

  after(() => harness?.close());

  test('relay backlog, publish failures and consumer outcomes show up on the registry', async () => {
    const registry = createMetricsRegistry('subgraph-test', { defaultMetrics: false });

    // Kafka "down" until the backlog has been observed, so the gauges and the failure counter have something to show.
    let kafkaDown = true;
    let failedRows = 0;
    const relay = await startOutboxRelay({
      databaseUrl: domain.db.url,
      producer: {
        send: async (record) => {
          if (kafkaDown) throw new Error('broker unavailable');
          return producer.send(record);
        },
      },
      logger: testLogger,
      name: 'relay-metrics',
      pollIntervalMs: 50,
      backoff: { initialMs: 20, maxMs: 100 },
      backlogCheckIntervalMs: 0,
      registry,
      hooks: { onFailed: (_topic, _err, rows) => (failedRows += rows.length) },
    });
    cleanups.push(() => relay.stop());

    const deleted = createEvent('user.deleted', {
      aggregateId: '3001',
      data: { userId: '3001', deletedAt: new Date().toISOString() },
      traceId: `req-${randomUUID()}`,
    });
    const poison = createEvent('user.updated', { aggregateId: '3002', data: { userId: '3002', name: 'poison' } });
    const registered = createEvent('user.registered', {
      aggregateId: '3003',
      data: { userId: '3003', email: 'a@example.com', name: null, roles: ['CUSTOMER'] },
    });
    await domain.prisma.$transaction(async (tx) => {
      await writeOutbox(tx, [deleted, poison, registered]);
    });

    await waitFor(async () => (await sample(registry, 'outbox_pending_events')) === 3, {
      what: 'three pending events in the gauge',
    });
    assert.ok(
      ((await sample(registry, 'outbox_oldest_pending_seconds')) ?? 0) > 0,
      'the oldest pending event has an age',
    );
    // The backlog gauge can be refreshed before the first failed publish is counted: wait for the count.
    await waitFor(
      async () => ((await sample(registry, 'outbox_publish_failures_total', { topic: 'user.events' })) ?? 0) >= 3,
      { what: 'failed publishes counted' },
    );
    assert.equal(
      await sample(registry, 'outbox_events_published_total', { topic: 'user.events' }),
      undefined,
      'nothing published yet',
    );

    kafkaDown = false;
    await waitFor(
      async () => (await sample(registry, 'outbox_events_published_total', { topic: 'user.events' })) === 3,
      { what: 'three published' },
    );
    await waitFor(async () => (await sample(registry, 'outbox_pending_events')) === 0, {
      what: 'backlog gauge back to 0',
    });
    assert.equal(await sample(registry, 'outbox_oldest_pending_seconds'), 0);
    assert.equal(
      await sample(registry, 'outbox_publish_failures_total', { topic: 'user.events' }),
      failedRows,
      'one failure per row per failed attempt',
    );

    const handlers: EventHandlers<FixtureTx> = {
      'user.deleted': async (event, tx) => {
        await tx.effect.create({ data: { id: randomUUID(), eventId: event.id, note: 'metrics-test' } });
      },
      'user.updated': async () => {
        throw new NonRetryableError('cannot apply this update');
      },
    };
    const outcomes: Record<string, ConsumeOutcome[]> = { 'metrics-test': [], 'metrics-skip': [] };
    // Two consumers on one registry: the second must reuse the metrics rather than fail on duplicate names.
    for (const [name, consumerHandlers] of [
      ['metrics-test', handlers],
      ['metrics-skip', {}],
    ] as const) {
      const handle = await startConsumer({
        kafka,
        groupId: `group-${name}`,
        consumerName: name,
        topics: ['user.events'],
        prisma: domain.prisma,
        handlers: consumerHandlers,
        logger: testLogger,
        registry,
        onProcessed: (o) => outcomes[name]!.push(o),
        consumerConfig: { maxWaitTimeInMs: 250 },
      });
      cleanups.push(() => handle.stop());
    }
    await waitFor(() => outcomes['metrics-test']!.length === 3 && outcomes['metrics-skip']!.length === 3, {
      what: 'both consumers saw all three events',
      timeoutMs: 20_000,
    });

    // A redelivery of an event already applied: a duplicate for the first consumer, another skip for the second.
    await producer.send({
      topic: 'user.events',
      acks: -1,
      messages: [{ key: deleted.aggregateId, value: serializeEvent(deleted) }],
    });
    await waitFor(() => outcomes['metrics-test']!.length === 4 && outcomes['metrics-skip']!.length === 4, {
      what: 'the redelivery',
      timeoutMs: 20_000,
    });

    const consumed = (consumer: string, type: string, outcome: string) =>
      sample(registry, 'events_consumed_total', { consumer, type, outcome });
    assert.equal(await consumed('metrics-test', 'user.deleted', 'processed'), 1);
    assert.equal(await consumed('metrics-test', 'user.deleted', 'duplicate'), 1);
    assert.equal(await consumed('metrics-test', 'user.updated', 'dead-lettered'), 1);
    assert.equal(await consumed('metrics-test', 'user.registered', 'skipped'), 1);
    assert.equal(await consumed('metrics-test', 'user.updated', 'processed'), undefined);
    assert.equal(await consumed('metrics-skip', 'user.deleted', 'skipped'), 2);
    assert.equal(await consumed('metrics-skip', 'user.updated', 'skipped'), 1);
    assert.equal(await consumed('metrics-skip', 'user.registered', 'skipped'), 1);

    assert.equal(
      await sample(registry, 'events_dead_lettered_total', { consumer: 'metrics-test', topic: 'user.events' }),
      1,
    );
    assert.equal(await sample(registry, 'events_dead_lettered_total', { consumer: 'metrics-skip' }), undefined);

    // Each handler attempt is timed (the duplicate's attempt too); skipped events never reach a handler.
    const handlerRuns = (consumer: string, type: string) =>
      sample(registry, 'event_handler_duration_seconds_count', { consumer, type });
    assert.equal(await handlerRuns('metrics-test', 'user.deleted'), 2);
    assert.equal(await handlerRuns('metrics-test', 'user.updated'), 1);
    assert.equal(await handlerRuns('metrics-test', 'user.registered'), undefined);
    assert.equal(await handlerRuns('metrics-skip', 'user.deleted'), undefined);

    const text = await registry.metrics();
    for (const line of text.split('\n').filter((l) => /^(outbox_|events_|event_handler_)/.test(l))) {
      assert.match(line, /service="subgraph-test"/, `the service's default label is on ${line}`);
    }
  });
});
