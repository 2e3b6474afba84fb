import assert from 'node:assert/strict';
import { test } from 'node:test';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

test('keyed messages land on one partition per key, in order, across partitions', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 4 });
  const k = kafka(b.brokers);
  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  for (let round = 0; round < 25; round++) {
    await producer.send({ topic: 'orders', messages: keys.map((key) => ({ key, value: `${key}:${round}` })) });
  }
  const consumer = k.consumer({ groupId: 'pc', sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topic: 'orders', fromBeginning: true });
  const seen = new Map<string, { partitions: Set<number>; rounds: number[] }>();
  let total = 0;
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const [key, round] = message.value!.toString().split(':') as [string, string];
      assert.equal(message.key!.toString(), key);
      const s = seen.get(key) ?? { partitions: new Set(), rounds: [] };
      s.partitions.add(partition);
      s.rounds.push(Number(round));
      seen.set(key, s);
      total++;
    },
  });
  await waitFor('all 200 messages', () => total >= 200);
  assert.equal(total, 200);
  const used = new Set<number>();
  for (const [key, s] of seen) {
    assert.equal(s.partitions.size, 1, `key ${key} spread over partitions`);
    used.add([...s.partitions][0]!);
    assert.deepEqual(
      s.rounds,
      Array.from({ length: 25 }, (_, i) => i),
      `order for key ${key}`,
    );
  }
  assert.ok(used.size > 1, 'keys should spread over several partitions');
});

test('1 MB messages round-trip', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t) });
  const k = kafka(b.brokers);
  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  for (let i = 0; i < 5; i++)
    await producer.send({ topic: 'big', messages: [{ key: 'k', value: Buffer.concat([Buffer.from([i]), big]) }] });
  const consumer = k.consumer({
    groupId: 'big',
    maxWaitTimeInMs: 500,
    maxBytesPerPartition: 2 * 1024 * 1024,
    maxBytes: 8 * 1024 * 1024,
  });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topic: 'big', fromBeginning: true });
  const got: number[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      assert.equal(message.value!.length, big.length + 1);
      assert.ok(message.value!.subarray(1).equals(big));
      got.push(message.value![0]!);
    },
  });
  await waitFor('5 big messages', () => got.length >= 5);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
});

test('admin: create (validateOnly, already exists), list, delete topics; auto-create off', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), autoCreateTopics: false });
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  assert.equal(
    await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: 'x', numPartitions: 2 }] }),
    true,
  );
  assert.deepEqual(await admin.listTopics(), []);
  assert.equal(await admin.createTopics({ topics: [{ topic: 'x', numPartitions: 2 }, { topic: 'y' }] }), true);
  // kafkajs reports TOPIC_ALREADY_EXISTS as `false`.
  assert.equal(await admin.createTopics({ topics: [{ topic: 'x', numPartitions: 2 }] }), false);
  assert.deepEqual((await admin.listTopics()).sort(), ['x', 'y']);
  const md = await admin.fetchTopicMetadata({ topics: ['x'] });
  assert.equal(md.topics[0]!.partitions.length, 2);
  await admin.deleteTopics({ topics: ['x'] });
  assert.deepEqual(await admin.listTopics(), ['y']);
  const producer = kafka(b.brokers, { retry: { retries: 0 } }).producer({
    createPartitioner: partitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  t.after(() => producer.disconnect());
  await assert.rejects(producer.send({ topic: 'nope', messages: [{ value: 'v' }] }));
  assert.deepEqual((await admin.listTopics()).sort(), ['y']);
});

test('list offsets: earliest, latest and by timestamp', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1 });
  const k = kafka(b.brokers);
  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({
    topic: 'ts',
    messages: [
      { value: 'a', timestamp: '1000' },
      { value: 'b', timestamp: '2000' },
    ],
  });
  await producer.send({ topic: 'ts', messages: [{ value: 'c', timestamp: '5000' }] });
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  assert.deepEqual(await admin.fetchTopicOffsets('ts'), [{ partition: 0, offset: '3', high: '3', low: '0' }]);
  assert.deepEqual(await admin.fetchTopicOffsetsByTimestamp('ts', 3000), [{ partition: 0, offset: '2' }]);
  assert.deepEqual(await admin.fetchTopicOffsetsByTimestamp('ts', 1500), [{ partition: 0, offset: '0' }]);
});
