import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '../codec/crc32c.ts';
import { ErrorCode } from '../errors.ts';
import {
  ATTRIBUTES,
  BASE_SEQUENCE,
  BATCH_LENGTH,
  type BatchInfo,
  CRC,
  HEADER_SIZE,
  LAST_OFFSET_DELTA,
  LOG_OVERHEAD,
  MAGIC,
  MAX_TIMESTAMP,
  PRODUCER_EPOCH,
  PRODUCER_ID,
  readInt64,
  writeInt64,
} from './batch.ts';
import type { Flusher } from './flusher.ts';

/**
 * When an appended batch becomes visible to consumers (Fetch, ListOffsets
 * latest, long-poll wake-ups):
 * - 'written': as soon as it is in the segment file (page cache), like Apache
 *   Kafka with replication factor 1 (high watermark = log end). A broker
 *   process crash loses nothing written; an OS crash or power loss can lose
 *   records a consumer has already seen (never an acknowledged one: acks=1/-1
 *   still wait for fdatasync).
 * - 'durable': only once it is fdatasync'ed, so no consumer can process or
 *   commit past data any crash could lose; costs the fsync latency per record.
 */
export type Visibility = 'written' | 'durable';
export const DEFAULT_VISIBILITY: Visibility = 'written';

export interface LogConfig {
  /** Default DEFAULT_VISIBILITY. */
  visibility?: Visibility;
  segmentBytes: number;
  indexIntervalBytes: number;
  retentionBytes: number; // -1 = unlimited
  retentionMs: number; // -1 = unlimited
}

export interface Logger {
  info(o: unknown, msg?: string): void;
  warn(o: unknown, msg?: string): void;
  error(o: unknown, msg?: string): void;
  debug(o: unknown, msg?: string): void;
}

interface Segment {
  baseOffset: number;
  fd: number;
  idxFd: number;
  size: number;
  // Sparse index: batch base offsets and their file positions, one entry per
  // indexIntervalBytes, so a fetch reads at most ~interval bytes of headers.
  idxOffsets: number[];
  idxPositions: number[];
  lastIndexedPos: number;
  lastModified: number;
  maxTimestamp: number;
}

interface ProducerEntry {
  epoch: number;
  lastSeq: number;
  // The last few batches, like Kafka's 5 in-flight window, so a retried batch
  // is answered with its original offset instead of being appended again.
  recent: Array<{ firstSeq: number; lastSeq: number; baseOffset: number }>;
}

const name = (base: number, ext: string): string => `${String(base).padStart(20, '0')}${ext}`;
const hdr = Buffer.alloc(HEADER_SIZE);

export interface ReadResult {
  error: number;
  records: Buffer[];
  bytes: number;
}

export class PartitionLog {
  readonly dir: string;
  private cfg: LogConfig;
  private flusher: Flusher;
  private log: Logger;
  private segments: Segment[] = [];
  readonly visibility: Visibility;
  nextOffset = 0;
  // Offsets below this are fdatasync'ed.
  durableOffset = 0;
  // Offsets below this are visible to consumers (Kafka's high watermark):
  // nextOffset in 'written' mode, durableOffset in 'durable' mode.
  highWatermark = 0;
  logStartOffset = 0;
  private producers = new Map<number, ProducerEntry>();
  private listeners = new Set<() => void>();
  private closed = false;

