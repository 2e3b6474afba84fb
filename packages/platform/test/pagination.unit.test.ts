import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeCursor,
  decodeKeysetCursor,
  defineKeyset,
  encodeCursor,
  encodeKeysetCursor,
  keysetQuery,
  parseKeysetArgs,
  parsePageArgs,
  toKeysetPage,
  toPage,
} from '../src/pagination.ts';
import { badInputFields } from '../src/testing/index.ts';

describe('pagination', () => {
  test('cursors round-trip and are opaque base64url of the id', () => {
    const id = 119049795682861056n;
    const cursor = encodeCursor(id);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(cursor, 'base64url').toString(), id.toString());
    assert.equal(decodeCursor(cursor), id);
  });

  test('anything but a cursor we made is rejected', () => {
    for (const bad of [
      '',
      'not base64!',
      Buffer.from('abc').toString('base64url'),
      Buffer.from('-1').toString('base64url'),
      Buffer.from('9'.repeat(20)).toString('base64url'),
      `${encodeCursor(5n)}=`,
    ]) {
      assert.equal(decodeCursor(bad), null, bad);
    }
  });

  test('first defaults to 20 and must be 1–100', () => {
    assert.deepEqual(parsePageArgs({}), { first: 20, after: null });
    assert.deepEqual(parsePageArgs({ first: 100, after: encodeCursor(9n) }), { first: 100, after: 9n });
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ first: 101 })),
      ['first'],
    );
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ first: 0 })),
      ['first'],
    );
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ after: 'garbage' })),
      ['after'],
    );
  });

  test('a page reports more only when the extra row came back', () => {
    const rows = [1n, 2n, 3n].map((id) => ({ id }));
    assert.deepEqual(toPage(rows, 2).pageInfo, { hasNextPage: true, endCursor: encodeCursor(2n) });
    assert.deepEqual(toPage(rows, 3).pageInfo, { hasNextPage: false, endCursor: encodeCursor(3n) });
    assert.deepEqual(toPage([], 3).pageInfo, { hasNextPage: false, endCursor: null });
    assert.deepEqual(
      toPage(rows, 2).edges.map((e) => e.node.id),
      [1n, 2n],
    );
  });
});

describe('keyset pagination', () => {
  const newest = defineKeyset({ name: 'newest', field: 'createdAt', kind: 'date', direction: 'desc' });
  const cheapest = defineKeyset({ name: 'price', field: 'price', kind: 'int', direction: 'asc' });
  const dearest = defineKeyset({ name: 'price-desc', field: 'price', kind: 'int', direction: 'desc' });
  const bySku = defineKeyset({ name: 'sku', field: 'sku', kind: 'string', direction: 'asc' });
  const bySeq = defineKeyset({ name: 'seq', field: 'seq', kind: 'bigint', direction: 'asc' });
  const order = { id: 119049795682861056n, createdAt: new Date('2026-11-29T07:00:00.123Z') };

  test('cursors round-trip a typed (sort value, id) and are opaque base64url', () => {
    const cursor = encodeKeysetCursor(newest, order);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeKeysetCursor(newest, cursor), { sort: order.createdAt, id: order.id });
    assert.deepEqual(decodeKeysetCursor(cheapest, encodeKeysetCursor(cheapest, { id: 7n, price: 0 })), {
      sort: 0,
      id: 7n,
    });
    assert.deepEqual(decodeKeysetCursor(bySku, encodeKeysetCursor(bySku, { id: 7n, sku: 'ß "x"' })), {
      sort: 'ß "x"',
      id: 7n,
    });
    assert.deepEqual(decodeKeysetCursor(bySeq, encodeKeysetCursor(bySeq, { id: 7n, seq: 2n ** 62n })), {
      sort: 2n ** 62n,
      id: 7n,
    });
  });

  test("an edited cursor, another order's cursor or an id-only cursor is refused", () => {
    const forge = (parts: unknown) => Buffer.from(JSON.stringify(parts)).toString('base64url');
    const good = encodeKeysetCursor(cheapest, { id: 7n, price: 100 });
    for (const bad of [
      '',
      'not base64!',
      `${good}A`,
      good.slice(0, -2),
      encodeCursor(7n),
      encodeKeysetCursor(dearest, { id: 7n, price: 100 }),
      forge(['price', 100]),
      forge(['price', 1.5, '7']),
      forge(['price', '100', '7']),
      forge(['price', 100, '07']),
      forge(['price', 100, '-7']),
      forge({ 0: 'price', 1: 100, 2: '7' }),
      Buffer.from('[').toString('base64url'),
    ]) {
      assert.equal(decodeKeysetCursor(cheapest, bad), null, bad);
    }
    assert.equal(decodeKeysetCursor(newest, forge(['newest', 'yesterday', '7'])), null);
    assert.equal(decodeKeysetCursor(bySeq, forge(['seq', '1e3', '7'])), null);
    assert.deepEqual(
      badInputFields(() => keysetQuery(dearest, { after: good })),
      ['after'],
    );
    assert.deepEqual(
      badInputFields(() => keysetQuery(cheapest, { first: 500 })),
      ['first'],
    );
  });

  test('parseKeysetArgs gives the position to continue after, for lists that compare (key, id) in SQL', () => {
    assert.deepEqual(parseKeysetArgs(dearest, {}), { first: 20, after: null });
    const after = encodeKeysetCursor(dearest, { id: 7n, price: 100 });
    assert.deepEqual(parseKeysetArgs(dearest, { first: 5, after }), { first: 5, after: { sort: 100, id: 7n } });
    assert.deepEqual(
      badInputFields(() => parseKeysetArgs(cheapest, { after })),
      ['after'],
    );
  });

  test('the Prisma arguments: rows strictly after the cursor, in the keyset direction, id breaking ties', () => {
    assert.deepEqual(keysetQuery(cheapest, {}), {
      first: 20,
      where: {},
      orderBy: [{ price: 'asc' }, { id: 'asc' }],
      take: 21,
    });
    const after = encodeKeysetCursor(cheapest, { id: 7n, price: 100 });
    assert.deepEqual(keysetQuery(cheapest, { first: 2, after }), {
      first: 2,
      where: { OR: [{ price: { gt: 100 } }, { price: 100, id: { gt: 7n } }] },
      orderBy: [{ price: 'asc' }, { id: 'asc' }],
      take: 3,
    });
    assert.deepEqual(keysetQuery(newest, { after: encodeKeysetCursor(newest, order) }).where, {
      OR: [{ createdAt: { lt: order.createdAt } }, { createdAt: order.createdAt, id: { lt: order.id } }],
    });
  });

  test("a keyset page's cursors are that keyset's, and it has more only when the extra row came back", () => {
    const rows = [
      { id: 3n, price: 100 },
      { id: 9n, price: 100 },
      { id: 4n, price: 250 },
    ];
    const page = toKeysetPage(cheapest, rows, 2);
    assert.deepEqual(
      page.edges.map((edge) => decodeKeysetCursor(cheapest, edge.cursor)),
      [
        { sort: 100, id: 3n },
        { sort: 100, id: 9n },
      ],
    );
    assert.deepEqual(page.pageInfo, { hasNextPage: true, endCursor: page.edges[1]?.cursor });
    assert.equal(toKeysetPage(cheapest, rows, 3).pageInfo.hasNextPage, false);
    assert.deepEqual(toKeysetPage(cheapest, [], 3).pageInfo, { hasNextPage: false, endCursor: null });
  });
});
