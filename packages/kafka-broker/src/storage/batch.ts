import { crc32c } from '../codec/crc32c.ts';
import { ErrorCode } from '../errors.ts';

// Record batch v2 header (see kafkajs src/protocol/recordBatch/v0 and the
// Kafka RecordBatch docs). baseOffset and batchLength sit before the CRC, which
// covers `attributes` to the end, so the broker may rewrite baseOffset freely.
export const BASE_OFFSET = 0;
export const BATCH_LENGTH = 8;
export const MAGIC = 16;
export const CRC = 17;
export const ATTRIBUTES = 21;
export const LAST_OFFSET_DELTA = 23;
export const MAX_TIMESTAMP = 35;
export const PRODUCER_ID = 43;
export const PRODUCER_EPOCH = 51;
export const BASE_SEQUENCE = 53;
export const HEADER_SIZE = 61;
/** Fixed prefix outside batchLength (baseOffset + batchLength). */
export const LOG_OVERHEAD = 12;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;

export interface BatchInfo {
  buf: Buffer;
  lastOffsetDelta: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export function readInt64(b: Buffer, pos: number): number {
  return b.readInt32BE(pos) * 4294967296 + b.readUInt32BE(pos + 4);
}

export function writeInt64(b: Buffer, pos: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  b.writeInt32BE(hi | 0, pos);
  b.writeUInt32BE((v - hi * 4294967296) >>> 0, pos + 4);
}

export function batchInfo(buf: Buffer): BatchInfo {
  return {
    buf,
    lastOffsetDelta: buf.readInt32BE(LAST_OFFSET_DELTA),
    maxTimestamp: readInt64(buf, MAX_TIMESTAMP),
    producerId: readInt64(buf, PRODUCER_ID),
    producerEpoch: buf.readInt16BE(PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(BASE_SEQUENCE),
  };
}

/** Splits a produced record set into batches, validating framing, magic and CRC. */
export function parseProducedBatches(records: Buffer): { error: number; batches: BatchInfo[] } {
  const batches: BatchInfo[] = [];
  let pos = 0;
  while (pos < records.length) {
    if (records.length - pos < HEADER_SIZE) {
      // A magic 0/1 message set is shorter than a v2 header; say so rather than "corrupt".
      if (records.length - pos >= 17 && records.readInt8(pos + MAGIC) < 2)
        return { error: ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, batches };
      return { error: ErrorCode.CORRUPT_MESSAGE, batches };
    }
    const len = records.readInt32BE(pos + BATCH_LENGTH);
    if (records.readInt8(pos + MAGIC) !== 2) return { error: ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, batches };
    const end = pos + LOG_OVERHEAD + len;
    if (len < HEADER_SIZE - LOG_OVERHEAD || end > records.length) return { error: ErrorCode.CORRUPT_MESSAGE, batches };
    const buf = records.subarray(pos, end);
    if (crc32c(buf, ATTRIBUTES) !== buf.readUInt32BE(CRC)) return { error: ErrorCode.CORRUPT_MESSAGE, batches };
    const attrs = buf.readInt16BE(ATTRIBUTES);
    if (attrs & (TRANSACTIONAL_FLAG | CONTROL_FLAG))
      return { error: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, batches };
    const info = batchInfo(buf);
    if (info.lastOffsetDelta < 0) return { error: ErrorCode.CORRUPT_MESSAGE, batches };
    batches.push(info);
    pos = end;
  }
  if (batches.length === 0) return { error: ErrorCode.CORRUPT_MESSAGE, batches };
  return { error: ErrorCode.NONE, batches };
}
