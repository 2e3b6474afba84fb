import { badUserInput, fromZodIssues } from '@mall/platform/errors';
import { z } from 'zod';
import { STOCK_MAX } from './catalog.ts';

export type ReservationStatus = 'HELD' | 'COMMITTED' | 'RELEASED' | 'RETURNED';

export interface ReservationLine {
  readonly productId: bigint;
  readonly quantity: number;
}

export interface Reservation {
  readonly id: bigint;
  readonly orderId: bigint;
  readonly status: ReservationStatus;
  readonly expiresAt: Date;
  readonly lines: readonly ReservationLine[];
}

/** Why a reservation ended without a sale. */
export type ReleaseReason = 'CANCELLED' | 'EXPIRED';

export const LINES_MAX = 100;

const LinesInput = z
  .array(
    z.object({
      productId: z.string(),
      quantity: z.number().int('must be an integer').min(1, 'must be at least 1').max(STOCK_MAX),
    }),
  )
  .min(1, 'must not be empty')
  .max(LINES_MAX, `at most ${LINES_MAX} lines`);

/**
 * Validated lines with one entry per product (quantities of repeated products added up), in product id order:
 * the order every reservation locks rows in, so two reservations sharing products cannot deadlock.
 */
export function parseReservationLines(
  input: unknown,
  decode: (id: string) => bigint | null,
): readonly ReservationLine[] {
  const parsed = LinesInput.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues.map((i) => ({ ...i, path: ['lines', ...i.path] })));
  const totals = new Map<bigint, number>();
  parsed.data.forEach((line, index) => {
    const id = decode(line.productId);
    if (id === null)
      throw badUserInput('Invalid input: lines: unknown product', [
        { field: `lines.${index}.productId`, message: 'not a product id' },
      ]);
    totals.set(id, (totals.get(id) ?? 0) + line.quantity);
  });
  return [...totals]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
}

/** Whether a repeated reserveStock asks for what the existing reservation holds (then it is a retry). */
export function sameLines(a: readonly ReservationLine[], b: readonly ReservationLine[]): boolean {
  const key = (lines: readonly ReservationLine[]) =>
    lines
      .map((l) => `${l.productId}:${l.quantity}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}

/** What a stock movement should announce beyond stock.changed: crossing into low stock, or running out. */
export type StockSignal = 'low' | 'out' | null;

/**
 * `out` when the level reaches zero; `low` when it falls to the threshold or below from above it. Once per
 * crossing, so a product selling down through its last units does not announce every sale.
 */
export function stockSignal(before: number, after: number, threshold: number): StockSignal {
  if (after >= before) return null;
  if (after === 0) return 'out';
  return after <= threshold && before > threshold ? 'low' : null;
}
