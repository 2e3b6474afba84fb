import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

function rawSession(port: number): { sock: net.Socket; closed: Promise<void>; data: Buffer[] } {
  const sock = net.connect(port, '127.0.0.1');
  const data: Buffer[] = [];
  sock.on('data', (d) => data.push(d));
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return { sock, closed, data };
}

function frame(apiKey: number, version: number, correlationId: number, body: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h.writeInt16BE(apiKey, 0);
  h.writeInt16BE(version, 2);
  h.writeInt32BE(correlationId, 4);
  h.writeInt16BE(-1, 8); // null client id
  const size = Buffer.alloc(4);
  size.writeInt32BE(h.length + body.length, 0);
  return Buffer.concat([size, h, body]);
}

test('garbage, oversized and truncated frames close only the offending connection', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t) });
  const k = kafka(b.brokers);
  const producer = k.producer({ createPartitioner: partitioner });
  await producer.connect();
  t.after(() => producer.disconnect());
  await producer.send({ topic: 'live', messages: [{ value: 'before' }] });

  const garbage = rawSession(b.port);
  garbage.sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const huge = rawSession(b.port);
  huge.sock.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
  const unknownApi = rawSession(b.port);
  unknownApi.sock.write(frame(999, 0, 1, Buffer.alloc(0)));
  // Declared size matches, but the Produce body inside is cut short.
  const truncatedBody = rawSession(b.port);
  truncatedBody.sock.write(frame(0, 7, 2, Buffer.from([0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 5])));
  await Promise.all([garbage.closed, huge.closed, unknownApi.closed, truncatedBody.closed]);

  // A frame that never completes: the broker waits; the client gives up mid-frame.
  const partial = rawSession(b.port);
  partial.sock.write(Buffer.from([0, 0, 0, 100, 0, 18, 0]));
  partial.sock.destroy();

  // ApiVersions at an unknown version gets UNSUPPORTED_VERSION (35) in the v0 layout, not a hang-up.
  const av = rawSession(b.port);
  av.sock.write(frame(18, 9, 42, Buffer.alloc(0)));
  await waitFor('ApiVersions error response', () => Buffer.concat(av.data).length >= 10);
  const resp = Buffer.concat(av.data);
  assert.equal(resp.readInt32BE(4), 42);
  assert.equal(resp.readInt16BE(8), 35);
  av.sock.destroy();

  await producer.send({ topic: 'live', messages: [{ value: 'after' }] });
  const c = k.consumer({ groupId: 'live', maxWaitTimeInMs: 500 });
  await c.connect();
  t.after(() => c.disconnect());
  await c.subscribe({ topic: 'live', fromBeginning: true });
  const got: string[] = [];
  await c.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  await waitFor('both messages', () => got.length >= 2);
  assert.deepEqual(got.sort(), ['after', 'before']);
});

test('a corrupted record batch is rejected with CORRUPT_MESSAGE and nothing is stored', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1 });
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'crc', numPartitions: 1 }] });
  // Produce v3 with one 61-byte batch header + 1 record byte, CRC deliberately wrong.
  const batch = Buffer.alloc(62);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt8(2, 16);
  batch.writeUInt32BE(0xdeadbeef, 17);
  batch.writeBigInt64BE(-1n, 43);
  batch.writeInt32BE(1, 57);
  const topic = Buffer.from('crc');
  const body = Buffer.concat([
    Buffer.from([0xff, 0xff]), // null transactional id
    Buffer.from([0xff, 0xff]), // acks -1
    Buffer.from([0, 0, 0x13, 0x88]), // timeout
    Buffer.from([0, 0, 0, 1, 0, topic.length]),
    topic,
    Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]),
    Buffer.from([0, 0, 0, batch.length]),
    batch,
  ]);
  const s = rawSession(b.port);
  s.sock.write(frame(0, 3, 7, body));
  await waitFor('produce response', () => Buffer.concat(s.data).length >= 4 + 4 + 4 + 2 + 3 + 4 + 4 + 2);
  const r = Buffer.concat(s.data);
  // size, correlation id, [topics: count, name, [partitions: count, index, error]]
  assert.equal(r.readInt32BE(4), 7);
  assert.equal(r.readInt16BE(8 + 4 + 2 + 3 + 4 + 4), 2);
  s.sock.destroy();
  const [off] = await admin.fetchTopicOffsets('crc');
  assert.equal(off!.high, '0');
});
