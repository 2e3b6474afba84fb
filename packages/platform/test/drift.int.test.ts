// Migrations and schema must describe the same database: for every prisma/<domain>/, apply its
// migrations to a fresh database and expect Prisma to find nothing left to change. A schema edited
// without `npm run prisma:migration -- <domain> <name>` fails here.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { diffDatabaseToSchema, domainSchemaDirs } from '../../../scripts/lib/prisma-env.ts';
import { dropDatabase, ensureDatabase, migrateDatabase } from '../src/db/index.ts';
import { fixtureSchemaDir, uniqueDatabaseUrl } from './fixtures/db.ts';

const created: string[] = [];
after(async () => {
  await Promise.all(created.map((url) => dropDatabase(url)));
});

/** The SQL still needed after applying `schemaDir`'s migrations to an empty database. */
async function pendingSql(schemaDir: string): Promise<string> {
  const url = uniqueDatabaseUrl(`drift_${basename(schemaDir)}`);
  created.push(url);
  const migrationsDir = join(schemaDir, 'migrations');
  // No migrations yet counts as drift too: the service could not create its tables at start.
  if (existsSync(migrationsDir)) await migrateDatabase({ databaseUrl: url, migrationsDir });
  else await ensureDatabase(url);
  return diffDatabaseToSchema(url, schemaDir);
}

const domains = await domainSchemaDirs();

describe('prisma/<domain> migrations match their schema', { concurrency: true }, () => {
  for (const dir of domains) {
    test(basename(dir), async () => {
      const sql = await pendingSql(dir);
      assert.equal(
        sql,
        '',
        `prisma/${basename(dir)}/schema.prisma is ahead of its migrations; ` +
          `run \`npm run prisma:migration -- ${basename(dir)} <name>\`. Missing SQL:\n${sql}`,
      );
    });
  }
});

describe('the drift check itself', { concurrency: true }, () => {
  test('passes for a schema whose migrations are in step', async () => {
    assert.equal(await pendingSql(fixtureSchemaDir('shop')), '');
  });

  test('reports the missing SQL when the schema moved on without a migration', async () => {
    const sql = await pendingSql(fixtureSchemaDir('drifted'));
    assert.match(sql, /ALTER TABLE "gadgets" ADD COLUMN\s+"color" TEXT/);
  });
});
