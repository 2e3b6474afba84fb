import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  createTestDatabase,
  createTestRedis,
  data,
  deleteKeys,
  errorCode,
  TEST_REDIS_URL,
} from '../src/testing/index.ts';
import { fixtureSchemaDir, serverUrl } from './fixtures/db.ts';

/** Databases whose name matches a LIKE pattern. */
async function databasesLike(pattern: string): Promise<number> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname LIKE $1', [pattern])).rowCount ?? 0;
  } finally {
    await client.end();
  }
}
const databaseExists = async (name: string) => (await databasesLike(name)) === 1;

describe('createTestDatabase', () => {
  test('creates a uniquely named database, migrated or set up by sql scripts, and drops it', async () => {
    const migrationsDir = join(fixtureSchemaDir('shop'), 'migrations');
    const [a, b] = await Promise.all([
      createTestDatabase('test_helpers', { migrationsDir }),
      createTestDatabase('test_helpers', {
        sql: ['CREATE TABLE notes (body text)', "INSERT INTO notes VALUES ('hi')"],
      }),
    ]);
    try {
      assert.notEqual(a.name, b.name);
      assert.match(a.name, /^test_helpers_/);
      const query = async (url: string, sql: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query(sql)).rows;
        } finally {
          await client.end();
        }
      };
      assert.deepEqual(await query(a.url, 'SELECT count(*)::int AS n FROM widgets'), [{ n: 0 }]);
      assert.deepEqual(await query(b.url, 'SELECT body FROM notes'), [{ body: 'hi' }], 'the sql scripts ran');
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
    assert.equal(await databaseExists(a.name), false);
    assert.equal(await databaseExists(b.name), false);
  });

  test('a failed migration leaves no database behind', async () => {
    await assert.rejects(
      createTestDatabase('test_helpers_bad', { migrationsDir: join(fixtureSchemaDir('bad'), 'migrations') }),
      /failed and was rolled back/,
    );
    // Names carry the pid, so this sees only this process's attempt.
    assert.equal(await databasesLike(`test_helpers_bad_${process.pid}_%`), 0);
  });
});

describe('createTestRedis', () => {
  test('keys live under a unique prefix, and cleanup removes only those', async () => {
    const mine = createTestRedis('test:helpers');
    const other = createTestRedis('test:helpers');
    const raw = new Redis(TEST_REDIS_URL);
    try {
      assert.notEqual(mine.prefix, other.prefix);
      await mine.redis.set('k', '1');
      await other.redis.set('k', '2');
      assert.equal(await raw.get(`${mine.prefix}k`), '1');
      await mine.cleanup();
      assert.equal(await raw.get(`${mine.prefix}k`), null);
      assert.equal(await raw.get(`${other.prefix}k`), '2');
    } finally {
      await other.cleanup();
      raw.disconnect();
    }
  });
});

describe('deleteKeys', () => {
  test('deletes every key under the prefix at once, however many, and nothing beside it', async () => {
    // `?` in the label: an unescaped pattern would also take the sibling below, which is not under the prefix.
    const { prefix, cleanup } = createTestRedis('test:helpers?');
    const sibling = `${prefix.replace('helpers?', 'helpersX')}kept`;
    const raw = new Redis(TEST_REDIS_URL);
    const writer = new Redis(TEST_REDIS_URL);
    try {
      const filler = raw.pipeline();
      for (let i = 0; i < 3_000; i++) filler.set(`${prefix}filler:${i}`, '1');
      filler.set(sibling, 'kept');
      await filler.exec();
      // Pairs written in one MULTI while the deletion runs: an atomic deletion (like the FLUSHALL it stands
      // in for) comes before or after each pair, never between its two keys.
      let writing = true;
      let pairs = 0;
      const writes = (async () => {
        while (writing) {
          await writer.multi().set(`${prefix}a:${pairs}`, '1').set(`${prefix}b:${pairs}`, '1').exec();
          pairs++;
        }
      })();
      await new Promise((resolve) => setImmediate(resolve));
      const deleted = await deleteKeys(raw, prefix);
      writing = false;
      await writes;
      assert.ok(deleted >= 3_000, `deleted ${deleted}`);
      const fillers = Array.from({ length: 3_000 }, (_, i) => `${prefix}filler:${i}`);
      assert.equal(await raw.exists(...fillers), 0);
      const check = raw.pipeline();
      for (let i = 0; i < pairs; i++) check.exists(`${prefix}a:${i}`).exists(`${prefix}b:${i}`);
      const found = (await check.exec())?.map(([, n]) => n) ?? [];
      for (let i = 0; i < pairs; i++) assert.equal(found[2 * i], found[2 * i + 1], `pair ${i} split`);
      assert.equal(await raw.get(sibling), 'kept', 'glob characters in the prefix are literal');
    } finally {
      await raw.del(sibling);
      await cleanup();
      raw.disconnect();
      writer.disconnect();
    }
  });
});

describe('GraphQL result helpers', () => {
  const ok = { body: { data: { login: { token: 't' }, logout: false, me: null } } };
  const failed = { body: { data: null, errors: [{ message: 'no', extensions: { code: 'NOT_FOUND' } }] } };

  test('data returns the data, or one field asserted present', () => {
    assert.deepEqual(data(ok), ok.body.data);
    assert.deepEqual(data(ok, 'login'), { token: 't' });
    assert.equal(data(ok, 'logout'), false, 'false is a value');
    assert.throws(() => data(ok, 'me'), /no me in/);
    assert.throws(() => data(failed), /unexpected errors: .*NOT_FOUND/);
    assert.throws(() => data({ body: {} }), /no data/);
  });

  test("errorCode is the first error's extensions.code", () => {
    assert.equal(errorCode(failed), 'NOT_FOUND');
    assert.equal(errorCode(ok), undefined);
    assert.equal(errorCode({ body: { errors: [{ message: 'x' }] } }), undefined);
  });
});
