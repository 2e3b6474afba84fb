import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AnyEvent,
  createEvent,
  EVENTS,
  EventValidationError,
  parseEvent,
  serializeEvent,
  topicOf,
  uuidv7,
} from '../src/index.ts';

const money = (amount: number) => ({ amount, currency: 'CNY' });

describe('createEvent', () => {
  test('builds a typed, valid envelope', () => {
    const event = createEvent('user.deleted', {
      aggregateId: '7200000000000000001',
      data: { userId: '7200000000000000001', deletedAt: '2025-01-01T00:00:00.000Z' },
      traceId: 'req-1',
    });
    assert.equal(event.type, 'user.deleted');
    assert.equal(event.version, EVENTS['user.deleted'].version);
    assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(event.occurredAt)));
    assert.equal(event.traceId, 'req-1');
    assert.equal(event.data.userId, '7200000000000000001');
    assert.equal(topicOf(event.type), 'user.events');
  });

  test('order.created carries items and a total in minor units', () => {
    const event = createEvent('order.created', {
      aggregateId: '42',
      data: {
        orderId: '42',
        orderNumber: '20250101-000001',
        userId: '7',
        items: [{ productId: '9', quantity: 2, unitPrice: money(1999), lineTotal: money(3998) }],
        total: money(3998),
        expiresAt: new Date().toISOString(),
      },
    });
    assert.equal(event.data.total.amount, 3998);
    assert.equal(event.traceId, event.id, 'no request: the event starts its own trace');
  });

  test('rejects bad data with INVALID_DATA', () => {
    const bad = [
      () =>
        createEvent('order.paid', {
          aggregateId: '1',
          data: {
            orderId: '1',
            userId: '2',
            paymentId: '3',
            amount: { amount: 10.5, currency: 'CNY' },
            paidAt: new Date().toISOString(),
          },
        }),
      () =>
        createEvent('order.paid', {
          aggregateId: '1',
          data: {
            orderId: '1',
            userId: '2',
            paymentId: '3',
            amount: { amount: 10, currency: 'yuan' },
            paidAt: new Date().toISOString(),
          },
        }),
      () =>
        createEvent('user.deleted', {
          aggregateId: '1',
          data: { userId: 1 as unknown as string, deletedAt: new Date().toISOString() },
        }),
      () =>
        createEvent('order.cancelled', {
          aggregateId: '1',
          data: {
            orderId: '1',
            userId: '2',
            reason: 'BORED' as 'ADMIN_CANCELLED',
            cancelledAt: new Date().toISOString(),
          },
        }),
    ];
    for (const build of bad) {
      assert.throws(
        build,
        (err: unknown) =>
          err instanceof EventValidationError && err.code === 'INVALID_DATA' && (err.issues?.length ?? 0) > 0,
      );
    }
  });

  test('ids are uuid v7 and sort in creation order', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('parseEvent', () => {
  const valid = createEvent('payment.succeeded', {
    aggregateId: '5',
    data: {
      paymentId: '5',
      orderId: '6',
      amount: money(100),
      provider: 'fake',
      providerRef: 'ref',
      succeededAt: new Date().toISOString(),
    },
    traceId: 'req-2',
  });

  test('round-trips a serialized event from a Buffer or a string and narrows by type', () => {
    const parsed: AnyEvent = parseEvent(Buffer.from(serializeEvent(valid)));
    assert.deepEqual(parsed, valid);
    assert.deepEqual(parseEvent(serializeEvent(valid)), valid);
    if (parsed.type === 'payment.succeeded') assert.equal(parsed.data.amount.amount, 100);
    else assert.fail('type lost');
  });

  const cases: [string, string | Buffer | null, string][] = [
    ['garbage bytes', Buffer.from([0xff, 0x00, 0x13]), 'MALFORMED_JSON'],
    ['null value', null, 'MALFORMED_JSON'],
    ['not an envelope', JSON.stringify({ hello: 'world' }), 'INVALID_ENVELOPE'],
    ['unknown type', JSON.stringify({ ...valid, type: 'payment.teleported' }), 'UNKNOWN_EVENT_TYPE'],
    ['newer version', JSON.stringify({ ...valid, version: 99 }), 'UNSUPPORTED_VERSION'],
    [
      'bad data',
      JSON.stringify({ ...valid, data: { ...valid.data, amount: { amount: -1, currency: 'CNY' } } }),
      'INVALID_DATA',
    ],
    ['bad id', JSON.stringify({ ...valid, id: 'not-an-id' }), 'INVALID_ENVELOPE'],
    ['bad timestamp', JSON.stringify({ ...valid, occurredAt: 'yesterday' }), 'INVALID_ENVELOPE'],
  ];
  for (const [name, raw, code] of cases) {
    test(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => parseEvent(raw),
        (err: unknown) => err instanceof EventValidationError && err.code === code,
      );
    });
  }

  test('accepts a snowflake id', () => {
    const parsed = parseEvent(JSON.stringify({ ...valid, id: '7212345678901234567' }));
    assert.equal(parsed.id, '7212345678901234567');
  });
});
