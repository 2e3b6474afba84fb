import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { generateAll } from '../../../scripts/prisma-generate.ts';
import { createPrismaClient, dropDatabase, migrateDatabase, statementNames, withTransaction } from '../src/db/index.ts';
import { isRetryableTransactionError } from '../src/db/transaction.ts';
import { isUniqueViolation } from '../src/db/unique-violation.ts';
import { SnowflakeGenerator } from '../src/ids/index.ts';
import { fixtureSchemaDir, uniqueDatabaseUrl } from './fixtures/db.ts';

const url = uniqueDatabaseUrl('prisma');
const ids = new SnowflakeGenerator({ workerId: 1 });

// Generated on demand so the file runs on its own; `npm run lint` generates it before type-checking.
await generateAll({ schemaDirs: [fixtureSchemaDir('shop')] });
const { PrismaClient } = await import('./fixtures/generated/shop/client.ts');

const warnings: string[] = [];
const logger = {
  info: () => {},
  warn: (_obj: object, msg: string) => void warnings.push(msg),
  error: (_obj: object, msg: string) => void warnings.push(msg),
};
const prisma = createPrismaClient(PrismaClient, { url, poolSize: 3, logger, applicationName: 'mall-prisma-test' });

before(async () => {
  await migrateDatabase({ databaseUrl: url, migrationsDir: join(fixtureSchemaDir('shop'), 'migrations') });
});

after(async () => {
  await prisma.$disconnect();
  await dropDatabase(url);
});

/** A promise and its resolver, to line two transactions up without sleeping. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('createPrismaClient', () => {
  test('reads and writes through the pg adapter with bigint ids', async () => {
    const id = ids.next();
    await prisma.widget.create({ data: { id, name: 'anvil', priceCents: 1999, stock: 3 } });
    const found = await prisma.widget.findUniqueOrThrow({ where: { id } });
    assert.equal(found.id, id);
    assert.equal(found.priceCents, 1999);
  });

  test('never opens more connections than poolSize', async () => {
    // Twelve overlapping queries (the sleep only keeps them overlapping) on a pool of three.
    await Promise.all(Array.from({ length: 12 }, () => prisma.$queryRaw`SELECT pg_sleep(0.05)::text`));
    const [row] = await prisma.$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'mall-prisma-test' AND datname = current_database()`;
    assert.ok(row && row.n >= 1n && row.n <= 3n, `expected 1..3 connections, saw ${row?.n}`);
  });
});

describe('prepared statements', () => {
  /** The statements prepared on the one connection of a pool of one, after running `sql` three times there. */
  async function preparedAfter(statementCache: boolean, sql: string): Promise<string[]> {
    const client = createPrismaClient(PrismaClient, { url, poolSize: 1, statementCache });
    try {
      for (let i = 0; i < 3; i++) await client.$queryRawUnsafe(sql, i);
      const rows = await client.$queryRaw<{ statement: string }[]>`SELECT statement FROM pg_prepared_statements`;
      return rows.map((r) => r.statement);
    } finally {
      await client.$disconnect();
    }
  }

  test('each statement is prepared once per connection and reused; off, none is', async () => {
    const sql = 'SELECT count(*)::int AS n FROM widgets WHERE stock > $1';
    const on = await preparedAfter(true, sql);
    assert.equal(on.filter((s) => s === sql).length, 1, on.join('\n'));
    assert.deepEqual(await preparedAfter(false, sql), []);
  });

  test('a prepared statement still runs after a migration changed its table', async () => {
    const client = createPrismaClient(PrismaClient, { url, poolSize: 1 });
    try {
      const id = ids.next();
      await client.widget.create({ data: { id, name: `migrated-${id}`, stock: 1 } });
      const read = () => client.widget.findUniqueOrThrow({ where: { id }, select: { name: true, stock: true } });
      for (let i = 0; i < 6; i++) await read(); // past the custom plans: the plan is cached now
      await client.$executeRawUnsafe('ALTER TABLE widgets ADD COLUMN IF NOT EXISTS colour TEXT');
      assert.deepEqual(await read(), { name: `migrated-${id}`, stock: 1 });
    } finally {
      await client.$executeRawUnsafe('ALTER TABLE widgets DROP COLUMN IF EXISTS colour');
      await client.$disconnect();
    }
  });

  test('names are stable digests of the text; past the cap a statement runs unnamed', () => {
    const name = statementNames(2);
    const a = name({ sql: 'SELECT 1' });
    assert.match(a, /^mall_[\w-]{27}$/);
    assert.equal(name({ sql: 'SELECT 1' }), a);
    assert.equal(statementNames(2)({ sql: 'SELECT 1' }), a, 'the same name in another process or pool');
    assert.notEqual(name({ sql: 'SELECT 2' }), a);
    assert.equal(name({ sql: 'SELECT 3' }), undefined);
    assert.equal(name({ sql: 'SELECT 1' }), a, 'a named statement keeps its name past the cap');
  });
});

