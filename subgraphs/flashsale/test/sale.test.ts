// The buy request's hand-checked path answers exactly what zod's rules do, and leaves everything else to zod.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '@mall/platform/errors';
import { parseBuyRequest } from '../domain/sale.ts';

const address = { recipient: 'A', phone: '1', line1: 'L', city: 'C', country: 'CN' };

test('a plain buy parses to the same request with or without the zod path', () => {
  assert.deepEqual(parseBuyRequest({ flashSaleId: '42', idempotencyKey: 'k' }), {
    flashSaleId: 42n,
    quantity: 1,
    idempotencyKey: 'k',
    shippingAddress: null,
  });
  assert.deepEqual(
    parseBuyRequest({ flashSaleId: '9223372036854775807', quantity: 100, idempotencyKey: 'x', shippingAddress: null }),
    {
      flashSaleId: 9223372036854775807n,
      quantity: 100,
      idempotencyKey: 'x',
      shippingAddress: null,
    },
  );
  // With an address: zod's path, trimmed and defaulted by the platform's address rules.
  const withAddress = parseBuyRequest({
    flashSaleId: '7',
    quantity: null,
    idempotencyKey: 'k',
    shippingAddress: address,
  });
  assert.equal(withAddress.quantity, 1);
  assert.equal(withAddress.shippingAddress?.line2, null);
});

test('anything off the plain path is BAD_USER_INPUT naming the field, as before', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ flashSaleId: '0', idempotencyKey: 'k' }, 'flashSaleId'],
    [{ flashSaleId: '9223372036854775808', idempotencyKey: 'k' }, 'flashSaleId'],
    [{ flashSaleId: '007', idempotencyKey: 'k' }, 'flashSaleId'],
    [{ flashSaleId: '1', idempotencyKey: '' }, 'idempotencyKey'],
    [{ flashSaleId: '1', idempotencyKey: 'x'.repeat(201) }, 'idempotencyKey'],
    [{ flashSaleId: '1', idempotencyKey: 'k', quantity: 0 }, 'quantity'],
    [{ flashSaleId: '1', idempotencyKey: 'k', quantity: 101 }, 'quantity'],
    [{ flashSaleId: '1', idempotencyKey: 'k', quantity: 1.5 }, 'quantity'],
    [{ flashSaleId: '1', idempotencyKey: 'k', shippingAddress: { ...address, city: ' ' } }, 'shippingAddress.city'],
  ];
  for (const [input, field] of cases) {
    assert.throws(
      () => parseBuyRequest(input),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === 'BAD_USER_INPUT' &&
        (error.extensions['problems'] as { field: string }[]).some((p) => p.field === field),
      JSON.stringify(input),
    );
  }
});
