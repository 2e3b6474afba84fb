import { z } from 'zod';
import { Id, StockLine } from './common.ts';

const Lines = z.array(StockLine).min(1);

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
} as const;
