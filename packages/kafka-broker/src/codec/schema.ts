// Table-driven codec: each API describes its request/response as a list of
// fields with the version range they exist in (mirroring the `versions` of the
// apache/kafka message JSON specs). All versions served are pre-flexible, so
// there are no compact or tagged types here.
import { Reader } from './reader.ts';
import type { Writer } from './writer.ts';

export interface Type<T> {
  read(r: Reader, v: number): T;
  write(w: Writer, x: T, v: number): void;
}

/** [name, type, sinceVersion = 0, untilVersion = Infinity, default when absent] */
// biome-ignore lint/suspicious/noExplicitAny: a field list mixes value types; the struct codec reads each by position.
export type Field = readonly [string, Type<any>, number?, number?, unknown?];

const prim = <T>(read: (r: Reader) => T, write: (w: Writer, x: T) => void): Type<T> => ({
  read: (r) => read(r),
  write: (w, x) => write(w, x),
});

export const int8 = prim(
  (r) => r.int8(),
  (w, x: number) => w.int8(x),
);
export const int16 = prim(
  (r) => r.int16(),
  (w, x: number) => w.int16(x),
);
export const int32 = prim(
  (r) => r.int32(),
  (w, x: number) => w.int32(x),
);
export const int64 = prim(
  (r) => r.int64(),
  (w, x: number) => w.int64(x),
);
export const bool = prim(
  (r) => r.bool(),
  (w, x: boolean) => w.bool(x),
);
export const str = prim(
  (r) => r.string(),
  (w, x: string) => w.string(x),
);
export const nstr = prim(
  (r) => r.nullableString(),
  (w, x: string | null) => w.nullableString(x ?? null),
);
export const bytes = prim(
  (r) => r.bytes(),
  (w, x: Buffer) => w.bytes(x),
);
export const nbytes = prim(
  (r) => r.nullableBytes(),
  (w, x: Buffer | null) => w.nullableBytes(x ?? null),
);
/** Record sets on the response side: a list of stored batches written back to back without copying. */
export const recordList: Type<Buffer[] | null> = {
  read: (r) => {
    const b = r.nullableBytes();
    return b === null ? null : [b];
  },
  write: (w, x) => {
    if (x === null) {
      w.int32(-1);
      return;
    }
    let n = 0;
    for (const b of x) n += b.length;
    w.int32(n).rawList(x);
  },
};

export function array<T>(t: Type<T>): Type<T[]> {
  return {
    read: (r, v) => r.array((rr) => t.read(rr, v)),
    write: (w, x, v) => {
      w.array(x ?? [], (ww, item) => t.write(ww, item, v));
    },
  };
}

export function narray<T>(t: Type<T>): Type<T[] | null> {
  return {
    read: (r, v) => r.nullableArray((rr) => t.read(rr, v)),
    write: (w, x, v) => {
      w.nullableArray(x ?? null, (ww, item) => t.write(ww, item, v));
    },
  };
}

export function struct<T>(fields: readonly Field[]): Type<T> {
  return {
    read(r, v) {
      const o: Record<string, unknown> = {};
      for (const [name, type, since = 0, until = Infinity, dflt] of fields) {
        o[name] = v >= since && v <= until ? type.read(r, v) : dflt;
      }
      return o as T;
    },
    write(w, x, v) {
      const o = x as Record<string, unknown>;
      for (const [name, type, since = 0, until = Infinity, dflt] of fields) {
        if (v >= since && v <= until) type.write(w, o[name] ?? dflt, v);
      }
    },
  };
}

export function decode<T>(t: Type<T>, buf: Buffer, pos: number, v: number): T {
  return t.read(new Reader(buf, pos), v);
}
