import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeId,
  encodeId,
  parseSnowflake,
  resolveWorkerId,
  SNOWFLAKE_EPOCH_MS,
  SnowflakeGenerator,
} from '../src/ids/index.ts';

/** A clock the test moves by hand. */
function manualClock(startMs: number) {
  let now = startMs;
  return {
    now: () => now,
    set: (ms: number) => {
      now = ms;
    },
  };
}

function assertIncreasing(ids: bigint[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i]! > ids[i - 1]!, `id ${i} (${ids[i]}) is not greater than id ${i - 1} (${ids[i - 1]})`);
  }
}

describe('SnowflakeGenerator', () => {
  test('lays out time, worker and sequence', () => {
    const clock = manualClock(SNOWFLAKE_EPOCH_MS + 1234);
    const generator = new SnowflakeGenerator({ workerId: 513, now: clock.now });
    const first = generator.next();
    const second = generator.next();
    assert.equal(first, (1234n << 22n) | (513n << 12n));
    assert.deepEqual(parseSnowflake(second), {
      timestamp: new Date(SNOWFLAKE_EPOCH_MS + 1234),
      workerId: 513,
      sequence: 1,
    });
  });

  test('a burst of 100k ids on the real clock is strictly increasing and unique', () => {
    const generator = new SnowflakeGenerator({ workerId: 7 });
    const ids = Array.from({ length: 100_000 }, () => generator.next());
    assertIncreasing(ids);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of [ids[0]!, ids.at(-1)!]) assert.equal(parseSnowflake(id).workerId, 7);
  });

  test('more than 4096 ids in one millisecond wait for the next millisecond', () => {
    let calls = 0;
    const start = SNOWFLAKE_EPOCH_MS + 10_000;
    // The clock ticks only after the generator has asked a few times while the sequence is used up.
    const generator = new SnowflakeGenerator({ workerId: 1, now: () => start + Math.floor(calls++ / 5000) });
    const ids = Array.from({ length: 4097 }, () => generator.next());
    assertIncreasing(ids);
    assert.equal(parseSnowflake(ids[4095]!).sequence, 4095);
    const last = parseSnowflake(ids[4096]!);
    assert.equal(last.sequence, 0);
    assert.equal(last.timestamp.getTime(), start + 1);
  });

  test('a clock that steps back never yields a duplicate or smaller id', () => {
    const clock = manualClock(SNOWFLAKE_EPOCH_MS + 60_000);
    const generator = new SnowflakeGenerator({ workerId: 3, now: clock.now });
    const ids = [generator.next(), generator.next()];
    clock.set(SNOWFLAKE_EPOCH_MS + 55_000); // five seconds back
    for (let i = 0; i < 10_000; i++) ids.push(generator.next()); // more than one millisecond's sequence
    clock.set(SNOWFLAKE_EPOCH_MS + 60_001);
    ids.push(generator.next());
    clock.set(SNOWFLAKE_EPOCH_MS + 70_000);
    ids.push(generator.next());
    assertIncreasing(ids);
    assert.equal(new Set(ids).size, ids.length);
    // While the clock was behind it borrowed only the milliseconds the sequence needed.
    assert.equal(parseSnowflake(ids.at(-1)!).timestamp.getTime(), SNOWFLAKE_EPOCH_MS + 70_000);
  });

  test('rejects bad worker ids and clocks before the epoch', () => {
    for (const workerId of [-1, 1024, 1.5, Number.NaN]) {
      assert.throws(() => new SnowflakeGenerator({ workerId }), RangeError);
    }
    const generator = new SnowflakeGenerator({ workerId: 0, now: () => SNOWFLAKE_EPOCH_MS - 1 });
    assert.throws(() => generator.next(), /before the snowflake epoch/);
  });
});

describe('encodeId / decodeId', () => {
  test('round-trips generated ids and the extremes', () => {
    const generator = new SnowflakeGenerator({ workerId: 1023 });
    for (const id of [1n, generator.next(), (1n << 63n) - 1n]) {
      assert.equal(decodeId(encodeId(id)), id);
    }
    assert.equal(encodeId(9007199254740993n), '9007199254740993'); // past 2^53, exactly
  });

  test('decode rejects anything that is not a canonical positive decimal below 2^63', () => {
    const junk = [
      '',
      '0',
      '-1',
      '+1',
      '01',
      ' 1',
      '1 ',
      '1.0',
      '1e3',
      '0x10',
      '１２', // full-width digits
      'abc',
      '9223372036854775808', // 2^63
      '99999999999999999999',
      '1'.repeat(1000),
    ];
    for (const value of junk) assert.equal(decodeId(value), null, JSON.stringify(value));
    assert.equal(decodeId('9223372036854775807'), (1n << 63n) - 1n);
  });

  test('encode refuses ids a database row cannot have', () => {
    for (const id of [0n, -5n, 1n << 63n]) assert.throws(() => encodeId(id), RangeError);
  });
});

describe('resolveWorkerId', () => {
  test('explicit option, then MALL_WORKER_ID, then random outside production', () => {
    assert.deepEqual(resolveWorkerId({ workerId: 5, env: { MALL_WORKER_ID: '9' } }), { workerId: 5, source: 'option' });
    assert.deepEqual(resolveWorkerId({ env: { MALL_WORKER_ID: '9' } }), { workerId: 9, source: 'env' });
    const random = resolveWorkerId({ env: {} });
    assert.equal(random.source, 'random');
    assert.ok(random.workerId >= 0 && random.workerId <= 1023);
  });

  test('refuses a missing id in production and invalid values anywhere', () => {
    assert.throws(() => resolveWorkerId({ env: { NODE_ENV: 'production' } }), /MALL_WORKER_ID is not set/);
    for (const value of ['1024', '-1', 'one', '1.5']) {
      assert.throws(() => resolveWorkerId({ env: { MALL_WORKER_ID: value } }), RangeError, value);
    }
  });
});
