// End to end on real Postgres and the embedded Kafka-protocol broker: outbox → relay → kafkajs → idempotent consumer.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Consumer, IHeaders, Kafka, Producer } from 'kafkajs';
import pg from 'pg';
import {
  type ConsumeOutcome,
  type ConsumerHandle,
  createEvent,
  type EventHandlers,
  type OutboxRelay,
  serializeEvent,
  startConsumer,
  startOutboxRelay,
  writeOutbox,
} from '../src/index.ts';
import { waitFor } from '../src/testing/index.ts';
import { type EventsHarness, type FixtureDomain, type FixtureTx, startEventsHarness, testLogger } from './helpers.ts';

const deleted = (userId: string) =>
  createEvent('user.deleted', {
    aggregateId: userId,
    data: { userId, deletedAt: new Date().toISOString() },
    traceId: `req-${randomUUID()}`,
  });
const renamed = (userId: string, name: string) =>
  createEvent('user.updated', { aggregateId: userId, data: { userId, name } });

/**
 * A fake auth-like domain: revoking a user's sessions is an `effect` row keyed by the event. Several
 * consumers share the database and the topic here, so each effect is tagged with its consumer's name.
 */
const revokeSessions = (consumerName: string): EventHandlers<FixtureTx> => ({
  'user.deleted': async (event, tx) => {
    await tx.effect.create({ data: { id: randomUUID(), eventId: event.id, note: consumerName } });
  },
  'user.updated': async (event, tx) => {
    await tx.effect.create({ data: { id: randomUUID(), eventId: event.id, note: consumerName } });
  },
});

interface DlqMessage {
  key: string | undefined;
  value: Buffer | null;
  headers: Record<string, string>;
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
}

