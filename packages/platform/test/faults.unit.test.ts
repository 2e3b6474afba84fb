import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, isTransientFault, notFound, throttled, unavailable } from '@mall/platform';

describe('isTransientFault', () => {
  it('knows the ways Redis, Postgres and peers say they are out of reach, through any cause chain', () => {
    const transient = [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Command timed out'),
      new Error('Connection is closed.'),
      Object.assign(new Error('Reached the max retries per request limit (which is 0).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('Timed out fetching a new connection from the connection pool.'), { code: 'P2024' }),
      new Error('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }),
      new Error('wrapped', { cause: new Error('timeout exceeded when trying to connect') }),
      new Error('LOADING Redis is loading the dataset in memory'),
      unavailable(),
    ];
    for (const err of transient) assert.equal(isTransientFault(err), true, String(err));
  });

  it('leaves bugs, bad input and business errors alone', () => {
    const permanent = [
      new Error('Cannot read properties of undefined'),
      new TypeError('x is not a function'),
      Object.assign(new Error('Unique constraint failed'), { code: 'P2002' }),
      notFound('Order'),
      new AppError('CONFLICT', 'already there'),
      'a string',
      null,
    ];
    for (const err of permanent) assert.equal(isTransientFault(err), false, String(err));
  });
});

describe('throttled', () => {
  it('runs once per interval and reports how many it skipped', () => {
    const log = throttled(60_000);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) log((suppressed) => seen.push(suppressed));
    assert.deepEqual(seen, [0]);
    const eager = throttled(0);
    eager((s) => seen.push(s));
    eager((s) => seen.push(s));
    assert.deepEqual(seen, [0, 0, 0]);
  });
});
