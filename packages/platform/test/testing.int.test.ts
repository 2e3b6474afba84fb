import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestDatabase, createTestRedis, data, errorCode, TEST_REDIS_URL } from '../src/testing/index.ts';
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
