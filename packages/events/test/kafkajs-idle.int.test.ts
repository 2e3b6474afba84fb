// kafkajs's idle request queues (src/kafkajs-idle.ts): an open connection with nothing to send stays quiet, and
// requests held back by the in-flight limit still all go out. Against the embedded broker.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Admin, Producer } from 'kafkajs';
import { pino } from 'pino';
import { createKafka } from '../src/index.ts';
import { startTestBroker, type TestBroker } from '../src/testing/index.ts';

const require = createRequire(import.meta.url);
const queue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: { checkPendingRequests(): void };
};

/** Counts the request queues' checks (every connection's) while `body` runs. */
async function countChecks(body: () => Promise<void>): Promise<number> {
  const check = queue.prototype.checkPendingRequests;
  let checks = 0;
  queue.prototype.checkPendingRequests = function (this: unknown) {
    checks++;
    check.call(this);
  };
  try {
    await body();
  } finally {
    queue.prototype.checkPendingRequests = check;
  }
  return checks;
}

let broker: TestBroker;
let admin: Admin;
let producer: Producer;
const topic = `idle-queue-${randomUUID()}`;

before(async () => {
  broker = await startTestBroker();
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'idle-queue', logger: pino({ level: 'silent' }) });
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  // One request in flight per connection: concurrent sends queue behind it, the path the timer serves.
  producer = kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
});

after(async () => {
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin?.disconnect();
  await broker?.close();
});

test('requests held back by the in-flight limit all go out, and each arrives once', { timeout: 30_000 }, async () => {
  const sends = Array.from({ length: 20 }, (_, i) => producer.send({ topic, messages: [{ value: String(i) }] }));
  await Promise.all(sends);
  const [partition] = await admin.fetchTopicOffsets(topic);
  assert.equal(partition?.high, '20');
});

test('open connections with nothing to send do not check their empty queues', async () => {
  await producer.send({ topic, messages: [{ value: 'wake' }] });
  // 300 ms with the admin's and the producer's connections open and idle. Unpatched kafkajs 2.2.4 checks each
  // empty queue about once a millisecond here (hundreds of checks); a connection's only other checks are on
  // responses, and nothing is asked.
  const checks = await countChecks(() => delay(300));
  assert.ok(checks < 10, `${checks} checks of idle request queues in 300 ms`);
});