describe('withTransaction', () => {
  test('retries a serialization conflict and both writers win', async () => {
    const id = ids.next();
    await prisma.widget.create({ data: { id, name: `contended-${id}`, stock: 0 } });
    const bothRead = [gate(), gate()];
    const attempts = [0, 0];

    // Each transaction reads the row, waits until the other has read it too, then writes: under
    // REPEATABLE READ exactly one of them must fail with a serialization error and run again.
    const increment = (me: 0 | 1) =>
      withTransaction(
        prisma,
        async (tx) => {
          attempts[me]! += 1;
          const widget = await tx.widget.findUniqueOrThrow({ where: { id } });
          if (attempts[me] === 1) {
            bothRead[me]!.open();
            await bothRead[1 - me]!.opened;
          }
          await tx.widget.update({ where: { id }, data: { stock: widget.stock + 1 } });
        },
        { isolationLevel: 'RepeatableRead', baseDelayMs: 1 },
      );

    await Promise.all([increment(0), increment(1)]);
    const widget = await prisma.widget.findUniqueOrThrow({ where: { id } });
    assert.equal(widget.stock, 2);
    assert.deepEqual([...attempts].sort(), [1, 2]);
  });

  test('does not retry other errors', async () => {
    let attempts = 0;
    await assert.rejects(
      withTransaction(prisma, async (tx) => {
        attempts += 1;
        await tx.widget.create({ data: { id: ids.next(), name: 'duplicate-name' } });
        await tx.widget.create({ data: { id: ids.next(), name: 'duplicate-name' } });
      }),
      (error: unknown) => !isRetryableTransactionError(error),
    );
    assert.equal(attempts, 1);
    assert.equal(await prisma.widget.count({ where: { name: 'duplicate-name' } }), 0);
  });

  test('gives up after maxRetries and rethrows the conflict', async () => {
    let attempts = 0;
    const conflict = Object.assign(new Error('write conflict'), { code: 'P2034' });
    await assert.rejects(
      withTransaction(
        prisma,
        async () => {
          attempts += 1;
          throw conflict;
        },
        { maxRetries: 2, baseDelayMs: 1 },
      ),
      conflict,
    );
    assert.equal(attempts, 3);
  });

  test('recognises conflicts as Prisma and pg report them', () => {
    assert.ok(isRetryableTransactionError({ code: 'P2034' }));
    assert.ok(isRetryableTransactionError({ code: '40P01' }));
    assert.ok(isRetryableTransactionError({ cause: { code: '40001' } }));
    assert.ok(
      isRetryableTransactionError({
        code: 'P2010',
        meta: { driverAdapterError: { cause: { originalCode: '40001' } } },
      }),
    );
    assert.ok(!isRetryableTransactionError({ code: 'P2002' }));
    assert.ok(!isRetryableTransactionError(new Error('boom')));
    assert.ok(!isRetryableTransactionError(undefined));
  });
});

describe('isUniqueViolation', () => {
  /** The error `fn` rejects with. */
  async function failure(fn: () => Promise<unknown>): Promise<unknown> {
    try {
      await fn();
    } catch (err) {
      return err;
    }
    assert.fail('expected the statement to fail');
  }

  test('recognises Prisma P2002, a raw query through Prisma and raw pg, by constraint or columns', async () => {
    const name = `unique-${ids.next()}`;
    await prisma.widget.create({ data: { id: ids.next(), name } });
    const fromModel = await failure(() => prisma.widget.create({ data: { id: ids.next(), name } }));
    const fromRaw = await failure(
      () => prisma.$executeRaw`INSERT INTO widgets (id, name) VALUES (${ids.next()}, ${name})`,
    );
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const fromPg = await failure(() =>
      client.query('INSERT INTO widgets (id, name) VALUES ($1, $2)', [ids.next(), name]),
    );
    await client.end();

    for (const [label, err] of Object.entries({ fromModel, fromRaw, fromPg })) {
      assert.ok(isUniqueViolation(err), label);
      assert.ok(isUniqueViolation(err, 'widgets_name_key'), label);
      assert.ok(isUniqueViolation(err, ['name']), label);
      assert.equal(isUniqueViolation(err, 'widgets_pkey'), false, label);
      assert.equal(isUniqueViolation(err, ['id']), false, label);
    }
  });

  test('a duplicate primary key names the pkey; other failures are no unique violation', async () => {
    const id = ids.next();
    await prisma.widget.create({ data: { id, name: `pk-${id}` } });
    const duplicateId = await failure(() => prisma.widget.create({ data: { id, name: `pk2-${id}` } }));
    assert.ok(isUniqueViolation(duplicateId, 'widgets_pkey'));
    assert.equal(isUniqueViolation(duplicateId, 'widgets_name_key'), false);

    const notNull = await failure(() => prisma.$executeRaw`INSERT INTO widgets (id) VALUES (${ids.next()})`);
    assert.equal(isUniqueViolation(notNull), false);
    assert.equal(isUniqueViolation(new Error('duplicate key')), false);
    assert.equal(isUniqueViolation(null), false);
  });
});
