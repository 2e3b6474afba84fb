import type { ReleaseReason, Reservation, ReservationStatus } from '../domain/stock.ts';
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

/**
 * What can be bought of each product now (absent: deleted, inactive or unknown): a read, no lock. Raw: it runs
 * before every reservation, and a model call's query building costs more CPU than this statement.
 */
export async function availableToBuy(db: Db, productIds: readonly bigint[]): Promise<Map<bigint, number>> {
  const rows = await db.$queryRaw<{ id: bigint; available: number }[]>`
    SELECT id, available FROM products
    WHERE id = ANY(${[...productIds]}::bigint[]) AND deleted_at IS NULL AND active`;
  return new Map(rows.map((row) => [row.id, row.available]));
}

/** The `stock` (available units) of each of `productIds` that exists, deleted and inactive ones included. */
export async function levelsOf(db: Db, productIds: readonly bigint[]): Promise<{ id: bigint; stock: number }[]> {
  return db.$queryRaw<{ id: bigint; stock: number }[]>`
    SELECT id, available AS stock FROM products WHERE id = ANY(${[...productIds]}::bigint[])`;
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

/** What `reserveLines` did: nothing (the order already has a reservation), or which lines it held. */
export type HoldOutcome =
  | { readonly recorded: false }
  | {
      readonly recorded: true;
      /** The new level of each product whose line was held. */
      readonly held: ReadonlyMap<bigint, number>;
      /** What could be bought of each line's product before this statement (0 when deleted or inactive). */
      readonly before: ReadonlyMap<bigint, number>;
    };

/**
 * Records a new HELD reservation with its lines and moves each line's quantity from available to reserved, in
 * one statement: one round trip while the products' row locks are held, where recording and holding apart took
 * two. Nothing is written when the order already has a reservation (ON CONFLICT DO NOTHING on order_id; a
 * concurrent insert for the same order waits for the first transaction and then finds its row): the products are
 * then neither locked nor touched. Otherwise:
 * - the rows are locked in product id order first (the locking CTE sorts before it locks), so two reservations
 *   sharing products never deadlock; the lock is NO KEY UPDATE, the one the UPDATE itself takes: a plain FOR
 *   UPDATE would conflict with the KEY SHARE locks the line inserts' foreign key checks take (at the end of each
 *   reservation's statement, after its own locks) and deadlock concurrent reservations;
 * - the UPDATE is the guard: it re-checks `available` on the row as the previous lock holder left it, so stock
 *   never goes below zero, and holds only live, active products;
 * - a line missing from `held` is short, and the caller rolls the transaction back (header and lines with it).
 * `before` is read from the locked row, so it is what the last holder left, as a read after the refusal shows.
 */
export async function reserveLines(tx: Tx, reservation: Reservation): Promise<HoldOutcome> {
  const { id, orderId, expiresAt, lines } = reservation;
  const productIds = lines.map((line) => line.productId);
  const quantities = lines.map((line) => line.quantity);
  const rows = await tx.$queryRaw<
    { recorded: number; id: bigint | null; held: number | null; before: number | null }[]
  >`
    WITH header AS (
      INSERT INTO reservations (id, order_id, status, expires_at, reason, created_at, updated_at)
      VALUES (${id}, ${orderId}, 'HELD', ${expiresAt}, NULL, now(), now())
      ON CONFLICT DO NOTHING RETURNING id),
    written AS (
      INSERT INTO reservation_lines (reservation_id, product_id, quantity)
      SELECT header.id, l.product_id, l.quantity FROM header,
        unnest(${productIds}::bigint[], ${quantities}::int[]) AS l(product_id, quantity)),
    wanted AS MATERIALIZED (
      SELECT p.id, w.quantity,
        CASE WHEN p.deleted_at IS NULL AND p.active THEN p.available ELSE 0 END AS before
      FROM products p
      JOIN unnest(${productIds}::bigint[], ${quantities}::int[]) AS w(id, quantity) ON w.id = p.id
      WHERE EXISTS (SELECT FROM header)
      ORDER BY p.id FOR NO KEY UPDATE OF p),
    held AS (
      UPDATE products p SET available = p.available - w.quantity, reserved = p.reserved + w.quantity, updated_at = now()
      FROM wanted w
      WHERE p.id = w.id AND p.available >= w.quantity AND p.deleted_at IS NULL AND p.active
      RETURNING p.id, p.available)
    SELECT r.recorded, w.id, held.available AS held, w.before
    FROM (SELECT count(*)::int AS recorded FROM header) r
    LEFT JOIN (wanted w LEFT JOIN held ON held.id = w.id) ON true`;
  if (rows[0]?.recorded !== 1) return { recorded: false };
  const held = new Map<bigint, number>();
  const before = new Map<bigint, number>();
  for (const row of rows) {
    if (row.id === null) continue;
    if (row.held !== null) held.set(row.id, row.held);
    before.set(row.id, row.before ?? 0);
  }
  return { recorded: true, held, before };
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
