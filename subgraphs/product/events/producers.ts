import type { StockChangeReason } from '@mall/events';
import { createEvent, type EventEnvelope } from '@mall/events';
import type { z } from 'zod';
import type { ReleaseReason, Reservation } from '../domain/stock.ts';
import { stockSignal } from '../domain/stock.ts';

// The stock.events envelopes this subgraph writes to its outbox, always in the transaction of the change they
// describe. Level events are keyed by product id (one product's levels stay in order on one partition);
// reservation events by order id.

export interface StockMovement {
  readonly productId: bigint;
  /** The available level after the movement, and the change that led there. */
  readonly available: number;
  readonly delta: number;
  readonly reason: z.output<typeof StockChangeReason>;
}

/** stock.changed for a movement, plus stock.low or stock.out when it crosses into either. */
export function stockLevelEvents(
  movement: StockMovement,
  lowStockThreshold: number,
  traceId: string,
): EventEnvelope<'stock.changed' | 'stock.low' | 'stock.out'>[] {
  const productId = String(movement.productId);
  const level = { productId, available: movement.available };
  const events: EventEnvelope<'stock.changed' | 'stock.low' | 'stock.out'>[] = [
    createEvent('stock.changed', {
      aggregateId: productId,
      traceId,
      data: { ...level, delta: movement.delta, reason: movement.reason },
    }),
  ];
  const signal = stockSignal(movement.available - movement.delta, movement.available, lowStockThreshold);
  if (signal === 'out') events.push(createEvent('stock.out', { aggregateId: productId, traceId, data: level }));
  if (signal === 'low')
    events.push(
      createEvent('stock.low', { aggregateId: productId, traceId, data: { ...level, threshold: lowStockThreshold } }),
    );
  return events;
}

const items = (reservation: Reservation) =>
  reservation.lines.map((line) => ({ productId: String(line.productId), quantity: line.quantity }));

export function stockReserved(reservation: Reservation, traceId: string): EventEnvelope<'stock.reserved'> {
  return createEvent('stock.reserved', {
    aggregateId: String(reservation.orderId),
    traceId,
    data: { reservationId: String(reservation.id), orderId: String(reservation.orderId), items: items(reservation) },
  });
}

export function stockCommitted(reservation: Reservation, traceId: string): EventEnvelope<'stock.committed'> {
  return createEvent('stock.committed', {
    aggregateId: String(reservation.orderId),
    traceId,
    data: { reservationId: String(reservation.id), orderId: String(reservation.orderId), items: items(reservation) },
  });
}

export function stockReleased(
  reservation: Reservation,
  reason: ReleaseReason,
  traceId: string,
): EventEnvelope<'stock.released'> {
  return createEvent('stock.released', {
    aggregateId: String(reservation.orderId),
    traceId,
    data: {
      reservationId: String(reservation.id),
      orderId: String(reservation.orderId),
      reason,
      items: items(reservation),
    },
  });
}
