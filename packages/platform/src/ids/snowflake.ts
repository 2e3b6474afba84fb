/** 2026-01-01T00:00:00Z: ids stay small and sortable, and 41 bits of milliseconds last until 2095. */
export const SNOWFLAKE_EPOCH_MS = Date.UTC(2026, 0, 1);

const WORKER_BITS = 10n;
const SEQUENCE_BITS = 12n;
export const MAX_WORKER_ID = (1 << Number(WORKER_BITS)) - 1;
const MAX_SEQUENCE = (1 << Number(SEQUENCE_BITS)) - 1;
const MAX_TIMESTAMP = 2 ** 41 - 1;
const ID_LIMIT = 1n << 63n;

export interface SnowflakeOptions {
  /** 0..1023, unique among the instances writing ids at the same time (see worker-id.ts). */
  workerId: number;
  /** Milliseconds since the Unix epoch; injectable for tests. */
  now?: () => number;
}

export function assertWorkerId(workerId: number): number {
  if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID) {
    throw new RangeError(`worker id must be an integer in 0..${MAX_WORKER_ID}, got ${workerId}`);
  }
  return workerId;
}

/**
 * 64-bit ids: 41 bits of milliseconds since {@link SNOWFLAKE_EPOCH_MS}, 10 bits of worker id, 12 bits
 * of sequence. Ids from one generator strictly increase, even when the wall clock steps back (NTP,
 * VM migration): the generator keeps its own notion of "now" that never goes back, and spends the
 * sequence of the last millisecond it used until the clock catches up. More than 4096 ids in one
 * millisecond wait for the next one; while the clock is behind, the generator moves on to the next
 * millisecond itself instead of waiting for the clock to catch up.
 */
export class SnowflakeGenerator {
  readonly workerId: number;
  readonly #now: () => number;
  readonly #worker: bigint;
  #lastMs = -1;
  #sequence = 0;

  constructor(options: SnowflakeOptions) {
    this.workerId = assertWorkerId(options.workerId);
    this.#worker = BigInt(this.workerId) << SEQUENCE_BITS;
    this.#now = options.now ?? Date.now;
  }

  next(): bigint {
    let ms = this.#elapsed();
    if (ms > this.#lastMs) {
      this.#lastMs = ms;
      this.#sequence = 0;
    } else if (this.#sequence < MAX_SEQUENCE) {
      // Same millisecond, or the clock went back: keep counting in the last millisecond we used.
      this.#sequence += 1;
    } else if (ms === this.#lastMs) {
      // 4096 ids this millisecond already: spin (< 1 ms) until the clock ticks.
      while (ms <= this.#lastMs) ms = this.#elapsed();
      this.#lastMs = ms;
      this.#sequence = 0;
    } else {
      // Clock behind and this millisecond used up: borrow the next one rather than wait for the clock.
      this.#lastMs += 1;
      this.#sequence = 0;
    }
    if (this.#lastMs > MAX_TIMESTAMP) throw new RangeError('snowflake timestamp overflow (past 2095)');
    return (BigInt(this.#lastMs) << (WORKER_BITS + SEQUENCE_BITS)) | this.#worker | BigInt(this.#sequence);
  }

  #elapsed(): number {
    const ms = Math.floor(this.#now()) - SNOWFLAKE_EPOCH_MS;
    if (ms < 0)
      throw new RangeError(
        `system clock is before the snowflake epoch (${new Date(SNOWFLAKE_EPOCH_MS).toISOString()})`,
      );
    return ms;
  }
}

export interface SnowflakeParts {
  timestamp: Date;
  workerId: number;
  sequence: number;
}

/** Splits an id into its fields, for logs and debugging. */
export function parseSnowflake(id: bigint): SnowflakeParts {
  if (id < 0n || id >= ID_LIMIT) throw new RangeError(`not a snowflake id: ${id}`);
  return {
    timestamp: new Date(Number(id >> (WORKER_BITS + SEQUENCE_BITS)) + SNOWFLAKE_EPOCH_MS),
    workerId: Number((id >> SEQUENCE_BITS) & BigInt(MAX_WORKER_ID)),
    sequence: Number(id & BigInt(MAX_SEQUENCE)),
  };
}

// GraphQL IDs are the decimal string of the bigint: JSON numbers lose precision past 2^53.
const CANONICAL_ID = /^[1-9][0-9]{0,18}$/;

/** The GraphQL `ID` of a database id. */
export function encodeId(id: bigint): string {
  if (id <= 0n || id >= ID_LIMIT) throw new RangeError(`id out of range: ${id}`);
  return id.toString();
}

/**
 * The database id behind a GraphQL `ID`, or null for anything that is not exactly what
 * {@link encodeId} produces (signs, leading zeros, spaces, exponents, > 2^63 - 1), so a client
 * cannot reach one row through several spellings.
 */
export function decodeId(value: string): bigint | null {
  if (typeof value !== 'string' || !CANONICAL_ID.test(value)) return null;
  const id = BigInt(value);
  return id < ID_LIMIT ? id : null;
}
