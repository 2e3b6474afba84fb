import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { defineScript } from '../src/index.ts';
import { deleteKeys } from '../src/testing/index.ts';

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

  it('refuses a second, different script under a name already taken on the client', async () => {
    const impostor = defineScript<[string], [], number>({ name: 'platformTestAddAll', lua: 'return 1' });
    await assert.rejects(impostor(redis, ['a'], []), /already defined with different Lua/);
  });
});