  constructor(dir: string, cfg: LogConfig, flusher: Flusher, log: Logger) {
    this.dir = dir;
    this.cfg = cfg;
    this.flusher = flusher;
    this.log = log;
    this.visibility = cfg.visibility ?? DEFAULT_VISIBILITY;
    fs.mkdirSync(dir, { recursive: true });
    const bases = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => Number(f.slice(0, -4)))
      .filter((n) => Number.isSafeInteger(n))
      .sort((a, b) => a - b);
    if (bases.length === 0) bases.push(0);
    for (let i = 0; i < bases.length; i++) {
      const last = i === bases.length - 1;
      this.segments.push(this.openSegment(bases[i]!, last, last ? undefined : bases[i + 1]!));
    }
    this.logStartOffset = this.segments[0]!.baseOffset;
    // recover() fdatasync'ed the active segment (older ones were synced when they rolled).
    this.durableOffset = this.nextOffset;
    this.highWatermark = this.nextOffset;
  }

  get size(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** The file appends go to (older segments are synced when they roll). */
  get activeFd(): number {
    return this.active().fd;
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private openSegment(base: number, last: boolean, nextBase?: number): Segment {
    const logPath = path.join(this.dir, name(base, '.log'));
    const idxPath = path.join(this.dir, name(base, '.index'));
    const fd = fs.openSync(logPath, last ? (fs.existsSync(logPath) ? 'r+' : 'w+') : 'r');
    const st = fs.fstatSync(fd);
    const seg: Segment = {
      baseOffset: base,
      fd,
      idxFd: -1,
      size: st.size,
      idxOffsets: [],
      idxPositions: [],
      lastIndexedPos: -Infinity,
      lastModified: st.mtimeMs,
      maxTimestamp: -1,
    };
    if (last) {
      this.recover(seg);
      seg.idxFd = fs.openSync(idxPath, 'w+');
      const ib = Buffer.alloc(seg.idxOffsets.length * 8);
      for (let i = 0; i < seg.idxOffsets.length; i++) {
        ib.writeInt32BE(seg.idxOffsets[i]! - base, i * 8);
        ib.writeInt32BE(seg.idxPositions[i]!, i * 8 + 4);
      }
      if (ib.length) fs.writeSync(seg.idxFd, ib, 0, ib.length, 0);
    } else {
      if (!this.loadIndex(seg, idxPath)) this.rebuildIndex(seg);
      this.nextOffset = nextBase ?? this.nextOffset;
    }
    return seg;
  }

  private loadIndex(seg: Segment, idxPath: string): boolean {
    let ib: Buffer;
    try {
      ib = fs.readFileSync(idxPath);
    } catch {
      return false;
    }
    if (ib.length % 8 !== 0 || (ib.length === 0 && seg.size > 0)) return false;
    let prevPos = -1;
    for (let i = 0; i < ib.length; i += 8) {
      const off = seg.baseOffset + ib.readInt32BE(i);
      const pos = ib.readInt32BE(i + 4);
      if (pos <= prevPos || pos >= seg.size) return false;
      seg.idxOffsets.push(off);
      seg.idxPositions.push(pos);
      prevPos = pos;
    }
    seg.lastIndexedPos = prevPos;
    return true;
  }

  private rebuildIndex(seg: Segment): void {
    let pos = 0;
    while (pos + HEADER_SIZE <= seg.size) {
      fs.readSync(seg.fd, hdr, 0, HEADER_SIZE, pos);
      this.maybeIndex(seg, readInt64(hdr, 0), pos, false);
      pos += LOG_OVERHEAD + hdr.readInt32BE(BATCH_LENGTH);
    }
  }

  private maybeIndex(seg: Segment, offset: number, pos: number, persist: boolean): void {
    if (pos - seg.lastIndexedPos < this.cfg.indexIntervalBytes) return;
    seg.idxOffsets.push(offset);
    seg.idxPositions.push(pos);
    seg.lastIndexedPos = pos;
    if (persist && seg.idxFd >= 0) {
      const e = Buffer.allocUnsafe(8);
      e.writeInt32BE(offset - seg.baseOffset, 0);
      e.writeInt32BE(pos, 4);
      fs.writeSync(seg.idxFd, e, 0, 8, (seg.idxOffsets.length - 1) * 8);
    }
  }

  // Crash recovery for the active segment: walk every batch, check framing,
  // offset continuity and CRC; cut the file at the first bad byte. Anything cut
  // was never acknowledged, because acks wait for fdatasync. What survives is
  // fdatasync'ed before it is served: after a process crash (SIGKILL) the tail
  // may still be only in the page cache, and the durable offset starts at the end.
  private recover(seg: Segment): void {
    let pos = 0;
    let expected = seg.baseOffset;
    let buf = Buffer.allocUnsafe(1 << 20);
    let reason = '';
    while (pos < seg.size) {
      if (seg.size - pos < HEADER_SIZE) {
        reason = 'partial header';
        break;
      }
      fs.readSync(seg.fd, hdr, 0, HEADER_SIZE, pos);
      const len = hdr.readInt32BE(BATCH_LENGTH);
      const total = LOG_OVERHEAD + len;
      if (hdr.readInt8(MAGIC) !== 2 || len < HEADER_SIZE - LOG_OVERHEAD || pos + total > seg.size) {
        reason = 'bad header or partial batch';
        break;
      }
      if (readInt64(hdr, 0) !== expected) {
        reason = 'offset discontinuity';
        break;
      }
      if (buf.length < total) buf = Buffer.allocUnsafe(total);
      fs.readSync(seg.fd, buf, 0, total, pos);
      if (crc32c(buf, ATTRIBUTES, total) !== buf.readUInt32BE(CRC)) {
        reason = 'crc mismatch';
        break;
      }
      this.maybeIndex(seg, expected, pos, false);
      const lastOffset = expected + buf.readInt32BE(LAST_OFFSET_DELTA);
      seg.maxTimestamp = Math.max(seg.maxTimestamp, readInt64(buf, MAX_TIMESTAMP));
      const pid = readInt64(buf, PRODUCER_ID);
      if (pid >= 0) {
        const baseSeq = buf.readInt32BE(BASE_SEQUENCE);
        this.rememberProducer(
          pid,
          buf.readInt16BE(PRODUCER_EPOCH),
          baseSeq,
          baseSeq + (lastOffset - expected),
          expected,
        );
      }
      expected = lastOffset + 1;
      pos += total;
    }
    if (pos < seg.size) {
      this.log.warn(
        { dir: this.dir, segment: seg.baseOffset, at: pos, dropped: seg.size - pos, reason },
        'truncating torn log tail',
      );
      fs.ftruncateSync(seg.fd, pos);
      seg.size = pos;
    }
    if (seg.size > 0) fs.fdatasyncSync(seg.fd);
    this.nextOffset = expected;
  }

  private rememberProducer(pid: number, epoch: number, firstSeq: number, lastSeq: number, baseOffset: number): void {
    let p = this.producers.get(pid);
    if (!p || p.epoch !== epoch) {
      p = { epoch, lastSeq: -1, recent: [] };
      this.producers.set(pid, p);
    }
    p.lastSeq = lastSeq;
    p.recent.push({ firstSeq, lastSeq, baseOffset });
    if (p.recent.length > 5) p.recent.shift();
  }

  /**
   * Idempotence check for one batch: returns a duplicate's original base
   * offset, an error code, or null when the batch should be appended.
   */
  checkSequence(b: BatchInfo): { dupOffset?: number; error?: number } | null {
    if (b.producerId < 0) return null;
    const p = this.producers.get(b.producerId);
    if (!p || b.producerEpoch > p.epoch) {
      // Unknown producer (new, or its state aged out of the recovered window): accept, like Kafka does.
      return null;
    }
    if (b.producerEpoch < p.epoch) return { error: ErrorCode.INVALID_PRODUCER_EPOCH };
    // Like Kafka, only an exact (first, last) match is a retry of the same batch.
    const lastSeq = b.baseSequence + b.lastOffsetDelta;
    for (const r of p.recent)
      if (r.firstSeq === b.baseSequence && r.lastSeq === lastSeq) return { dupOffset: r.baseOffset };
    const expected = p.lastSeq === 0x7fffffff ? 0 : p.lastSeq + 1;
    if (b.baseSequence !== expected) return { error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER };
    return null;
  }

  /** Appends validated batches, assigning offsets. Data is in the page cache; call flusher.sync() for durability. */
  append(batches: BatchInfo[]): number {
    const first = this.nextOffset;
    for (const b of batches) {
      let seg = this.active();
      if (seg.size > 0 && seg.size + b.buf.length > this.cfg.segmentBytes) seg = this.roll();
      const base = this.nextOffset;
      writeInt64(b.buf, 0, base);
      let done = 0;
      while (done < b.buf.length) done += fs.writeSync(seg.fd, b.buf, done, b.buf.length - done, seg.size + done);
      this.maybeIndex(seg, base, seg.size, true);
      seg.size += b.buf.length;
      seg.lastModified = Date.now();
      seg.maxTimestamp = Math.max(seg.maxTimestamp, b.maxTimestamp);
      this.nextOffset = base + b.lastOffsetDelta + 1;
      if (b.producerId >= 0)
        this.rememberProducer(b.producerId, b.producerEpoch, b.baseSequence, b.baseSequence + b.lastOffsetDelta, base);
    }
    const upTo = this.nextOffset;
    this.flusher.markDirty(this.active().fd, () => this.durable(upTo));
    if (this.visibility === 'written') this.expose(upTo);
    return first;
  }

  /** Everything below `offset` is fdatasync'ed. */
  private durable(offset: number): void {
    if (offset > this.durableOffset) this.durableOffset = offset;
    if (this.visibility === 'durable') this.expose(offset);
  }

  private expose(offset: number): void {
    if (offset <= this.highWatermark || this.closed) return;
    this.highWatermark = offset;
    for (const l of this.listeners) l();
  }

  private roll(): Segment {
    const old = this.active();
    // Older segments are trusted on restart (only the active one is
    // re-validated), so make them fully durable before moving on.
    fs.fdatasyncSync(old.fd);
    this.flusher.synced(old.fd);
    this.durable(this.nextOffset);
    if (old.idxFd >= 0) {
      fs.fdatasyncSync(old.idxFd);
      fs.closeSync(old.idxFd);
      old.idxFd = -1;
    }
    const seg = this.openSegment(this.nextOffset, true);
    this.segments.push(seg);
    return seg;
  }

  /** Called whenever the high watermark advances (and on close). */
  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Reads whole batches starting at the one containing `offset`, up to
   * maxBytes, but always at least one batch (so a single batch larger than the
   * limit still makes progress, as in Kafka).
   */
  read(offset: number, maxBytes: number, minOneBatch = true): ReadResult {
    if (offset > this.nextOffset || offset < this.logStartOffset)
      return { error: ErrorCode.OFFSET_OUT_OF_RANGE, records: [], bytes: 0 };
    // Between the high watermark and the log end ('durable' mode): written, not yet fsynced, so not visible yet.
    if (offset >= this.highWatermark) return { error: ErrorCode.NONE, records: [], bytes: 0 };
    let si = this.findSegment(offset);
    while (si < this.segments.length) {
      const seg = this.segments[si]!;
      let pos = 0;
      const ii = upperBound(seg.idxOffsets, offset) - 1;
      if (ii >= 0) pos = seg.idxPositions[ii]!;
      while (pos + HEADER_SIZE <= seg.size) {
        fs.readSync(seg.fd, hdr, 0, 27, pos);
        const total = LOG_OVERHEAD + hdr.readInt32BE(BATCH_LENGTH);
        const last = readInt64(hdr, 0) + hdr.readInt32BE(LAST_OFFSET_DELTA);
        if (last >= offset) {
          if (total > maxBytes && !minOneBatch) return { error: ErrorCode.NONE, records: [], bytes: 0 };
          return this.readFrom(seg, pos, total, maxBytes);
        }
        pos += total;
      }
      si++;
    }
    return { error: ErrorCode.NONE, records: [], bytes: 0 };
  }

  private readFrom(seg: Segment, pos: number, firstTotal: number, maxBytes: number): ReadResult {
    const want = Math.max(firstTotal, Math.min(maxBytes, seg.size - pos));
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = fs.readSync(seg.fd, buf, got, want - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    // Trim to whole batches so clients never see a partial one.
    let end = 0;
    while (end + LOG_OVERHEAD <= got) {
      const t = LOG_OVERHEAD + buf.readInt32BE(end + BATCH_LENGTH);
      if (end + t > got || readInt64(buf, end) >= this.highWatermark) break;
      end += t;
    }
    return { error: ErrorCode.NONE, records: end ? [buf.subarray(0, end)] : [], bytes: end };
  }

  private findSegment(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** ListOffsets by timestamp: first offset whose batch maxTimestamp >= ts, or -1. */
  offsetForTimestamp(ts: number): { offset: number; timestamp: number } {
    for (const seg of this.segments) {
      if (seg.maxTimestamp >= 0 && seg.maxTimestamp < ts) continue;
      let pos = 0;
      while (pos + HEADER_SIZE <= seg.size) {
        fs.readSync(seg.fd, hdr, 0, HEADER_SIZE, pos);
        const mt = readInt64(hdr, MAX_TIMESTAMP);
        if (mt >= ts) {
          const offset = Math.max(readInt64(hdr, 0), this.logStartOffset);
          return offset < this.highWatermark ? { offset, timestamp: mt } : { offset: -1, timestamp: -1 };
        }
        pos += LOG_OVERHEAD + hdr.readInt32BE(BATCH_LENGTH);
      }
    }
    return { offset: -1, timestamp: -1 };
  }

  /** Deletes whole old segments past the size/age limits. Returns segments removed. */
  applyRetention(now: number, retentionBytes = this.cfg.retentionBytes, retentionMs = this.cfg.retentionMs): number {
    let removed = 0;
    let total = this.size;
    while (this.segments.length > 1) {
      const first = this.segments[0]!;
      const age = now - Math.max(first.lastModified, first.maxTimestamp);
      const tooOld = retentionMs >= 0 && age > retentionMs;
      const tooBig = retentionBytes >= 0 && total - first.size >= retentionBytes;
      if (!tooOld && !tooBig) break;
      this.segments.shift();
      this.closeSegment(first);
      fs.rmSync(path.join(this.dir, name(first.baseOffset, '.log')), { force: true });
      fs.rmSync(path.join(this.dir, name(first.baseOffset, '.index')), { force: true });
      total -= first.size;
      removed++;
    }
    this.logStartOffset = this.segments[0]!.baseOffset;
    return removed;
  }

  private closeSegment(seg: Segment): void {
    this.flusher.syncNow(seg.fd);
    fs.closeSync(seg.fd);
    if (seg.idxFd >= 0) fs.closeSync(seg.idxFd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) this.closeSegment(s);
    for (const l of this.listeners) l();
    this.listeners.clear();
  }
}

function upperBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
