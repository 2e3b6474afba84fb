// Consumer groups across a broker restart (issue #19): the coordinator reloads members, generation and
// assignments, as Kafka does from __consumer_offsets, so members stay known until their session times out.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Consumer } from 'kafkajs';
import { heartbeat } from '../src/api/heartbeat.ts';
import { joinGroup } from '../src/api/joinGroup.ts';
import { leaveGroup } from '../src/api/leaveGroup.ts';
import { offsetCommit } from '../src/api/offsetCommit.ts';
import { syncGroup } from '../src/api/syncGroup.ts';
import type { ApiDef } from '../src/api/types.ts';
import { Reader } from '../src/codec/reader.ts';
import { Writer } from '../src/codec/writer.ts';
import { ErrorCode } from '../src/errors.ts';
import { spawnFixture, startBrokerChild } from './child.ts';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

/**
 * A data dir for brokers in child processes. t.after hooks run in registration order, so tmpDir's removal
 * would run while a broker child still writes there; this one kills the children it started first.
 */
function childBrokers(t: { after(fn: () => Promise<void>): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-broker-test-'));
  const started: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const kill of started) await kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    async start(port: number) {
      const b = await startBrokerChild(dir, port, t);
      started.push(b.kill);
      return b;
    },
  };
}

async function describe(brokers: string, groupId: string) {
  const admin = kafka(brokers).admin();
  await admin.connect();
  try {
    return (await admin.describeGroups([groupId])).groups[0]!;
  } finally {
    await admin.disconnect();
  }
}

test('a member that leaves right after a SIGKILL restart leaves cleanly, with no unhandled rejection', async (t) => {
  const brokers = childBrokers(t);
  let b = await brokers.start(0);
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] });
  await admin.disconnect();

  const member = spawnFixture('leaving-member-child.ts', [b.brokers, 'svc', 'orders'], t);
  const { joined } = await waitFor('the member to join', () =>
    member.messages.find((m): m is { joined: string } => typeof (m as { joined?: string }).joined === 'string'),
  );

  await b.kill();
  b = await brokers.start(b.port);
  // The restarted coordinator already knows the member, before the client has said anything.
  const loaded = await describe(b.brokers, 'svc');
  assert.equal(loaded.state, 'Stable');
  assert.deepEqual(
    loaded.members.map((m) => m.memberId),
    [joined],
  );

  member.proc.send('leave');
  const proc = member.proc;
  await waitFor('the member process to exit', () => proc.exitCode !== null || proc.signalCode !== null);
  const code = proc.exitCode;
  assert.equal(code, 0, 'the client process ends normally (an unhandled rejection would exit 1)');
  const left = member.messages.find(
    (m): m is { left: true; leaveErrors: string[] } => (m as { left?: boolean }).left === true,
  );
  assert.ok(left, 'disconnect() resolved');
  assert.deepEqual(left.leaveErrors, [], 'LeaveGroup was answered without an error');
  const after = await describe(b.brokers, 'svc');
  assert.equal(after.state, 'Empty', 'the member left (not merely expired: its session is 10 s)');
  assert.equal(after.members.length, 0);
});

test('a live group of two keeps consuming across a SIGKILL restart, both members keep their partitions', async (t) => {
  const brokers = childBrokers(t);
  let b = await brokers.start(0);
  const k = kafka(b.brokers, { retry: { retries: 30, initialRetryTime: 50, maxRetryTime: 300 } });
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'live', numPartitions: 4 }] });

  const received = new Map<string, number>();
  const owned = new Map<string, number[]>();
  const consumers: Consumer[] = [];
  t.after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
  });
  for (const name of ['a', 'b']) {
    const c = k.consumer({ groupId: 'pair', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
    c.on(c.events.GROUP_JOIN, (e) => owned.set(name, e.payload.memberAssignment.live ?? []));
    await c.connect();
    await c.subscribe({ topic: 'live', fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        const v = message.value!.toString();
        received.set(v, (received.get(v) ?? 0) + 1);
      },
    });
    consumers.push(c);
  }
  const splitBetweenBoth = async () => {
    const g = await describeWith(admin, 'pair');
    return g.state === 'Stable' && g.members.length === 2 && (owned.get('a') ?? []).length === 2
      ? g.members.map((m) => m.memberId).sort()
      : undefined;
  };
  const before = await waitFor('both members owning two partitions each', splitBetweenBoth, 30_000);

  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  const acked: string[] = [];
  let stop = false;
  let seq = 0;
  const writer = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 20 }, () => `m-${seq++}`);
      try {
        await producer.send({ topic: 'live', acks: -1, messages: batch.map((value) => ({ key: value, value })) });
        acked.push(...batch);
      } catch {
        // not acknowledged: may be lost
      }
    }
  })();
  await waitFor('messages flowing before the crash', () => acked.length >= 500 && received.size >= 400);
  await b.kill();
  const ackedAtCrash = acked.length;
  b = await brokers.start(b.port);
  await waitFor('writes continuing after the restart', () => acked.length >= ackedAtCrash + 500, 30_000);
  stop = true;
  await writer;
  await waitFor('every acknowledged message consumed', () => acked.every((v) => received.has(v)), 30_000);

  // The restarted coordinator answered the members' heartbeats and commits: they kept their ids and
  // their partitions instead of being told UNKNOWN_MEMBER_ID and joining as new members.
  const after = await waitFor('the pair still splitting the partitions', splitBetweenBoth, 30_000);
  assert.deepEqual(after, before);
  const all = [...(owned.get('a') ?? []), ...(owned.get('b') ?? [])].sort();
  assert.deepEqual(all, [0, 1, 2, 3]);
  // Clients go while the broker is up: t.after hooks run in order, the broker child's kill first, and a
  // kafkajs consumer disconnected from a dead broker can race its own crash-restart and linger.
  for (const c of consumers) await c.disconnect();
  await producer.disconnect();
});

