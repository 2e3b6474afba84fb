import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { assertMoneyType, badInputFields } from '@mall/platform/testing';
import {
  createsCycle,
  generatedSlugs,
  mayManage,
  parseCategoryChanges,
  parseNewProduct,
  parseProductChanges,
  slugify,
} from '../domain/catalog.ts';
import { parseListing } from '../domain/listing.ts';
import { parseReservationLines, sameLines, stockSignal } from '../domain/stock.ts';

test('the schema declares Money exactly as the platform does', () => {
  assertMoneyType(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
});

describe('products', () => {
  test('a new product: defaults, images merged, every bad field named at once', () => {
    const product = parseNewProduct({
      name: '  Mug ',
      priceAmount: 1999,
      stock: 3,
      imageUrl: 'https://i.example/a.png',
    });
    assert.deepEqual(product, {
      name: 'Mug',
      description: '',
      price: { amount: 1999, currency: 'CNY' },
      stock: 3,
      categoryIds: [],
      imageUrls: ['https://i.example/a.png'],
      active: true,
    });
    assert.deepEqual(
      badInputFields(() =>
        parseNewProduct({ name: '', priceAmount: -1, stock: 1.5, currency: 'XXX', imageUrl: 'ftp://x/y' }),
      ),
      ['currency', 'imageUrl', 'name', 'priceAmount', 'stock'],
    );
    assert.deepEqual(
      badInputFields(() => parseNewProduct({ name: 'x'.repeat(201), priceAmount: 2 ** 31, stock: 0 })),
      ['name', 'priceAmount'],
    );
  });

  test('changes: absent fields stay, imageUrl null clears the images, currency is checked', () => {
    assert.deepEqual(parseProductChanges({ name: 'New' }), { name: 'New' });
    assert.deepEqual(parseProductChanges({ imageUrl: null }), { imageUrls: [] });
    assert.deepEqual(parseProductChanges({ currency: 'USD', priceAmount: 5 }), { currency: 'USD', priceAmount: 5 });
    assert.deepEqual(
      badInputFields(() => parseProductChanges({ currency: 'ABC' })),
      ['currency'],
    );
  });

  test('only its merchant or an ADMIN manages a product', () => {
    assert.equal(mayManage({ merchantId: 1n }, 1n, false), true);
    assert.equal(mayManage({ merchantId: 1n }, 2n, false), false);
    assert.equal(mayManage({ merchantId: 1n }, 2n, true), true);
  });
});

describe('categories', () => {
  test('slugs come from the name, with a unique fallback, and an id-based one for names without ASCII', () => {
    assert.equal(slugify('Crème Brûlée & Tea!'), 'creme-brulee-tea');
    assert.deepEqual(generatedSlugs('Home', 35n), ['home', 'home-z']);
    assert.deepEqual(generatedSlugs('厨房', 35n), ['c-z', 'c-z']);
    assert.deepEqual(
      badInputFields(() => parseCategoryChanges({ slug: 'Not A Slug' })),
      ['slug'],
    );
  });

  test('a move that puts a category below itself is a cycle; parentId null means root, absent means keep', () => {
    assert.equal(createsCycle(1n, [3n, 2n, 1n]), true);
    assert.equal(createsCycle(1n, [3n, 2n]), false);
    assert.deepEqual(parseCategoryChanges({ parentId: null }), { parentId: null });
    assert.deepEqual(parseCategoryChanges({ name: 'x' }), { name: 'x' });
  });
});

describe('listing', () => {
  test('the sort defaults to relevance when searching; relevance needs a search; bounds are checked', () => {
    assert.equal(parseListing({ search: 'mug' }, null).sort, 'RELEVANCE');
    assert.equal(parseListing({ search: '   ' }, null).sort, 'NEWEST');
    assert.deepEqual(
      badInputFields(() => parseListing(null, 'RELEVANCE')),
      ['sort'],
    );
    assert.deepEqual(
      badInputFields(() => parseListing({ search: 'x'.repeat(1024), minPrice: -1 }, null)),
      ['filter.minPrice', 'filter.search'],
    );
    assert.deepEqual(
      badInputFields(() => parseListing({ minPrice: 5, maxPrice: 4 }, null)),
      ['filter.minPrice'],
    );
  });
});

describe('stock', () => {
  test('reservation lines: merged per product, in id order, each checked', () => {
    const decode = (id: string) => (/^\d+$/.test(id) ? BigInt(id) : null);
    assert.deepEqual(
      parseReservationLines(
        [
          { productId: '9', quantity: 1 },
          { productId: '3', quantity: 2 },
          { productId: '9', quantity: 4 },
        ],
        decode,
      ),
      [
        { productId: 3n, quantity: 2 },
        { productId: 9n, quantity: 5 },
      ],
    );
    assert.deepEqual(
      badInputFields(() => parseReservationLines([{ productId: '1', quantity: 0 }], decode)),
      ['lines.0.quantity'],
    );
    assert.deepEqual(
      badInputFields(() => parseReservationLines([], decode)),
      ['lines'],
    );
    assert.deepEqual(
      badInputFields(() => parseReservationLines([{ productId: 'x', quantity: 1 }], decode)),
      ['lines.0.productId'],
    );
    assert.equal(sameLines([{ productId: 1n, quantity: 2 }], [{ productId: 1n, quantity: 2 }]), true);
    assert.equal(sameLines([{ productId: 1n, quantity: 2 }], [{ productId: 1n, quantity: 3 }]), false);
  });

  test('low and out of stock are announced once per crossing', () => {
    assert.equal(stockSignal(12, 10, 10), 'low');
    assert.equal(stockSignal(10, 9, 10), null);
    assert.equal(stockSignal(3, 0, 10), 'out');
    assert.equal(stockSignal(0, 5, 10), null);
    assert.equal(stockSignal(50, 40, 10), null);
  });
});
