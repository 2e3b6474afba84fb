import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { type ProxiedConnection, startFaultProxy } from '@mall/platform/testing';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

/**
 * A TCP proxy (the shared fault proxy with a Kafka-aware filter) that lets the first Produce request through
 * to the broker but swallows its response and cuts the client connection, so kafkajs must retry a batch the
 * broker has already appended.
 */
async function lossyProxy(
  target: number,
  t: { after(fn: () => Promise<void>): void },
): Promise<{ port: number; dropped: () => number }> {
  let dropped = 0;
  // Per connection: correlation ids of Produce requests, and bytes of partial frames in each direction.
  const state = new WeakMap<ProxiedConnection, { produceIds: Set<number>; up: Buffer; down: Buffer }>();
  const proxy = await startFaultProxy(
    { port: target },
    {
      filter(direction, chunk, connection) {
        const s = state.get(connection) ?? {
          produceIds: new Set<number>(),
          up: Buffer.alloc(0),
          down: Buffer.alloc(0),
        };
        state.set(connection, s);
        if (direction === 'up') {
          s.up = Buffer.concat([s.up, chunk]);
          while (s.up.length >= 4 && s.up.length >= 4 + s.up.readInt32BE(0)) {
            if (s.up.readInt16BE(4) === 0) s.produceIds.add(s.up.readInt32BE(8));
            s.up = s.up.subarray(4 + s.up.readInt32BE(0));
          }
          return chunk;
        }
        s.down = Buffer.concat([s.down, chunk]);
        const frames: Buffer[] = [];
        while (s.down.length >= 4 && s.down.length >= 4 + s.down.readInt32BE(0)) {
          const frame = s.down.subarray(0, 4 + s.down.readInt32BE(0));
          s.down = s.down.subarray(frame.length);
          if (s.produceIds.has(frame.readInt32BE(4)) && dropped === 0) {
            dropped++;
            connection.destroy();
            return Buffer.alloc(0);
          }
          frames.push(frame);
        }
        return Buffer.concat(frames);
      },
    },
  );
  t.after(() => proxy.close());
  return { port: proxy.port, dropped: () => dropped };
}

test('an idempotent producer retrying a batch whose ack was lost does not duplicate it', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1, advertisedHost: '127.0.0.1' });
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'idem', numPartitions: 1 }] });

  // Clients reach the broker only through the proxy; metadata still advertises the
  // broker itself, so route by giving kafkajs a socketFactory that always dials the proxy.
  const proxy = await lossyProxy(b.port, t);
  const k = kafka(b.brokers, {
    socketFactory: ({ onConnect }) => net.connect(proxy.port, '127.0.0.1', onConnect),
  });
  const producer = k.producer({ createPartitioner: partitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const [res] = await producer.send({ topic: 'idem', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
  assert.equal(proxy.dropped(), 1, 'the first produce response was dropped, forcing a retry');
  assert.equal(res!.baseOffset, '0', 'the retry is answered with the original offset');
  await producer.send({ topic: 'idem', messages: [{ value: 'd' }] });
  const [off] = await admin.fetchTopicOffsets('idem');
  assert.equal(off!.high, '4', 'three messages from the retried batch plus one, no duplicates');

  const c = kafka(b.brokers).consumer({ groupId: 'idem', maxWaitTimeInMs: 500 });
  await c.connect();
  t.after(() => c.disconnect());
  await c.subscribe({ topic: 'idem', fromBeginning: true });
  const got: string[] = [];
  await c.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  await waitFor('4 messages', () => got.length >= 4);
  assert.deepEqual(got, ['a', 'b', 'c', 'd']);
});
