import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@mall/platform/errors';
import { numberDay, ORDER_STATUSES, type OrderStatus, orderNumber, parseNewOrder } from '../domain/order.ts';
import { type OrderCommand, orderMachine } from '../domain/state-machine.ts';

const context = { now: new Date('2026-11-24T10:00:00Z'), expiresAt: new Date('2026-11-24T10:15:00Z'), reason: null };

describe('the order state machine', () => {
  test('allows exactly the transitions of the issue and nothing else', () => {
    const allowed: string[] = [];
    for (const command of Object.keys(orderMachine.table) as OrderCommand[])
      for (const status of ORDER_STATUSES as readonly OrderStatus[])
        if (orderMachine.can(command, status))
          allowed.push(`${status} -${command}-> ${orderMachine.plan(command, status, context).to}`);
    assert.deepEqual(allowed.sort(), [
      'PAID -refund-> REFUNDED',
      'PAID -ship-> SHIPPED',
      'PENDING_PAYMENT -cancel-> CANCELLED',
      'PENDING_PAYMENT -pay-> PAID',
      'SHIPPED -complete-> COMPLETED',
    ]);
  });

  test('cancelling a paid order is INVALID_STATE; a TIMEOUT before the deadline is refused', () => {
    assert.throws(
      () => orderMachine.plan('cancel', 'PAID', context),
      (e) => e instanceof AppError && e.code === 'INVALID_STATE' && e.extensions['status'] === 'PAID',
    );
    assert.throws(
      () => orderMachine.plan('cancel', 'PENDING_PAYMENT', { ...context, reason: 'TIMEOUT' }),
      /not expired/,
    );
    const due = { ...context, now: context.expiresAt, reason: 'TIMEOUT' as const };
    assert.equal(orderMachine.plan('cancel', 'PENDING_PAYMENT', due).to, 'CANCELLED');
  });
});

describe('order rules', () => {
  test('numbers are the UTC day and a 6-digit serial, growing a digit past 999,999', () => {
    assert.equal(numberDay(new Date('2026-11-24T23:59:59Z')), 20261124);
    assert.equal(orderNumber(20261124, 42), '20261124000042');
    assert.equal(orderNumber(20261124, 1_000_000), '202611241000000');
  });

  test('a new order is totalled in minor units, with blank optional fields as null', () => {
    const order = parseNewOrder({
      orderId: '100',
      userId: '200',
      lines: [
        { productId: '1', quantity: 3, unitPriceAmount: 333, currency: null, name: ' Cup ' },
        { productId: '2', quantity: 1, unitPriceAmount: 1, name: 'Lid' },
      ],
      shippingAddress: { recipient: 'A', phone: '1', line1: 'L', line2: '  ', city: 'C', country: 'CN' },
    });
    assert.deepEqual(order.total, { amount: 1000, currency: 'CNY' });
    assert.equal(order.lines[0]?.name, 'Cup');
    assert.equal(order.shippingAddress.line2, null);
    assert.equal(order.note, null);
    assert.equal(order.id, 100n);
  });

  test('ids beyond 64 bits are refused', () => {
    assert.throws(
      () => parseNewOrder({ orderId: '9223372036854775808', userId: '1', lines: [], shippingAddress: {} }),
      (e) => e instanceof AppError && e.code === 'BAD_USER_INPUT',
    );
  });
});
