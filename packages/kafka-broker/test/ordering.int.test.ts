import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { crc32c } from '../src/codec/crc32c.ts';
import { broker, kafka, tmpDir, waitFor } from './helpers.ts';

function frame(apiKey: number, version: number, correlationId: number, body: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h.writeInt16BE(apiKey, 0);
  h.writeInt16BE(version, 2);
  h.writeInt32BE(correlationId, 4);
  h.writeInt16BE(-1, 8);
  const size = Buffer.alloc(4);
  size.writeInt32BE(h.length + body.length, 0);
  return Buffer.concat([size, h, body]);
}

const str = (s: string): Buffer => {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(b.length - 2, 0);
  b.write(s, 2);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
};

// A v2 batch with one 1-byte-value record; enough for the broker, which never decodes records.
function recordBatch(): Buffer {
  const record = Buffer.from([0x10, 0, 0, 0, 1, 2, 0x78, 0]); // len 8, attrs, tsDelta, offDelta, key null, value "x", 0 headers
  const b = Buffer.alloc(61 + record.length);
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt8(2, 16);
  b.writeBigInt64BE(BigInt(Date.now()), 27);
  b.writeBigInt64BE(BigInt(Date.now()), 35);
  b.writeBigInt64BE(-1n, 43);
  b.writeInt16BE(-1, 51);
  b.writeInt32BE(-1, 53);
  b.writeInt32BE(1, 57);
  record.copy(b, 61);
  b.writeUInt32BE(crc32c(b, 21), 17);
  return b;
}

test('pipelined requests are answered in request order; acks=0 produce does not block the queue', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1 });
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({
    topics: [
      { topic: 'slow', numPartitions: 1 },
      { topic: 'other', numPartitions: 1 },
    ],
  });

  const MAX_WAIT = 700;
  // Fetch v4 on an empty partition: parks for maxWait.
  const fetchBody = Buffer.concat([
    i32(-1),
    i32(MAX_WAIT),
    i32(1),
    i32(1 << 20),
    Buffer.from([0]),
    i32(1),
    str('slow'),
    i32(1),
    i32(0),
    Buffer.alloc(8),
    i32(1 << 20),
  ]);
  const batch = recordBatch();
  const produceBody = Buffer.concat([
    Buffer.from([0xff, 0xff, 0, 0]),
    i32(5000),
    i32(1),
    str('other'),
    i32(1),
    i32(0),
    i32(batch.length),
    batch,
  ]);

  const sock = net.connect(b.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((r) => sock.once('connect', () => r()));
  let buf = Buffer.alloc(0);
  const got: Array<{ id: number; at: number }> = [];
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      got.push({ id: buf.readInt32BE(4), at: performance.now() });
      buf = buf.subarray(4 + buf.readInt32BE(0));
    }
  });
  const sent = performance.now();
  sock.write(
    Buffer.concat([
      frame(1, 4, 1, fetchBody), // slow
      frame(0, 3, 2, produceBody), // acks=0: no response at all
      frame(18, 0, 3, Buffer.alloc(0)), // fast
      frame(3, 0, 4, i32(0)), // fast (Metadata v0, no topics)
    ]),
  );
  await waitFor('three responses', () => got.length >= 3, 10_000);
  assert.deepEqual(
    got.map((g) => g.id),
    [1, 3, 4],
  );
  // The fast ones really were held behind the long poll, not answered before it.
  assert.ok(got[0]!.at - sent >= MAX_WAIT - 50, `fetch answered after ${got[0]!.at - sent} ms`);
  assert.ok(got[1]!.at >= got[0]!.at);
  // The acks=0 produce was applied even though it was never answered.
  const [off] = await admin.fetchTopicOffsets('other');
  assert.equal(off!.high, '1');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 3);
});
