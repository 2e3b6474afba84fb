import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { mock, test } from 'node:test';
import { crc32c } from '../src/codec/crc32c.ts';
import { ErrorCode } from '../src/errors.ts';
import { batchInfo, parseProducedBatches, writeInt64 } from '../src/storage/batch.ts';
import { Flusher } from '../src/storage/flusher.ts';
import { PartitionLog } from '../src/storage/log.ts';
import { tmpDir } from './helpers.ts';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** A minimal valid v2 batch of `count` records (record bodies are opaque to the broker). */
function batch(count: number, opts: { pid?: number; seq?: number; ts?: number; pad?: number } = {}): Buffer {
  const b = Buffer.alloc(61 + (opts.pad ?? 10));
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt8(2, 16);
  b.writeInt32BE(count - 1, 23);
  writeInt64(b, 27, opts.ts ?? 1000);
  writeInt64(b, 35, opts.ts ?? 1000);
  writeInt64(b, 43, opts.pid ?? -1);
  b.writeInt16BE(0, 51);
  b.writeInt32BE(opts.seq ?? -1, 53);
  b.writeInt32BE(count, 57);
  b.writeUInt32BE(crc32c(b, 21), 17);
  return b;
}

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')).toString(16), 'e3069283');
});

test('produced batches are validated: CRC, magic, framing', () => {
  assert.equal(parseProducedBatches(batch(3)).error, ErrorCode.NONE);
  const bad = batch(3);
  bad[70] = 1;
  assert.equal(parseProducedBatches(bad).error, ErrorCode.CORRUPT_MESSAGE);
  const old = batch(1);
  old.writeInt8(1, 16);
  assert.equal(parseProducedBatches(old).error, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
  assert.equal(parseProducedBatches(batch(1).subarray(0, 50)).error, ErrorCode.CORRUPT_MESSAGE);
});

test('offsets, index lookups across rolled segments, and reopen (durable visibility)', async (t) => {
  const dir = tmpDir(t);
  const cfg = {
    visibility: 'durable' as const,
    segmentBytes: 1000,
    indexIntervalBytes: 200,
    retentionBytes: -1,
    retentionMs: -1,
  };
  const f = new Flusher();
  let log = new PartitionLog(path.join(dir, 'p'), cfg, f, quiet);
  for (let i = 0; i < 100; i++) assert.equal(log.append([batchInfo(batch(2, { pad: 30 }))]), i * 2);
  assert.ok(log.segmentCount > 5);
  // Appended but not yet fsynced: above the high watermark, so invisible to readers.
  assert.ok(log.highWatermark < 200);
  assert.equal(log.highWatermark, log.durableOffset);
  assert.equal(log.read(199, 1000).records.length, 0);
  // A read from below the high watermark stops there, even with bytes to spare.
  const upToHw = log.read(log.highWatermark - 2, 1 << 20).records[0]!;
  assert.equal(Number(upToHw.readBigInt64BE(0)) + upToHw.readInt32BE(23) + 1, log.highWatermark);
  assert.equal(upToHw.length, 12 + upToHw.readInt32BE(8), 'only the last visible batch');
  await f.sync();
  assert.equal(log.highWatermark, 200);
  for (const off of [0, 1, 57, 120, 199]) {
    const r = log.read(off, 1);
    assert.equal(r.error, ErrorCode.NONE);
    const first = r.records[0]!;
    const base = Number(first.readBigInt64BE(0));
    assert.ok(base <= off && off <= base + 1, `offset ${off} in batch at ${base}`);
  }
  assert.equal(log.read(200, 1000).records.length, 0);
  assert.equal(log.read(201, 1000).error, ErrorCode.OFFSET_OUT_OF_RANGE);
  log.close();
  log = new PartitionLog(path.join(dir, 'p'), cfg, f, quiet);
  assert.equal(log.nextOffset, 200);
  assert.equal(Number(log.read(150, 1).records[0]!.readBigInt64BE(0)), 150);
  assert.ok(log.applyRetention(Date.now(), 2000, -1) > 0);
  assert.ok(log.logStartOffset > 0);
  assert.equal(log.read(0, 100).error, ErrorCode.OFFSET_OUT_OF_RANGE);
  log.close();
});

test('idempotent sequences: exact retry is a duplicate, a gap is out of order, state survives reopen', (t) => {
  const dir = tmpDir(t);
  const cfg = { segmentBytes: 1 << 20, indexIntervalBytes: 4096, retentionBytes: -1, retentionMs: -1 };
  const f = new Flusher();
  let log = new PartitionLog(path.join(dir, 'p'), cfg, f, quiet);
  const b0 = batchInfo(batch(3, { pid: 7, seq: 0 }));
  assert.equal(log.checkSequence(b0), null);
  log.append([b0]);
  assert.deepEqual(log.checkSequence(batchInfo(batch(3, { pid: 7, seq: 0 }))), { dupOffset: 0 });
  assert.deepEqual(log.checkSequence(batchInfo(batch(1, { pid: 7, seq: 5 }))), {
    error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  });
  log.close();
  log = new PartitionLog(path.join(dir, 'p'), cfg, f, quiet);
  assert.deepEqual(log.checkSequence(batchInfo(batch(3, { pid: 7, seq: 0 }))), { dupOffset: 0 });
  assert.equal(log.checkSequence(batchInfo(batch(1, { pid: 7, seq: 3 }))), null);
  log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const visibility of ['written', 'durable'] as const) {
  test(`${visibility}: appended data becomes durable (and visible) without any waiter (acks=0), each file on its own`, async (t) => {
    const dir = tmpDir(t);
    const cfg = { visibility, segmentBytes: 1 << 20, indexIntervalBytes: 4096, retentionBytes: -1, retentionMs: -1 };
    const f = new Flusher();
    const a = new PartitionLog(path.join(dir, 'a'), cfg, f, quiet);
    const b = new PartitionLog(path.join(dir, 'b'), cfg, f, quiet);
    t.after(() => {
      a.close();
      b.close();
    });
    let woken = 0;
    a.onAppend(() => woken++);
    a.append([batchInfo(batch(3))]);
    // No fsync can have run yet (rounds start on setImmediate).
    assert.equal(a.durableOffset, 0);
    if (visibility === 'written') {
      // In the file = visible: the high watermark is the log end, long polls wake now.
      assert.equal(a.highWatermark, 3);
      assert.equal(woken, 1);
      assert.equal(Number(a.read(0, 1000).records[0]!.readBigInt64BE(0)), 0);
    } else {
      assert.equal(a.highWatermark, 0);
      assert.equal(woken, 0);
      assert.equal(a.read(0, 1000).records.length, 0);
    }
    const deadline = Date.now() + 5000;
    while (a.durableOffset < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    assert.equal(a.durableOffset, 3);
    assert.equal(a.highWatermark, 3);
    assert.equal(woken, 1);
    assert.equal(Number(a.read(0, 1000).records[0]!.readBigInt64BE(0)), 0);
    // Waiting for one file is satisfied by that file's round even while another is dirty.
    b.append([batchInfo(batch(1))]);
    a.append([batchInfo(batch(1))]);
    await f.sync([a.activeFd]);
    assert.equal(a.durableOffset, 4);
    assert.equal(a.highWatermark, 4);
    await f.sync();
    assert.equal(b.durableOffset, 1);
    assert.equal(b.highWatermark, 1);
  });

  test(`${visibility}: a reopened log (after a process crash) is fsynced and fully visible`, (t) => {
    const dir = tmpDir(t);
    const cfg = { visibility, segmentBytes: 1 << 20, indexIntervalBytes: 4096, retentionBytes: -1, retentionMs: -1 };
    const f = new Flusher();
    const a = new PartitionLog(path.join(dir, 'a'), cfg, f, quiet);
    a.append([batchInfo(batch(2))]);
    // Never synced by a (simulated SIGKILL: the bytes are in the page cache only).
    const syncs = mock.method(fs, 'fdatasyncSync');
    const b = new PartitionLog(path.join(dir, 'a'), cfg, new Flusher(), quiet);
    assert.equal(syncs.mock.callCount(), 1, "the recovered active segment is fdatasync'ed");
    syncs.mock.restore();
    t.after(() => {
      a.close();
      b.close();
    });
    assert.equal(b.nextOffset, 2);
    assert.equal(b.durableOffset, 2);
    assert.equal(b.highWatermark, 2);
    assert.equal(b.read(0, 1000).records.length, 1);
  });
}
