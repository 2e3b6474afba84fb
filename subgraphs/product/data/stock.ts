import type { ReleaseReason, Reservation, ReservationLine, ReservationStatus } from '../domain/stock.ts';
import type { Db, Tx } from './products.ts';

// Every stock movement is one conditional UPDATE on the product row: the row lock queues concurrent movements
// of one product, and each re-checks its condition after the one before it commits, so `available` never goes
// below zero (the trigger in the init migration is the backstop, never the mechanism).

/** Postgres `integer`: on hand (available + reserved) must stay within it. */
const INT_MAX = 2_147_483_647;

/**
 * Adds `delta` (negative removes) to a live product's available stock unless that would take it below zero or
 * past the column's range. The new level, or null when refused or when there is no such live product.
 */
export async function adjustAvailable(tx: Tx, productId: bigint, delta: number): Promise<number | null> {
  const rows = await tx.$queryRaw<{ available: number }[]>`
    UPDATE products SET available = available + ${delta}, updated_at = now()
    WHERE id = ${productId} AND deleted_at IS NULL
      AND available::bigint + ${delta} >= 0 AND available::bigint + reserved + ${delta} <= ${INT_MAX}
    RETURNING available`;
  return rows[0]?.available ?? null;
}

/** Moves `quantity` from available to reserved if a live, active product has that much; the new level or null. */
export async function holdStock(tx: Tx, productId: bigint, quantity: number): Promise<number | null> {
  const rows = await tx.$queryRaw<{ available: number }[]>`
    UPDATE products SET available = available - ${quantity}, reserved = reserved + ${quantity}, updated_at = now()
    WHERE id = ${productId} AND available >= ${quantity} AND deleted_at IS NULL AND active
    RETURNING available`;
  return rows[0]?.available ?? null;
}

/** A held quantity goes back on the shelf (the reservation was released); the new level. */
export async function returnHeldStock(tx: Tx, productId: bigint, quantity: number): Promise<number> {
  const rows = await tx.$queryRaw<{ available: number }[]>`
    UPDATE products SET available = available + ${quantity}, reserved = reserved - ${quantity}, updated_at = now()
    WHERE id = ${productId} RETURNING available`;
  const row = rows[0];
  if (!row) throw new Error(`reservation line names product ${productId}, which does not exist`);
  return row.available;
}

/** A held quantity is sold (the reservation was committed): it leaves `reserved`; `available` is unchanged. */
export async function consumeHeldStock(tx: Tx, productId: bigint, quantity: number): Promise<void> {
  await tx.$executeRaw`UPDATE products SET reserved = reserved - ${quantity} WHERE id = ${productId}`;
}

/**
 * Sold units come back (a refund returned them): they rejoin `available` unless on hand would pass the column's
 * range. The new level, or null when refused or when there is no such product (deleted ones take them back too).
 */
export async function returnSoldStock(tx: Tx, productId: bigint, quantity: number): Promise<number | null> {
  const rows = await tx.$queryRaw<{ available: number }[]>`
    UPDATE products SET available = available + ${quantity}, updated_at = now()
    WHERE id = ${productId} AND available::bigint + reserved + ${quantity} <= ${INT_MAX}
    RETURNING available`;
  return rows[0]?.available ?? null;
}

/** What can be bought of each product now (absent: deleted, inactive or unknown): a read, no lock. */
export async function availableToBuy(db: Db, productIds: readonly bigint[]): Promise<Map<bigint, number>> {
  const rows = await db.product.findMany({
    where: { id: { in: [...productIds] }, deletedAt: null, active: true },
    select: { id: true, available: true },
  });
  return new Map(rows.map((row) => [row.id, row.available]));
}

// ---------- reservations ----------

const RESERVATION = {
  id: true,
  orderId: true,
  status: true,
  expiresAt: true,
  lines: { select: { productId: true, quantity: true }, orderBy: { productId: 'asc' } },
} as const;

export function findReservation(db: Db, orderId: bigint): Promise<Reservation | null> {
  return db.reservation.findUnique({ where: { orderId }, select: RESERVATION });
}

/**
 * Records a reservation unless the order already has one (ON CONFLICT DO NOTHING on order_id): false then. A
 * concurrent insert for the same order waits for the first transaction and sees its row once it commits.
 */
export async function insertReservationIfAbsent(
  tx: Tx,
  row: { id: bigint; orderId: bigint; status: ReservationStatus; expiresAt: Date; reason: string | null },
): Promise<boolean> {
  const { count } = await tx.reservation.createMany({ data: [row], skipDuplicates: true });
  return count === 1;
}

/** The lines of a reservation, once every product in them has been found and held. */
export async function insertReservationLines(
  tx: Tx,
  reservationId: bigint,
  lines: readonly ReservationLine[],
): Promise<void> {
  await tx.reservationLine.createMany({ data: lines.map((line) => ({ ...line, reservationId })) });
}

/**
 * `from` → `to`, only if still `from`: the whole exactly-once guard of commit, release and expiry (from HELD)
 * and of a refund's return (from COMMITTED). The row lock makes a concurrent transition wait and then find the
 * reservation moved on. The reservation as it is now, with `changed` telling whether this call moved it.
 */
export async function moveReservation(
  tx: Tx,
  orderId: bigint,
  from: ReservationStatus,
  to: ReservationStatus,
  reason: ReleaseReason | null,
): Promise<{ reservation: Reservation | null; changed: boolean }> {
  const { count } = await tx.reservation.updateMany({
    where: { orderId, status: from },
    data: { status: to, reason },
  });
  return { reservation: await findReservation(tx, orderId), changed: count === 1 };
}

/** The order id of one HELD reservation whose lease has passed, locked; one another sweeper holds is skipped. */
export async function lockOneExpired(tx: Tx, now: Date): Promise<bigint | null> {
  const rows = await tx.$queryRaw<{ order_id: bigint }[]>`
    SELECT order_id FROM reservations WHERE status = 'HELD' AND expires_at <= ${now}
    ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED`;
  return rows[0]?.order_id ?? null;
}