describe('events end to end (Postgres + embedded broker)', () => {
  let harness: EventsHarness;
  let kafka: Kafka;
  let domain: FixtureDomain;
  let producer: Producer;
  let cleanups: EventsHarness['cleanups'];

  before(async () => {
    harness = await startEventsHarness('events-int-test');
    ({ kafka, domain, producer, cleanups } = harness);
  });

  after(() => harness?.close());

  async function consumer(
    name: string,
    overrides: {
      handlers?: EventHandlers<FixtureTx>;
      maxAttempts?: number;
      groupId?: string;
      isTransient?: (error: unknown) => boolean;
    } = {},
  ) {
    const outcomes: ConsumeOutcome[] = [];
    const handle: ConsumerHandle = await startConsumer({
      kafka,
      groupId: overrides.groupId ?? `group-${name}`,
      consumerName: name,
      topics: ['user.events'],
      prisma: domain.prisma,
      handlers: overrides.handlers ?? revokeSessions(name),
      logger: testLogger,
      maxAttempts: overrides.maxAttempts ?? 5,
      backoff: { initialMs: 10, maxMs: 50 },
      ...(overrides.isTransient ? { isTransient: overrides.isTransient } : {}),
      onProcessed: (o) => outcomes.push(o),
      // Short fetch long-polls so leaving the group at the end of a test does not wait out a 5 s poll.
      consumerConfig: { maxWaitTimeInMs: 250 },
    });
    cleanups.push(() => handle.stop());
    return { handle, outcomes };
  }

  async function relay(name: string, producerOverride?: Pick<Producer, 'send'>): Promise<OutboxRelay> {
    const r = await startOutboxRelay({
      databaseUrl: domain.db.url,
      producer: producerOverride ?? producer,
      logger: testLogger,
      name,
      batchSize: 5,
      pollIntervalMs: 100,
    });
    cleanups.push(() => r.stop());
    return r;
  }

  async function dlqReader(): Promise<{ messages: DlqMessage[]; consumer: Consumer }> {
    const messages: DlqMessage[] = [];
    const c = kafka.consumer({ groupId: `dlq-reader-${randomUUID()}`, maxWaitTimeInMs: 250 });
    await c.connect();
    await c.subscribe({ topic: 'user.events.dlq', fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        messages.push({ key: message.key?.toString(), value: message.value, headers: stringHeaders(message.headers) });
      },
    });
    cleanups.push(() => c.disconnect());
    return { messages, consumer: c };
  }

  const effectsOf = (consumerName: string, eventIds: string[]) =>
    Promise.all(eventIds.map((eventId) => domain.prisma.effect.count({ where: { eventId, note: consumerName } })));

  test('a crash between commit and publish still publishes after restart, and the duplicate has one effect', async () => {
    const { outcomes } = await consumer('crash-test');
    // Committed while no relay runs: only the outbox holds these events.
    const events = [deleted('1001'), deleted('1002'), renamed('1001', 'late')];
    await domain.prisma.$transaction(async (tx) => {
      await writeOutbox(tx, events);
    });

    // The first relay publishes to Kafka and then loses its database session before marking the rows.
    let crashed = false;
    const killer = new pg.Client({ connectionString: domain.db.url });
    await killer.connect();
    const doomed = await relay('relay-crash-1', {
      send: async (record) => {
        const result = await producer.send(record);
        if (!crashed) {
          crashed = true;
          await killer.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relay-crash-1' AND datname = current_database()`,
          );
        }
        return result;
      },
    });
    await waitFor(() => crashed, { what: 'first publish' });
    await doomed.stop();
    await killer.end();

    // A new relay finds the rows still unpublished and sends them again.
    await relay('relay-crash-2');
    const ids = events.map((e) => e.id);
    await waitFor(() => ids.every((id) => outcomes.some((o) => o.event?.id === id && o.status === 'processed')), {
      what: 'all processed',
      timeoutMs: 15_000,
    });
    const republished = await waitFor(
      () => outcomes.filter((o) => o.status === 'duplicate' && ids.includes(o.event?.id ?? '')).length > 0,
      { what: 'the republished copies reach the consumer as duplicates', timeoutMs: 15_000 },
    );
    assert.ok(republished);
    assert.deepEqual(await effectsOf('crash-test', ids), [1, 1, 1]);
  });

  test('a redelivered event has one effect (same event produced twice, then replayed by a new group)', async () => {
    const event = deleted('2001');
    const message = { key: event.aggregateId, value: serializeEvent(event) };
    await producer.send({ topic: 'user.events', acks: -1, messages: [message, message] });

    const first = await consumer('redelivery-test');
    await waitFor(() => first.outcomes.filter((o) => o.event?.id === event.id).length === 2, {
      what: 'both copies consumed',
    });
    assert.deepEqual(
      first.outcomes.filter((o) => o.event?.id === event.id).map((o) => o.status),
      ['processed', 'duplicate'],
    );
    await first.handle.stop();

    // Same consumer name, new group: a full replay from the beginning, as after an offset reset.
    const replay = await consumer('redelivery-test', { groupId: 'group-redelivery-replay' });
    await waitFor(() => replay.outcomes.filter((o) => o.event?.id === event.id).length === 2, { what: 'replayed' });
    assert.ok(replay.outcomes.filter((o) => o.event?.id === event.id).every((o) => o.status === 'duplicate'));
    assert.deepEqual(await effectsOf('redelivery-test', [event.id]), [1]);
  });

  test('a poison event and unparseable bytes land in <topic>.dlq with the error, and the consumer moves on', async () => {
    const poison = deleted('3666');
    const after = deleted('3666'); // same key, so same partition: proves the partition was not blocked
    const garbageKey = '3777';
    const afterGarbage = deleted(garbageKey);
    let poisonAttempts = 0;
    const { outcomes } = await consumer('poison-test', {
      maxAttempts: 3,
      handlers: {
        'user.deleted': async (event, tx) => {
          if (event.id === poison.id) {
            poisonAttempts++;
            throw new Error('session store rejected the revocation');
          }
          await revokeSessions('poison-test')['user.deleted']!(event, tx);
        },
      },
    });
    await producer.send({
      topic: 'user.events',
      acks: -1,
      messages: [
        { key: poison.aggregateId, value: serializeEvent(poison) },
        { key: after.aggregateId, value: serializeEvent(after) },
        { key: garbageKey, value: Buffer.from('{"this is": not json') },
        { key: afterGarbage.aggregateId, value: serializeEvent(afterGarbage) },
      ],
    });

    await waitFor(
      () =>
        [after.id, afterGarbage.id].every((id) => outcomes.some((o) => o.event?.id === id && o.status === 'processed')),
      {
        what: 'events after the poison processed',
        timeoutMs: 15_000,
      },
    );
    assert.equal(poisonAttempts, 3);
    assert.equal(outcomes.find((o) => o.event?.id === poison.id)?.status, 'dead-lettered');
    assert.deepEqual(await effectsOf('poison-test', [poison.id, after.id, afterGarbage.id]), [0, 1, 1]);

    const dlq = await dlqReader();
    const poisoned = await waitFor(
      () =>
        dlq.messages.find(
          (m) => m.headers['dlq-consumer'] === 'poison-test' && m.value?.toString() === serializeEvent(poison),
        ),
      { what: 'poison in DLQ', timeoutMs: 15_000 },
    );
    assert.equal(poisoned.key, poison.aggregateId);
    assert.equal(poisoned.value?.toString(), serializeEvent(poison), 'original bytes kept for replay');
    assert.match(poisoned.headers['dlq-error'] ?? '', /session store rejected the revocation/);
    assert.equal(poisoned.headers['dlq-attempts'], '3');
    assert.equal(poisoned.headers['dlq-original-topic'], 'user.events');
    assert.equal(poisoned.headers['dlq-consumer'], 'poison-test');
    assert.ok(
      poisoned.headers['dlq-original-offset'] !== undefined && poisoned.headers['dlq-original-partition'] !== undefined,
    );

    const garbage = await waitFor(
      () => dlq.messages.find((m) => m.key === garbageKey && m.headers['dlq-consumer'] === 'poison-test'),
      { what: 'garbage in DLQ' },
    );
    assert.equal(garbage.headers['dlq-error-code'], 'MALFORMED_JSON');
    assert.equal(garbage.headers['dlq-attempts'], '0');
    assert.equal(garbage.value?.toString(), '{"this is": not json');
  });

  test('an outage (transient errors) is waited out without spending the poison budget; after-commit work runs after the commit', async () => {
    const event = deleted('3888');
    class Outage extends Error {}
    let failures = 0;
    let committedWhenAfterCommitRan: number[] | undefined;
    const { outcomes } = await consumer('outage-test', {
      maxAttempts: 2,
      isTransient: (error) => error instanceof Outage,
      handlers: {
        'user.deleted': async (e, tx) => {
          // Longer than the whole poison budget: these must not count towards it.
          if (e.id === event.id && failures < 6) {
            failures++;
            throw new Outage('redis is away');
          }
          await revokeSessions('outage-test')['user.deleted']!(e, tx);
          if (e.id !== event.id) return;
          return async () => {
            committedWhenAfterCommitRan = await effectsOf('outage-test', [e.id]);
          };
        },
      },
    });
    await producer.send({
      topic: 'user.events',
      acks: -1,
      messages: [{ key: event.aggregateId, value: serializeEvent(event) }],
    });
    const outcome = await waitFor(() => outcomes.find((o) => o.event?.id === event.id), {
      what: 'processed after the outage',
      timeoutMs: 15_000,
    });
    assert.equal(outcome.status, 'processed');
    assert.equal(outcome.attempts, 7);
    assert.deepEqual(committedWhenAfterCommitRan, [1], 'the effect was committed when the after-commit work ran');
  });

  test('two relays keep each aggregate in order all the way to the consumer', async () => {
    const users = ['4001', '4002', '4003', '4004'];
    const perUser = 20;
    const written: string[] = [];
    for (let i = 0; i < perUser; i++) {
      for (const u of users) {
        const event = renamed(u, String(i).padStart(2, '0'));
        written.push(event.id);
        await domain.prisma.$transaction(async (tx) => {
          await writeOutbox(tx, event);
        });
      }
    }
    const { outcomes } = await consumer('order-test');
    await relay('relay-order-a');
    await relay('relay-order-b');
    await waitFor(() => written.every((id) => outcomes.some((o) => o.event?.id === id && o.status === 'processed')), {
      what: 'all processed',
      timeoutMs: 30_000,
    });
    for (const u of users) {
      const seen = outcomes
        .filter((o) => o.status === 'processed' && o.event?.type === 'user.updated' && o.event.data.userId === u)
        .map((o) => (o.event?.type === 'user.updated' ? o.event.data.name : ''));
      assert.deepEqual(
        seen,
        Array.from({ length: perUser }, (_, i) => String(i).padStart(2, '0')),
        `order of user ${u}`,
      );
    }
  });
});