async function describeWith(admin: ReturnType<ReturnType<typeof kafka>['admin']>, groupId: string) {
  return (await admin.describeGroups([groupId])).groups[0]!;
}

test('a member that never comes back after a restart expires by session timeout and its partitions move', async (t) => {
  const brokers = childBrokers(t);
  let b = await brokers.start(0);
  const k = kafka(b.brokers, { retry: { retries: 30, initialRetryTime: 50, maxRetryTime: 300 } });
  const admin = k.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'work', numPartitions: 4 }] });

  let mine: number[] = [];
  const received = new Set<string>();
  const c = k.consumer({ groupId: 'g', sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  t.after(() => c.disconnect());
  c.on(c.events.GROUP_JOIN, (e) => {
    mine = e.payload.memberAssignment.work ?? [];
  });
  await c.connect();
  await c.subscribe({ topic: 'work', fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void received.add(message.value!.toString()) });
  // consumer-child.ts: session timeout 6 s, killed without a LeaveGroup.
  const gone = spawnFixture('consumer-child.ts', [b.brokers, 'g', 'work'], t);
  const both = await waitFor(
    'two members splitting the partitions',
    async () => {
      const g = await describeWith(admin, 'g');
      return g.state === 'Stable' && g.members.length === 2 && mine.length === 2 ? g : undefined;
    },
    30_000,
  );

  await gone.kill();
  await b.kill();
  b = await brokers.start(b.port);
  const restartedAt = Date.now();
  const loaded = await describeWith(admin, 'g');
  assert.deepEqual(
    loaded.members.map((m) => m.memberId).sort(),
    both.members.map((m) => m.memberId).sort(),
    'both members are loaded, the dead one included',
  );

  await waitFor('the survivor owning every partition', () => mine.length === 4, 30_000);
  // Kafka gives loaded members a fresh session: the dead one is dropped no earlier than 6 s after the load.
  assert.ok(Date.now() - restartedAt >= 6000 - 200, `expired after ${Date.now() - restartedAt} ms`);
  const g = await describeWith(admin, 'g');
  assert.equal(g.members.length, 1);

  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({
    topic: 'work',
    messages: Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `after-${i}` })),
  });
  await waitFor('the survivor consuming all four partitions', () =>
    Array.from({ length: 40 }, (_, i) => `after-${i}`).every((v) => received.has(v)),
  );
  // While the broker is up (see the live-group test).
  await c.disconnect();
  await producer.disconnect();
});

/** One request on its own connection, encoded and decoded with the broker's own schemas. */
async function call<Req, Res>(port: number, api: ApiDef<Req, Res>, version: number, req: Req): Promise<Res> {
  const w = new Writer();
  w.int16(api.key).int16(version).int32(7).nullableString('raw');
  api.request.write(w, req, version);
  const body = Buffer.concat(w.finish());
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  const sock = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  sock.write(Buffer.concat([size, body]));
  try {
    const frame = await waitFor('the response', () => {
      const all = Buffer.concat(chunks);
      return all.length >= 4 && all.length >= 4 + all.readInt32BE(0) ? all : undefined;
    });
    return api.response.read(new Reader(frame, 8), version);
  } finally {
    sock.destroy();
  }
}

