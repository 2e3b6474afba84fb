import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createByIdLoader, createGroupLoader } from '../src/loader.ts';

interface Row {
  readonly id: bigint;
  readonly name: string;
}

/** A fake table that records every batch it is asked for and answers in its own order. */
function table(rows: readonly Row[]) {
  const batches: bigint[][] = [];
  const fetch = async (ids: readonly bigint[]) => {
    batches.push([...ids]);
    return rows.filter((row) => ids.includes(row.id)).reverse();
  };
  return { batches, fetch };
}

const ROWS: Row[] = [
  { id: 119049795682861056n, name: 'a' },
  { id: 119049795682861057n, name: 'b' },
  { id: 3n, name: 'c' },
];

describe('createByIdLoader', () => {
  test('one batch, results in key order, missing ids null, duplicates fetched once', async () => {
    const { batches, fetch } = table(ROWS);
    const loader = createByIdLoader(fetch, (row) => row.id);
    // Fresh bigints, equal by value to the ones in ROWS: the cache must not compare by identity.
    const results = await Promise.all(
      ['3', '404', '119049795682861056', '3', '119049795682861057'].map((id) => loader.load(BigInt(id))),
    );
    assert.deepEqual(
      results.map((row) => row?.name ?? null),
      ['c', null, 'a', 'c', 'b'],
    );
    assert.deepEqual(batches, [[3n, 404n, 119049795682861056n, 119049795682861057n]]);

    assert.equal((await loader.load(3n))?.name, 'c');
    assert.equal(batches.length, 1, 'a repeated load is served from the per-request cache');
  });

  test('batches are cut at maxBatchSize', async () => {
    const { batches, fetch } = table(ROWS);
    const loader = createByIdLoader(fetch, (row) => row.id, { maxBatchSize: 2 });
    await loader.loadMany([1n, 2n, 3n, 4n, 5n]);
    assert.deepEqual(
      batches.map((batch) => batch.length),
      [2, 2, 1],
    );
  });

  test('string keys work the same way', async () => {
    const loader = createByIdLoader(
      async (skus: readonly string[]) => skus.filter((sku) => sku !== 'gone').map((sku) => ({ sku })),
      (row) => row.sku,
    );
    assert.deepEqual(await loader.loadMany(['x', 'gone']), [{ sku: 'x' }, null]);
  });

  test('a failed fetch rejects every key of the batch', async () => {
    const loader = createByIdLoader(
      async (_ids: readonly bigint[]): Promise<{ id: bigint }[]> => {
        throw new Error('db down');
      },
      (row) => row.id,
    );
    const results = await Promise.allSettled([loader.load(1n), loader.load(2n)]);
    assert.deepEqual(
      results.map((r) => r.status === 'rejected' && String(r.reason)),
      ['Error: db down', 'Error: db down'],
    );
  });
});

describe('createGroupLoader', () => {
  test('one batch, each key its rows in fetch order, [] for a key without any', async () => {
    const batches: bigint[][] = [];
    const loader = createGroupLoader(async (keys: readonly bigint[]) => {
      batches.push([...keys]);
      const rows: { key: bigint; value: string }[] = [
        { key: 1n, value: 'a' },
        { key: 2n, value: 'b' },
        { key: 1n, value: 'c' },
      ];
      return rows;
    });
    assert.deepEqual(await Promise.all([loader.load(1n), loader.load(2n), loader.load(3n)]), [['a', 'c'], ['b'], []]);
    assert.deepEqual(batches, [[1n, 2n, 3n]]);
  });
});
