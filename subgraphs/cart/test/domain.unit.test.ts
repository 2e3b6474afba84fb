import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@mall/platform/errors';
import { money } from '@mall/platform/money';
import {
  addedQuantity,
  type Cart,
  type CatalogProduct,
  checkLine,
  checkQuantity,
  checkRoom,
  itemCount,
  orderedQuantities,
  priceCart,
} from '../domain/cart.ts';

const badInput = (e: unknown) => e instanceof AppError && e.code === 'BAD_USER_INPUT';

const product = (id: bigint, amount: number, extra: Partial<CatalogProduct> = {}): CatalogProduct => ({
  id,
  name: `P${id}`,
  price: money(amount),
  active: true,
  deleted: false,
  stock: 10,
  ...extra,
});

const cart = (...lines: [bigint, number][]): Cart => ({
  userId: 1n,
  lines: lines.map(([productId, quantity], i) => ({ productId, quantity, addedAt: new Date(1_000 * i) })),
});

const catalog = (...products: CatalogProduct[]) => new Map(products.map((p) => [p.id, p]));

describe('quantities and limits', () => {
  test('1–99 a line (0 too where it removes); anything else is BAD_USER_INPUT', () => {
    for (const ok of [1, 50, 99]) checkQuantity(ok, false);
    checkQuantity(0, true);
    for (const bad of [0, 100, -1, 1e12, 1.5, Number.NaN]) assert.throws(() => checkQuantity(bad, false), badInput);
    assert.throws(() => checkQuantity(-1, true), badInput);
  });

  test('adding to a line stops at 99; a full cart takes no new line', () => {
    assert.equal(addedQuantity(60, 39), 99);
    assert.throws(() => addedQuantity(60, 40), badInput);
    checkRoom(99);
    assert.throws(() => checkRoom(100), badInput);
  });

  test('ordered quantities add up per product', () => {
    assert.deepEqual(
      orderedQuantities([
        { productId: 1n, quantity: 2 },
        { productId: 2n, quantity: 1 },
        { productId: 1n, quantity: 3 },
      ]),
      new Map([
        [1n, 5],
        [2n, 1],
      ]),
    );
  });
});

describe('pricing', () => {
  test('newest line first, totals from the catalog, unavailable lines out of the subtotal', () => {
    const priced = priceCart(
      cart([1n, 2], [2n, 1], [3n, 4], [4n, 1]),
      catalog(product(1n, 1999), product(2n, 500, { active: false }), product(3n, 100, { deleted: true })),
    );
    // Product 4 is unknown to the catalog: left out.
    assert.deepEqual(
      priced.items.map((i) => [i.productId, i.quantity, i.lineTotal.amount, i.available]),
      [
        [3n, 4, 400, false],
        [2n, 1, 500, false],
        [1n, 2, 3998, true],
      ],
    );
    assert.deepEqual(priced.subtotal, money(3998));
    assert.equal(itemCount(cart([1n, 2], [2n, 1])), 3);
  });

  test("an empty cart totals 0 CNY; a line in another currency than the first one's is unavailable", () => {
    assert.deepEqual(priceCart(cart(), catalog()), { items: [], subtotal: money(0, 'CNY') });
    const priced = priceCart(
      cart([1n, 1], [2n, 1]),
      catalog(product(1n, 700, { price: money(700, 'USD') }), product(2n, 500)),
    );
    assert.deepEqual(priced.subtotal, money(700, 'USD'));
    assert.deepEqual(
      priced.items.map((i) => i.available),
      [false, true],
    );
  });

  test('checkLine refuses unknown, deleted, inactive, other-currency products and totals beyond a GraphQL Int', () => {
    const products = catalog(
      product(1n, 1000),
      product(2n, 1000, { deleted: true }),
      product(3n, 1000, { active: false }),
      product(4n, 1000, { price: money(1000, 'USD') }),
      product(5n, 30_000_000),
    );
    checkLine(cart([1n, 99]), 1n, products);
    for (const id of [2n, 3n, 9n]) assert.throws(() => checkLine(cart([id, 1]), id, products), badInput);
    assert.throws(() => checkLine(cart([1n, 1], [4n, 1]), 4n, products), badInput);
    assert.throws(() => checkLine(cart([5n, 72]), 5n, products), badInput);
    checkLine(cart([5n, 71]), 5n, products);
  });
});