/** Joins `groupId` as its only member (two-phase v4 join, then SyncGroup) and returns the member id. */
async function joinAlone(port: number, groupId: string): Promise<string> {
  const req = {
    groupId,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId: '',
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
  };
  const first = await call(port, joinGroup, 4, req);
  assert.equal(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  const join = await call(port, joinGroup, 4, { ...req, memberId: first.memberId });
  assert.equal(join.errorCode, ErrorCode.NONE);
  assert.equal(join.generationId, 1);
  const sync = await call(port, syncGroup, 3, {
    groupId,
    generationId: join.generationId,
    memberId: join.memberId,
    groupInstanceId: null,
    assignments: [{ memberId: join.memberId, assignment: Buffer.from([1]) }],
  });
  assert.equal(sync.errorCode, ErrorCode.NONE);
  return join.memberId;
}

test('unknown members get exactly the error codes Kafka returns, per API and version', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t) });
  const p = b.port;
  const unknown = 'nobody-1';
  // A group with one real member, so both "no such group" and "no such member" are covered.
  const member = await joinAlone(p, 'known');
  const gen = 1;
  for (const groupId of ['known', 'never-seen']) {
    for (const v of [0, 1, 2])
      assert.equal(
        (await call(p, leaveGroup, v, { groupId, memberId: unknown, members: [] })).errorCode,
        ErrorCode.UNKNOWN_MEMBER_ID,
        `LeaveGroup v${v} ${groupId}`,
      );
    // v3: top-level NONE, the member's own code UNKNOWN_MEMBER_ID (a top-level error would escape kafkajs).
    const v3 = await call(p, leaveGroup, 3, {
      groupId,
      memberId: '',
      members: [{ memberId: unknown, groupInstanceId: null }],
    });
    assert.equal(v3.errorCode, ErrorCode.NONE, `LeaveGroup v3 ${groupId}`);
    assert.deepEqual(
      v3.members.map((m) => [m.memberId, m.errorCode]),
      [[unknown, ErrorCode.UNKNOWN_MEMBER_ID]],
    );
    for (const v of [0, 1, 2, 3]) {
      const hb = await call(p, heartbeat, v, { groupId, generationId: gen, memberId: unknown });
      assert.equal(hb.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, `Heartbeat v${v} ${groupId}`);
      const s = await call(p, syncGroup, v, {
        groupId,
        generationId: gen,
        memberId: unknown,
        groupInstanceId: null,
        assignments: [],
      });
      assert.equal(s.errorCode, ErrorCode.UNKNOWN_MEMBER_ID, `SyncGroup v${v} ${groupId}`);
    }
  }
  const commit = async (v: number, groupId: string, generationId: number, memberId: string) => {
    const r = await call(p, offsetCommit, v, {
      groupId,
      generationId,
      memberId,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }],
    });
    return r.topics[0]!.partitions[0]!.errorCode;
  };
  for (const v of [1, 2, 3, 4, 5]) {
    // Kafka: an unknown member of an existing group is UNKNOWN_MEMBER_ID; a member generation for a group
    // that does not exist at all is ILLEGAL_GENERATION.
    assert.equal(await commit(v, 'known', gen, unknown), ErrorCode.UNKNOWN_MEMBER_ID, `OffsetCommit v${v} known`);
    assert.equal(await commit(v, 'never-seen', gen, unknown), ErrorCode.ILLEGAL_GENERATION, `OffsetCommit v${v} none`);
    assert.equal(await commit(v, 'known', gen + 1, member), ErrorCode.ILLEGAL_GENERATION);
  }
  // The real member's heartbeat still counts; its LeaveGroup v3 succeeds.
  assert.equal((await call(p, heartbeat, 3, { groupId: 'known', generationId: gen, memberId: member })).errorCode, 0);
  const bye = await call(p, leaveGroup, 3, {
    groupId: 'known',
    memberId: '',
    members: [{ memberId: member, groupInstanceId: null }],
  });
  assert.deepEqual([bye.errorCode, bye.members[0]!.errorCode], [ErrorCode.NONE, ErrorCode.NONE]);
});

test('group metadata is only ever read from a complete file', async (t) => {
  const dataDir = tmpDir(t);
  let b = await broker(t, { dataDir });
  const memberId = await joinAlone(b.port, 'kept');
  await b.close();
  const kdir = path.join(dataDir, 'kafka');
  // A crash mid-write leaves at most a torn temp file next to the real one; it is never read.
  fs.writeFileSync(path.join(kdir, 'groups.json.tmp'), '{"version":1,"groups":[{"id":"kept","gen');
  b = await broker(t, { dataDir });
  let g = await describe(b.brokers, 'kept');
  assert.deepEqual(
    g.members.map((m) => m.memberId),
    [memberId],
  );
  await b.close();
  // Damage from outside (not a crash) is moved aside: the broker starts with no groups rather than refuse.
  fs.writeFileSync(path.join(kdir, 'groups.json'), '{"version":1,"groups":[{"id":"kept","gen');
  b = await broker(t, { dataDir });
  g = await describe(b.brokers, 'kept');
  assert.equal(g.members.length, 0);
  assert.ok(fs.readdirSync(kdir).some((f) => f.startsWith('groups.json.corrupt-')));
});
