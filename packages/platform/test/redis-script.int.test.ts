import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { defineScript } from '../src/index.ts';
import { countRedisWrites, deleteKeys } from '../src/testing/index.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';

describe('defineScript (Redis)', () => {
  const prefix = `test:platform:script:${randomBytes(4).toString('hex')}:`;
  // A Lua body no server has seen, so the first call meets NOSCRIPT without flushing anyone else's scripts.
  const lua = `-- ${prefix}
local total = 0
for i, key in ipairs(KEYS) do total = total + redis.call('INCRBY', key, ARGV[i]) end
return { #KEYS, total }`;
  const addAll = defineScript<string[], number[], [number, number]>({ name: 'platformTestAddAll', lua });
  let redis: Redis;
  let raw: Redis;

  before(() => {
    redis = new Redis(REDIS_URL, { keyPrefix: prefix });
    raw = new Redis(REDIS_URL);
  });
  after(async () => {
    await deleteKeys(raw, prefix);
    raw.disconnect();
    redis.disconnect();
  });

  it('runs a script the server does not know yet (EVALSHA, NOSCRIPT, EVAL) and caches it', async () => {
    const sha = createHash('sha1').update(lua).digest('hex');
    assert.deepEqual(await raw.script('EXISTS', sha), [0]);
    assert.deepEqual(await addAll(redis, ['a'], [2]), [1, 2]);
    assert.deepEqual(await raw.script('EXISTS', sha), [1]);
  });

  it("prefixes the keys with the client's keyPrefix, not the arguments, and takes any number of keys", async () => {
    assert.deepEqual(await addAll(redis, ['b', 'c'], [3, 4]), [2, 7]);
    assert.equal(await raw.get(`${prefix}b`), '3');
    assert.equal(await raw.get(`${prefix}c`), '4');
    assert.equal(await raw.exists('b', 'c'), 0);
  });

  it('.many runs the script once per call in one write to the socket, replies in call order', async () => {
    const counter = countRedisWrites(redis);
    try {
      const calls = Array.from({ length: 10 }, (_, i) => [[`m${i}`], [i]] as [string[], number[]]);
      assert.deepEqual(
        await addAll.many(redis, calls),
        calls.map((_, i) => [1, i]),
      );
      assert.equal(counter.writes, 1, 'one round trip for ten calls');
    } finally {
      counter.stop();
    }
    assert.equal(await raw.get(`${prefix}m9`), '9', 'keys prefixed as for a single call');
    assert.deepEqual(await addAll.many(redis, []), []);
  });

  it('.many rejects with a failed call’s error', async () => {
    await raw.set(`${prefix}text`, 'not a number');
    await assert.rejects(
      addAll.many(redis, [
        [['n1'], [1]],
        [['text'], [1]],
      ]),
      /not an integer/,
    );
    assert.equal(await raw.get(`${prefix}n1`), '1', 'the other call ran');
  });

  it('.prepare registers the script, so an auto-pipelining client can run it beside other commands of the same turn', async () => {
    // A pipeline copies the client's scripts when it is made: here `get` makes this turn's pipeline first. An
    // unprepared script would be missing from it, and ioredis then breaks that batch's callbacks with an
    // uncaught `results[i] is not iterable` (issue #1931): this test would crash the process, not just fail.
    const sameTurn = (client: Redis) => Promise.all([client.get('ap:other'), addAll(client, ['ap:x'], [5])]);
    const pipelined = new Redis(REDIS_URL, { keyPrefix: prefix, enableAutoPipelining: true });
    try {
      addAll.prepare(pipelined);
      assert.deepEqual(await sameTurn(pipelined), [null, [1, 5]]);
      addAll.prepare(pipelined);
      assert.deepEqual(await sameTurn(pipelined), [null, [1, 10]], 'preparing twice is harmless');
    } finally {
      pipelined.disconnect();
    }
  });

  it('refuses a second, different script under a name already taken on the client', async () => {
    const impostor = defineScript<[string], [], number>({ name: 'platformTestAddAll', lua: 'return 1' });
    await assert.rejects(impostor(redis, ['a'], []), /already defined with different Lua/);
  });
});
