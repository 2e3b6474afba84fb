import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mock, test } from 'node:test';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

// The broker runs in this process, so its group-commit fsyncs (fs.fdatasync,
// the async one; startup and segment rolls use fdatasyncSync) can be held
// back: that makes "visible before durable" deterministic.
const realFdatasync = fs.fdatasync;
const held: Array<() => void> = [];
let holding = false;
mock.method(fs, 'fdatasync', (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
  const run = () => realFdatasync(fd, cb);
  if (holding) held.push(run);
  else run();
});
const release = () => {
  holding = false;
  for (const run of held.splice(0)) run();
};

for (const visibility of ['written', 'durable'] as const) {
  test(`${visibility}: when a record reaches consumers and ListOffsets(latest) relative to its fsync and its acks=-1 ack`, async (t) => {
    t.after(release);
    const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1, visibility });
    const k = kafka(b.brokers);
    const producer = k.producer({ createPartitioner: partitioner });
    await producer.connect();
    t.after(() => producer.disconnect());
    await producer.send({ topic: 'vis', acks: -1, messages: [{ value: 'first' }] });
    const admin = k.admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    const latest = async () => (await admin.fetchTopicOffsets('vis'))[0]!.high;

    const consumer = k.consumer({ groupId: `vis-${visibility}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    t.after(() => consumer.disconnect());
    let fetches = 0;
    consumer.on(consumer.events.FETCH, () => fetches++);
    await consumer.subscribe({ topic: 'vis', fromBeginning: true });
    const got: string[] = [];
    // No commits: the only fsync in flight below is the produced batch's.
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => void got.push(message.value!.toString()),
    });
    await waitFor('the first record', () => got.length === 1);

    holding = true;
    let acked = false;
    const sent = producer.send({ topic: 'vis', acks: -1, messages: [{ value: 'second' }] }).then(() => {
      acked = true;
    });
    await waitFor('the append and its (held) fsync', () => held.length > 0);
    if (visibility === 'written') {
      // In the log file, not yet fsynced: consumers already see it, the producer is not yet answered.
      await waitFor('the consumer to see the unsynced record', () => got.length === 2);
      assert.equal(got[1], 'second');
      assert.equal(await latest(), '2');
    } else {
      // Several complete fetches started after the append: none returned the unsynced record.
      const after = fetches;
      await waitFor('two more fetches', () => fetches >= after + 2);
      assert.deepEqual(got, ['first']);
      assert.equal(await latest(), '1');
    }
    assert.equal(acked, false, 'acks=-1 is answered only after the fsync, in both modes');

    release();
    await sent;
    await waitFor('the record after its fsync', () => got.length === 2);
    assert.deepEqual(got, ['first', 'second']);
    assert.equal(await latest(), '2');
  });
}
