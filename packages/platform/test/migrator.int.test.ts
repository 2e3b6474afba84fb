import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { databaseUrlFor, dropDatabase, ensureDatabase, MigrationError, migrateDatabase } from '../src/db/index.ts';
import { fixtureSchemaDir, uniqueDatabaseUrl } from './fixtures/db.ts';

const shopMigrations = join(fixtureSchemaDir('shop'), 'migrations');
const badMigrations = join(fixtureSchemaDir('bad'), 'migrations');
const SHOP = ['20260101000000_init', '20260102000000_widget_price'];

const created: string[] = [];
const tempDirs: string[] = [];
function freshDatabase(label: string): string {
  const url = uniqueDatabaseUrl(label);
  created.push(url);
  return url;
}
async function copyOfShopMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mall-migrations-'));
  tempDirs.push(dir);
  await cp(shopMigrations, dir, { recursive: true });
  return dir;
}

after(async () => {
  // Each DROP DATABASE waits for a checkpoint; run together, they share it.
  await Promise.all(created.map((url) => dropDatabase(url)));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
  applied_steps_count: number;
}

const rowsOf = (url: string) =>
  query<MigrationRow>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY migration_name, started_at');

describe('migrateDatabase', () => {
  test('creates the database, applies migrations in order and records them the way Prisma does', async () => {
    const url = freshDatabase('apply');
    const result = await migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations });
    assert.deepEqual(result.applied, SHOP);

    const rows = await rowsOf(url);
    assert.deepEqual(
      rows.map((row) => row.migration_name),
      SHOP,
    );
    for (const row of rows) {
      const script = await readFile(join(shopMigrations, row.migration_name, 'migration.sql'));
      assert.equal(row.checksum, createHash('sha256').update(script).digest('hex'));
      assert.match(row.id, /^[0-9a-f-]{36}$/);
      assert.ok(row.finished_at instanceof Date);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.applied_steps_count, 1);
    }
    // The second migration ran after the first: the column it adds exists.
    const columns = await query<{ column_name: string }>(
      url,
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets' ORDER BY column_name`,
    );
    assert.ok(columns.some((column) => column.column_name === 'price_cents'));

    assert.deepEqual((await migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations })).applied, []);
    assert.equal((await rowsOf(url)).length, 2);
  });

  test('instances starting together each see every migration applied exactly once', async () => {
    const url = freshDatabase('race');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations })),
    );
    assert.deepEqual(results.flatMap((result) => result.applied).sort(), SHOP);
    assert.deepEqual(
      (await rowsOf(url)).map((row) => row.migration_name),
      SHOP,
    );
  });

  test('waits for the migration lock and gives up with a clear error after lockTimeoutMs', async () => {
    const url = freshDatabase('lock');
    await ensureDatabase(url);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(72707369)'); // the key Prisma and our migrator share
      await assert.rejects(
        migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations, lockTimeoutMs: 200 }),
        /timed out waiting for the migration lock/,
      );
      const waiting = migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations });
      await holder.query('SELECT pg_advisory_unlock(72707369)');
      assert.deepEqual((await waiting).applied, SHOP);
    } finally {
      await holder.end();
    }
  });

  test('refuses to run when an applied migration was edited, naming it', async () => {
    const url = freshDatabase('edited');
    const dir = await copyOfShopMigrations();
    await migrateDatabase({ databaseUrl: url, migrationsDir: dir });

    const file = join(dir, SHOP[0]!, 'migration.sql');
    const original = await readFile(file, 'utf8');
    // Line endings rewritten by git are not an edit (Prisma accepts them too).
    await writeFile(file, original.replaceAll('\n', '\r\n'));
    assert.deepEqual((await migrateDatabase({ databaseUrl: url, migrationsDir: dir })).applied, []);

    await writeFile(file, original.replace('"stock" INTEGER', '"stock" BIGINT'));
    await assert.rejects(migrateDatabase({ databaseUrl: url, migrationsDir: dir }), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.equal(error.migration, SHOP[0]);
      assert.match(error.message, /20260101000000_init was edited after it was applied/);
      return true;
    });
  });

  test('a failing migration is rolled back whole, recorded as rolled back, and reported', async () => {
    const url = freshDatabase('failing');
    await assert.rejects(migrateDatabase({ databaseUrl: url, migrationsDir: badMigrations }), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.equal(error.migration, '20260102000000_broken');
      assert.match(error.message, /no_such_table/);
      return true;
    });
    const tables = await query<{ tablename: string }>(
      url,
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    );
    assert.deepEqual(
      tables.map((table) => table.tablename),
      ['_prisma_migrations', 'things'],
    );
    const rows = await rowsOf(url);
    const broken = rows.find((row) => row.migration_name === '20260102000000_broken');
    assert.ok(broken?.rolled_back_at instanceof Date);
    assert.equal(broken.finished_at, null);
    assert.match(broken.logs ?? '', /no_such_table/);

    // Nothing was left half-applied, so the next start simply tries again (and fails the same way).
    await assert.rejects(
      migrateDatabase({ databaseUrl: url, migrationsDir: badMigrations }),
      /20260102000000_broken failed/,
    );
  });

  test('refuses to run while a migration is recorded as failed (e.g. by prisma migrate deploy)', async () => {
    const url = freshDatabase('recorded_failed');
    await migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations });
    await query(
      url,
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs) VALUES ($1, 'x', '20260103000000_manual', 'boom')`,
      ['00000000-0000-4000-8000-000000000001'],
    );
    await assert.rejects(
      migrateDatabase({ databaseUrl: url, migrationsDir: shopMigrations }),
      /migration 20260103000000_manual is recorded as failed/,
    );
  });
});

describe('database helpers', () => {
  test('ensureDatabase tolerates concurrent creators; exactly one creates it', async () => {
    const url = freshDatabase('ensure');
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => ensureDatabase(url)));
    assert.equal(outcomes.filter(Boolean).length, 1);
    assert.equal(await ensureDatabase(url), false);
  });

  test('dropDatabase disconnects sessions and tolerates a missing database', async () => {
    const url = freshDatabase('drop');
    await ensureDatabase(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    client.on('error', () => {});
    await dropDatabase(url);
    await dropDatabase(url);
    const name = new URL(url).pathname.slice(1);
    const rows = await query(databaseUrlFor(url, 'postgres'), 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    assert.equal(rows.length, 0);
    await client.end().catch(() => {});
  });

  test('databaseUrlFor swaps only the database', () => {
    assert.equal(
      databaseUrlFor('postgresql://u:p%40ss@db.example:6432/postgres?sslmode=require', 'mall_user'),
      'postgresql://u:p%40ss@db.example:6432/mall_user?sslmode=require',
    );
    assert.equal(databaseUrlFor('postgresql://postgres@127.0.0.1:5432', 'x'), 'postgresql://postgres@127.0.0.1:5432/x');
  });
});
