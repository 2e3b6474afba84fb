import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Consumer } from 'kafkajs';
import { spawnFixture } from './child.ts';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

const TOPIC = 'shared';

test('three consumers share partitions and take over when one leaves and one crashes', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 6 });
  const k = kafka(b.brokers);
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 6 }] });

  const assignment = new Map<string, number[]>();
  const received = new Map<string, string[]>();
  const consumers: Consumer[] = [];
  async function member(name: string): Promise<Consumer> {
    const c = k.consumer({
      groupId: 'g',
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 500,
      rebalanceTimeout: 6000,
    });
    c.on(c.events.GROUP_JOIN, (e) => assignment.set(name, e.payload.memberAssignment[TOPIC] ?? []));
    await c.connect();
    await c.subscribe({ topic: TOPIC, fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        received.set(name, [...(received.get(name) ?? []), message.value!.toString()]);
      },
    });
    consumers.push(c);
    return c;
  }
  t.after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
  });

  const a = await member('a');
  const bb = await member('b');
  const crashy = spawnFixture('consumer-child.ts', [b.brokers, 'g', TOPIC], t);
  const childAssigned = () => {
    const last = crashy.messages.at(-1) as { assigned: number[] } | undefined;
    return last?.assigned ?? [];
  };
  const covers = (...lists: number[][]) => {
    const all = lists.flat().sort((x, y) => x - y);
    return all.length === 6 && all.every((p, i) => p === i);
  };

  await waitFor(
    'three members splitting six partitions',
    async () => {
      const d = await admin.describeGroups(['g']);
      const g = d.groups[0]!;
      return (
        g.state === 'Stable' &&
        g.members.length === 3 &&
        covers(assignment.get('a') ?? [], assignment.get('b') ?? [], childAssigned()) &&
        (assignment.get('a') ?? []).length === 2
      );
    },
    30_000,
  );

  // Graceful leave: LeaveGroup, the others rebalance at their next heartbeat.
  await bb.disconnect();
  await waitFor(
    'a and the child cover all partitions',
    () => covers(assignment.get('a') ?? [], childAssigned()),
    20_000,
  );

  // Crash: no LeaveGroup, no more heartbeats; the session timeout evicts it.
  await crashy.kill();
  await waitFor('a owns every partition after the session timeout', () => covers(assignment.get('a') ?? []), 20_000);

  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({
    topic: TOPIC,
    messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `after-${i}` })),
  });
  await waitFor(
    'survivor receives messages from all partitions',
    () => (received.get('a') ?? []).filter((v) => v.startsWith('after-')).length === 30,
  );
  const d = await admin.describeGroups(['g']);
  assert.equal(d.groups[0]!.members.length, 1);
  void a;
});

test('committed offsets survive a restart and a new consumer resumes from them', async (t) => {
  const dataDir = tmpDir(t);
  let b = await broker(t, { dataDir, numPartitions: 2 });
  let k = kafka(b.brokers);
  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  await producer.send({
    topic: 'resume',
    messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `first-${i}` })),
  });
  await producer.disconnect();
  const c1 = k.consumer({ groupId: 'resumer', sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  await c1.connect();
  await c1.subscribe({ topic: 'resume', fromBeginning: true });
  let n = 0;
  await c1.run({ autoCommitThreshold: 1, eachMessage: async () => void n++ });
  await waitFor('first 20', () => n >= 20);
  await c1.disconnect(); // commits what was processed
  const admin1 = k.admin();
  await admin1.connect();
  const before = await admin1.fetchOffsets({ groupId: 'resumer', topics: ['resume'] });
  await admin1.disconnect();
  assert.equal(
    before[0]!.partitions.reduce((s, p) => s + Number(p.offset), 0),
    20,
  );
  await b.close();

  b = await broker(t, { dataDir, numPartitions: 2 });
  k = kafka(b.brokers);
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const after = await admin.fetchOffsets({ groupId: 'resumer', topics: ['resume'] });
  assert.deepEqual(after, before);
  assert.ok((await admin.listGroups()).groups.some((g) => g.groupId === 'resumer'));
  const p2 = k.producer({ createPartitioner: partitioner });
  await p2.connect();
  t.after(() => p2.disconnect());
  await p2.send({
    topic: 'resume',
    messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `second-${i}` })),
  });
  const c2 = k.consumer({ groupId: 'resumer', sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  await c2.connect();
  t.after(() => c2.disconnect());
  await c2.subscribe({ topic: 'resume', fromBeginning: true });
  const got: string[] = [];
  await c2.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  await waitFor('5 new messages', () => got.length >= 5);
  assert.deepEqual(got.sort(), ['second-0', 'second-1', 'second-2', 'second-3', 'second-4']);
});
