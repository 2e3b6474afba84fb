import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@mall/platform/errors';
import { badInputFields } from '@mall/platform/testing';
import { type CatalogProduct, parseCheckoutInput, priceCart } from '../domain/checkout.ts';

const product = (id: string, extra: Partial<CatalogProduct> = {}): CatalogProduct => ({
  id,
  name: `Product ${id}`,
  active: true,
  deleted: false,
  price: { amount: 1000, currency: 'CNY' },
  ...extra,
});

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof AppError);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('priceCart', () => {
  test('prices every line at the catalog price, in cart order', () => {
    const lines = [
      { productId: '2', quantity: 3 },
      { productId: '1', quantity: 1 },
    ];
    const priced = priceCart(lines, [product('2', { price: { amount: 250, currency: 'CNY' } }), product('1')]);
    assert.deepEqual(priced, [
      { productId: '2', quantity: 3, unitPriceAmount: 250, currency: 'CNY', name: 'Product 2' },
      { productId: '1', quantity: 1, unitPriceAmount: 1000, currency: 'CNY', name: 'Product 1' },
    ]);
  });

  test('refuses an empty cart, and names every unknown, deleted or inactive product', () => {
    assert.equal(refusal(() => priceCart([], [])).code, 'INVALID_STATE');
    const lines = ['1', '2', '3', '4'].map((productId) => ({ productId, quantity: 1 }));
    const error = refusal(() =>
      priceCart(lines, [product('1'), null, product('3', { deleted: true }), product('4', { active: false })]),
    );
    assert.equal(error.code, 'INVALID_STATE');
    assert.deepEqual(error.extensions['productIds'], ['2', '3', '4']);
  });

  test('refuses a cart mixing currencies (an order has one)', () => {
    const lines = ['1', '2'].map((productId) => ({ productId, quantity: 1 }));
    const error = refusal(() =>
      priceCart(lines, [product('1'), product('2', { price: { amount: 5, currency: 'USD' } })]),
    );
    assert.deepEqual(error.extensions['productIds'], ['2']);
  });
});

describe('parseCheckoutInput', () => {
  const address = { recipient: 'Ada', phone: '1', line1: 'Road 1', city: 'Shanghai', country: 'CN' };

  test('trims the address and turns a blank note into null', () => {
    const parsed = parseCheckoutInput({
      idempotencyKey: 'k',
      shippingAddress: { ...address, city: ' Shanghai ' },
      note: ' ',
    });
    assert.equal(parsed.shippingAddress.city, 'Shanghai');
    assert.equal(parsed.note, null);
  });

  test('names every bad field at once', () => {
    const long = 'x'.repeat(10 * 1024);
    assert.deepEqual(
      badInputFields(() =>
        parseCheckoutInput({
          idempotencyKey: 'k',
          shippingAddress: { ...address, recipient: ' ', line1: long },
          note: long,
        }),
      ),
      ['note', 'shippingAddress.line1', 'shippingAddress.recipient'],
    );
  });
});
