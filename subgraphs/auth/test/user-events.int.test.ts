import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ConsumeOutcome,
  type ConsumerHandle,
  createEvent,
  createKafka,
  createProducer,
  ensureTopics,
  eventHeaders,
  serializeEvent,
} from '@mall/events';
import { startTestBroker, type TestBroker } from '@mall/events/testing';
import { authKeys, createLogger } from '@mall/platform';
import { runConsumer } from '@mall/platform/kit';
import { createTestRedis, type TestRedis } from '@mall/platform/testing';
import type { Producer } from 'kafkajs';
import { RevocationMirror } from '../data/access-revocations.ts';
import { findRefreshToken, hashRefreshToken } from '../data/session-store.ts';
import { USER_EVENTS_CONSUMER, userEventsConsumer } from '../events/user-events.ts';
import { type AuthTestDatabase, createAuthTestDatabase, openTestSession } from './helpers.ts';

describe('user.events consumer (embedded broker, Postgres, Redis)', () => {
  const logger = createLogger({ service: 'auth-test', level: 'silent' });
  let broker: TestBroker;
  let db: AuthTestDatabase;
  let t: TestRedis;
  let producer: Producer;
  let consumer: ConsumerHandle;

  before(async () => {
    [broker, db] = await Promise.all([startTestBroker(), createAuthTestDatabase()]);
    t = createTestRedis('test:auth');
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'auth-test', logger });
    await ensureTopics(kafka);
    producer = createProducer(kafka);
    await producer.connect();
    const revocations = new RevocationMirror({ prisma: db.prisma, redis: t.redis, logger });
    const definition = userEventsConsumer({ revocations, accessTokenTtlSeconds: 900, logger });
    consumer = await runConsumer(definition, { kafka, prisma: db.prisma, logger });
  });
  after(async () => {
    await consumer?.stop();
    await producer?.disconnect();
    await Promise.all([broker?.close(), db?.close(), t?.cleanup()]);
  });

  /** Resolves with the outcome of the event `id`, whatever else the consumer finishes meanwhile. */
  function outcomeOf(eventId: string, timeoutMs = 20_000): Promise<ConsumeOutcome> {
    return new Promise((resolve, reject) => {
      const listener = (outcome: ConsumeOutcome) => {
        if (outcome.event?.id !== eventId) return;
        clearTimeout(timer);
        consumer.outcomes.off('outcome', listener);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        consumer.outcomes.off('outcome', listener);
        reject(new Error(`no outcome for event ${eventId} within ${timeoutMs} ms`));
      }, timeoutMs);
      consumer.outcomes.on('outcome', listener);
    });
  }

  async function publish(event: ReturnType<typeof createEvent<'user.deleted'>>): Promise<ConsumeOutcome> {
    const outcome = outcomeOf(event.id);
    await producer.send({
      topic: 'user.events',
      acks: -1,
      messages: [{ key: event.aggregateId, value: serializeEvent(event), headers: eventHeaders(event) }],
    });
    return outcome;
  }

  it('revokes every session of a deleted user once, however often the event arrives', async () => {
    const find = (token: string) => findRefreshToken(db.prisma, hashRefreshToken(token));
    const tokens = [
      (await openTestSession(db, 5001n)).token,
      (await openTestSession(db, 5001n)).token,
      (await openTestSession(db, 5002n)).token,
    ];

    const event = createEvent('user.deleted', {
      aggregateId: '5001',
      data: { userId: '5001', deletedAt: new Date().toISOString() },
    });
    const before = Math.floor(Date.now() / 1000);
    assert.equal((await publish(event)).status, 'processed');

    for (const token of tokens.slice(0, 2))
      assert.ok((await find(token))!.familyRevokedAt, "the deleted user's sessions end");
    assert.equal((await find(tokens[2]!))!.familyRevokedAt, null, 'other users keep theirs');
    const revokedAt = Number(await t.redis.get(authKeys.userRevokedAt('5001')));
    assert.ok(revokedAt >= before && revokedAt <= Math.floor(Date.now() / 1000), `revokedAt ${revokedAt}`);
    assert.ok((await t.redis.ttl(authKeys.userRevokedAt('5001'))) > 900 - 5);
    const stored = await db.prisma.userRevocation.findUniqueOrThrow({ where: { userId: '5001' } });
    assert.equal(stored.revokedAt.getTime() / 1000, revokedAt, 'the database, the source of truth, holds the same');

    // A redelivery (same event id) must change nothing: clear the Redis mark to see that the handler did not run.
    await t.redis.del(authKeys.userRevokedAt('5001'));
    assert.equal((await publish(event)).status, 'duplicate');
    assert.equal(await t.redis.exists(authKeys.userRevokedAt('5001')), 0);
    assert.equal(
      await db.prisma.processedEvent.count({ where: { consumer: USER_EVENTS_CONSUMER, eventId: event.id } }),
      1,
    );
  });

  it('ignores the user events it has no business with', async () => {
    const event = createEvent('user.registered', {
      aggregateId: '5003',
      data: { userId: '5003', email: 'x@example.com', name: 'X', roles: ['CUSTOMER'] },
    });
    const outcome = outcomeOf(event.id);
    await producer.send({
      topic: 'user.events',
      acks: -1,
      messages: [{ key: event.aggregateId, value: serializeEvent(event) }],
    });
    assert.equal((await outcome).status, 'skipped');
  });
});
