import { z } from 'zod';
import { Id, StockLine } from './common.ts';

const Lines = z.array(StockLine).min(1);

/** Why a product's available stock moved (RETURNED: sold units back on the shelf after a refund). */
export const StockChangeReason = z.enum(['CREATED', 'ADJUSTED', 'RESERVED', 'RELEASED', 'EXPIRED', 'RETURNED']);

// A product's level after a change: what stock.changed/low/out all carry, so a consumer can resync from any one.
const Level = { productId: Id, available: z.number().int().min(0) };

export const stockEvents = {
  'stock.reserved': {
    topic: 'stock.events',
    version: 1,
    data: z.object({ reservationId: Id, orderId: Id.optional(), items: Lines }),
  },
  'stock.released': {
    topic: 'stock.events',
    version: 1,
    data: z.object({ reservationId: Id, orderId: Id.optional(), reason: z.string(), items: Lines }),
  },
  'stock.committed': {
    topic: 'stock.events',
    version: 1,
    data: z.object({ reservationId: Id, orderId: Id, items: Lines }),
  },
  'stock.adjusted': {
    topic: 'stock.events',
    version: 1,
    // available is the level after the change, so a consumer can resync without summing deltas.
    data: z.object({ productId: Id, delta: z.number().int(), available: z.number().int().min(0), reason: z.string() }),
  },
  // Every change of a product's available stock (what shoppers see as `stock`).
  'stock.changed': {
    topic: 'stock.events',
    version: 1,
    data: z.object({ ...Level, delta: z.number().int(), reason: StockChangeReason }),
  },
  // The level fell to the low-stock threshold or below (still above zero): once per crossing, not per sale.
  'stock.low': {
    topic: 'stock.events',
    version: 1,
    data: z.object({ ...Level, threshold: z.number().int().min(0) }),
  },
  // The level reached zero: sold out until stock is added or a reservation is released.
  'stock.out': {
    topic: 'stock.events',
    version: 1,
    data: z.object(Level),
  },
} as const;
