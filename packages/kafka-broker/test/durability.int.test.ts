import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startBrokerChild } from './child.ts';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

async function consumeAll(brokers: string, topic: string, expected: number, groupId: string): Promise<string[]> {
  const c = kafka(brokers).consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const got: string[] = [];
  await c.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  try {
    await waitFor(`${expected} messages from ${topic}`, () => got.length >= expected);
  } finally {
    await c.disconnect();
  }
  return got;
}

for (const visibility of ['written', 'durable'] as const) {
  test(`${visibility}: a crash (SIGKILL) in the middle of a run loses no acknowledged message`, async (t) => {
    const dataDir = tmpDir(t);
    let child = await startBrokerChild(dataDir, 0, t, visibility);
    const port = child.port;
    const k = kafka(child.brokers, { retry: { retries: 30, initialRetryTime: 50, maxRetryTime: 300 } });
    // Not idempotent: a kafkajs idempotent producer whose send finally fails rolls its sequence
    // back and can never resync (OUT_OF_ORDER_SEQUENCE_NUMBER forever), with real Kafka too.
    // Dedup on retry is covered separately in idempotence.int.test.ts.
    const producer = k.producer({ createPartitioner: partitioner });
    await producer.connect();
    t.after(() => producer.disconnect());
    const acked: string[] = [];
    let stop = false;
    let seq = 0;
    const writers = [0, 1, 2].map(async () => {
      while (!stop) {
        const batch = Array.from({ length: 5 }, () => `m-${seq++}`);
        try {
          await producer.send({ topic: 'crash', acks: -1, messages: batch.map((value) => ({ key: value, value })) });
          acked.push(...batch);
        } catch {
          // not acknowledged: allowed to be lost
        }
      }
    });
    await waitFor('some acked writes', () => acked.length >= 300);
    await child.kill();
    const ackedAtCrash = acked.length;
    child = await startBrokerChild(dataDir, port, t, visibility);
    await waitFor('writes continue after restart', () => acked.length >= ackedAtCrash + 300, 30_000);
    stop = true;
    await Promise.all(writers);
    const got = await consumeAll(child.brokers, 'crash', acked.length, 'verify');
    const have = new Set(got);
    const missing = acked.filter((v) => !have.has(v));
    assert.deepEqual(missing, [], `lost ${missing.length} acknowledged messages`);
  });

  test(`${visibility}: torn tail: garbage and a partial batch at the end of the last segment are cut on restart`, async (t) => {
    const dataDir = tmpDir(t);
    let b = await broker(t, { dataDir, numPartitions: 1, visibility });
    let k = kafka(b.brokers);
    const p = k.producer({ createPartitioner: partitioner });
    await p.connect();
    for (let i = 0; i < 10; i++)
      await p.send({ topic: 'torn', messages: Array.from({ length: 5 }, (_, j) => ({ value: `v${i * 5 + j}` })) });
    await p.disconnect();
    await b.close();

    const dir = path.join(dataDir, 'kafka', 'logs', 'torn-0');
    const seg = path.join(
      dir,
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.log'))
        .sort()
        .at(-1)!,
    );
    const good = fs.readFileSync(seg);
    // A crash mid-write: the start of a real batch (valid-looking header), then junk.
    fs.appendFileSync(seg, Buffer.concat([good.subarray(0, 70), Buffer.from('garbage-garbage-garbage')]));

    b = await broker(t, { dataDir, numPartitions: 1, visibility });
    assert.equal(fs.statSync(seg).size, good.length, 'tail truncated back to the last whole batch');
    k = kafka(b.brokers);
    const p2 = k.producer({ createPartitioner: partitioner });
    await p2.connect();
    t.after(() => p2.disconnect());
    await p2.send({ topic: 'torn', messages: [{ value: 'after' }] });
    const got = await consumeAll(b.brokers, 'torn', 51, 'torn-reader');
    assert.deepEqual(got, [...Array.from({ length: 50 }, (_, i) => `v${i}`), 'after']);
  });
}

test('retention deletes whole old segments and advances the log start offset', async (t) => {
  const dataDir = tmpDir(t);
  const b = await broker(t, { dataDir, numPartitions: 1, segmentBytes: 4096, retention: { bytes: 8192 } });
  const k = kafka(b.brokers);
  const p = k.producer({ createPartitioner: partitioner });
  await p.connect();
  t.after(() => p.disconnect());
  for (let i = 0; i < 60; i++) await p.send({ topic: 'ret', messages: [{ value: `${i}:${'x'.repeat(500)}` }] });
  const dir = path.join(dataDir, 'kafka', 'logs', 'ret-0');
  const before = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).length;
  assert.ok(before > 4, `expected several segments, got ${before}`);
  assert.ok(b.runRetention() > 0);
  const after = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).length;
  assert.ok(after < before && after >= 2);
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const [off] = await admin.fetchTopicOffsets('ret');
  assert.ok(Number(off!.low) > 0, 'log start offset advanced');
  assert.equal(off!.high, '60');
  const got = await consumeAll(b.brokers, 'ret', 60 - Number(off!.low), 'ret-reader');
  assert.equal(got[0]!.split(':')[0], off!.low);
  assert.equal(got.at(-1)!.split(':')[0], '59');
});
