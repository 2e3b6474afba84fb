// Builds a response as a list of chunks so large record payloads (fetch) are
// referenced, not copied, and go to the socket with one corked writev.
// Most responses (heartbeats, produce acks, offset commits) are tiny: start
// below Buffer.poolSize / 2 so the first buffer is a slice of Node's shared
// pool instead of a fresh allocation per response; grow in 16 KiB steps.
const FIRST = 1024;
const SCRATCH = 16 * 1024;
const INLINE_LIMIT = 4096;

export class Writer {
  private chunks: Buffer[] = [];
  private cur: Buffer = Buffer.allocUnsafe(FIRST);
  private pos = 0;
  private start = 0;
  length = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.cut();
    this.cur = Buffer.allocUnsafe(Math.max(SCRATCH, n));
    this.pos = 0;
    this.start = 0;
  }

  private cut(): void {
    if (this.pos > this.start) this.chunks.push(this.cur.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  int8(v: number): this {
    this.ensure(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.cur.writeInt16BE(v, this.pos);
    this.pos += 2;
    this.length += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.cur.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    this.length += 4;
    return this;
  }

  int64(v: number): this {
    this.ensure(8);
    const hi = Math.floor(v / 4294967296);
    const lo = v - hi * 4294967296;
    this.cur.writeInt32BE(hi | 0, this.pos);
    this.cur.writeUInt32BE(lo >>> 0, this.pos + 4);
    this.pos += 8;
    this.length += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  nullableString(s: string | null): this {
    if (s === null) return this.int16(-1);
    const len = Buffer.byteLength(s);
    this.int16(len);
    this.ensure(len);
    this.cur.write(s, this.pos, 'utf8');
    this.pos += len;
    this.length += len;
    return this;
  }

  string(s: string): this {
    return this.nullableString(s);
  }

  raw(b: Buffer): this {
    if (b.length <= INLINE_LIMIT) {
      this.ensure(b.length);
      b.copy(this.cur, this.pos);
      this.pos += b.length;
    } else {
      this.cut();
      this.chunks.push(b);
    }
    this.length += b.length;
    return this;
  }

  rawList(list: readonly Buffer[]): this {
    for (const b of list) this.raw(b);
    return this;
  }

  nullableBytes(b: Buffer | null): this {
    if (b === null) return this.int32(-1);
    this.int32(b.length);
    return this.raw(b);
  }

  bytes(b: Buffer): this {
    return this.nullableBytes(b);
  }

  nullableArray<T>(items: readonly T[] | null, item: (w: Writer, x: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const x of items) item(this, x);
    return this;
  }

  array<T>(items: readonly T[], item: (w: Writer, x: T) => void): this {
    return this.nullableArray(items, item);
  }

  finish(): Buffer[] {
    this.cut();
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}
