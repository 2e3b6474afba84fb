// Keyset pages against a real Postgres table: rows inserted between page reads never make a page repeat or
// skip a row that was there before, in either direction, with ties on the sort column.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateAll } from '../../../scripts/prisma-generate.ts';
import { createPrismaClient } from '../src/db/index.ts';
import { SnowflakeGenerator } from '../src/ids/index.ts';
import { defineKeyset, type Keyset, keysetQuery, type Page, toKeysetPage } from '../src/pagination.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts';
import { fixtureSchemaDir } from './fixtures/db.ts';
import type { Prisma } from './fixtures/generated/shop/client.ts';

await generateAll({ schemaDirs: [fixtureSchemaDir('shop')] });
const { PrismaClient } = await import('./fixtures/generated/shop/client.ts');

let db: TestDatabase;
let prisma: InstanceType<typeof PrismaClient>;
const ids = new SnowflakeGenerator({ workerId: 2 });

before(async () => {
  db = await createTestDatabase('test_keyset', { migrationsDir: join(fixtureSchemaDir('shop'), 'migrations') });
  prisma = createPrismaClient(PrismaClient, { url: db.url, poolSize: 2 });
});
after(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const priceAsc = defineKeyset({ name: 'price', field: 'priceCents', kind: 'int', direction: 'asc' });
const priceDesc = defineKeyset({ name: 'price-desc', field: 'priceCents', kind: 'int', direction: 'desc' });
const newest = defineKeyset({ name: 'newest', field: 'createdAt', kind: 'date', direction: 'desc' });

const T0 = Date.parse('2026-11-01T00:00:00.000Z');
let run = 0;

/** A fresh list (its own name prefix): prices with ties, creation times with ties. */
async function seed(): Promise<{ list: string; add: (price: number, at: number) => Promise<bigint> }> {
  const list = `list${run++}-`;
  const add = async (priceCents: number, at: number) => {
    const id = ids.next();
    await prisma.widget.create({ data: { id, name: `${list}${id}`, priceCents, createdAt: new Date(T0 + at) } });
    return id;
  };
  for (const [price, at] of [
    [300, 5],
    [100, 1],
    [200, 3],
    [100, 1],
    [200, 3],
    [100, 2],
    [300, 5],
    [200, 4],
    [100, 1],
    [400, 6],
    [200, 3],
  ] as const)
    await add(price, at);
  return { list, add };
}

interface Widget {
  readonly id: bigint;
  readonly priceCents: number;
  readonly createdAt: Date;
}

type PriceKeyset = Keyset<'priceCents', 'int'>;
type TimeKeyset = Keyset<'createdAt', 'date'>;

/** One page of the list, the way a subgraph's data layer reads it: its own filter AND the keyset's. */
async function pageOf(keyset: PriceKeyset | TimeKeyset, list: string, after: string | null): Promise<Page<Widget>> {
  const read = async (query: {
    where: Prisma.WidgetWhereInput;
    orderBy: Prisma.WidgetOrderByWithRelationInput[];
    take: number;
  }) =>
    prisma.widget.findMany({
      where: { AND: [{ name: { startsWith: list } }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
  // Narrowed to one concrete keyset per branch, as a subgraph's code always has it.
  if (keyset.field === 'priceCents') {
    const query = keysetQuery(keyset, { first: 3, after });
    return toKeysetPage(keyset, await read(query), query.first);
  }
  const query = keysetQuery(keyset, { first: 3, after });
  return toKeysetPage(keyset, await read(query), query.first);
}

/** Every page of the list, three rows at a time, calling `between` after each page. */
async function readAll(
  keyset: PriceKeyset | TimeKeyset,
  list: string,
  between: () => Promise<void>,
): Promise<Widget[]> {
  const seen: Widget[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 50; pages++) {
    const page: Page<Widget> = await pageOf(keyset, list, cursor);
    seen.push(...page.edges.map((edge) => edge.node));
    if (!page.pageInfo.hasNextPage) return seen;
    cursor = page.pageInfo.endCursor;
    await between();
  }
  assert.fail('paging did not end');
}

const sortValue = (row: Widget, field: 'priceCents' | 'createdAt') =>
  field === 'priceCents' ? row.priceCents : row.createdAt.getTime();

function assertStrictlyOrdered(rows: readonly Widget[], field: 'priceCents' | 'createdAt', sign: 1 | -1): void {
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1] as Widget, rows[i] as Widget];
    const bySort = Math.sign(sortValue(b, field) - sortValue(a, field));
    const byId = b.id > a.id ? 1 : -1;
    assert.equal(bySort === 0 ? byId : bySort, sign, `rows ${i - 1} and ${i} out of order`);
  }
}

describe('keyset pagination on a live table', () => {
  for (const [keyset, sign] of [
    [priceAsc, 1],
    [priceDesc, -1],
  ] as const) {
    test(`${keyset.name}: no row repeats or goes missing while rows are added on both sides of the cursor`, async () => {
      const { list, add } = await seed();
      const before = await prisma.widget.findMany({ where: { name: { startsWith: list } }, select: { id: true } });
      // Each round adds a row that sorts before every row so far (the client has passed it), one that sorts
      // after every row so far (still ahead, so it must show up), and one tying with a middle price. Prices
      // move outwards each round: a newer row with an equal price would sort by its larger id instead.
      const ahead: bigint[] = [];
      let round = 0;
      const seen = await readAll(keyset, list, async () => {
        round++;
        await add(sign === 1 ? 50 - round : 10_000 + round, 0);
        ahead.push(await add(sign === 1 ? 10_000 + round : 50 - round, 0));
        await add(200, 0);
      });
      const seenIds = seen.map((row) => row.id);
      assert.equal(new Set(seenIds).size, seenIds.length, 'a row repeated');
      for (const { id } of before) assert.ok(seenIds.includes(id), `row ${id} was skipped`);
      for (const id of ahead) assert.ok(seenIds.includes(id), `row ${id}, added ahead of the cursor, was skipped`);
      assertStrictlyOrdered(seen, 'priceCents', sign);
    });
  }

  test('newest first: createdAt DESC, id DESC, newer rows added meanwhile do not shift the pages', async () => {
    const { list, add } = await seed();
    const before = await prisma.widget.findMany({ where: { name: { startsWith: list } }, select: { id: true } });
    const seen = await readAll(newest, list, async () => {
      await add(100, 10);
      await add(100, 3); // ties with rows on either side of the cursor, by time
    });
    const seenIds = seen.map((row) => row.id);
    assert.equal(new Set(seenIds).size, seenIds.length, 'a row repeated');
    for (const { id } of before) assert.ok(seenIds.includes(id), `row ${id} was skipped`);
    assertStrictlyOrdered(seen, 'createdAt', -1);
    assert.equal(seen[0]?.createdAt.getTime(), T0 + 6);
  });
});
