import { type EventEnvelope, type EventType, OUTBOX_CHANNEL, outboxRows } from '@mall/events';
import type { KeysetQuery } from '@mall/platform';
import { type Currency, money } from '@mall/platform/money';
import {
  type Address,
  type NewOrder,
  type Order,
  type OrderStatus,
  orderNumber,
  type StatusChange,
} from '../domain/order.ts';
import type { Prisma, PrismaClient } from './generated/client.ts';

/** The root client or an interactive transaction's: reads take either, writes that must be atomic take a tx. */
export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

const WITH_DETAILS = {
  lines: { orderBy: { position: 'asc' } },
  history: { orderBy: { id: 'asc' } },
} as const satisfies Prisma.OrderInclude;

type OrderRow = Prisma.OrderGetPayload<{ include: typeof WITH_DETAILS }>;

function toOrder(row: OrderRow): Order {
  const currency = row.currency as Currency;
  return {
    id: row.id,
    number: orderNumber(row.numberDay, row.numberSerial),
    userId: row.userId,
    status: row.status,
    total: money(Number(row.totalAmount), currency),
    lines: row.lines.map((line) => ({
      productId: line.productId,
      name: line.name,
      quantity: line.quantity,
      unitPrice: money(Number(line.unitPriceAmount), line.currency),
    })),
    shippingAddress: row.shippingAddress as unknown as Address,
    note: row.note,
    history: row.history.map(
      (change): StatusChange => ({
        id: change.id,
        status: change.status,
        previousStatus: change.previousStatus,
        reason: change.reason,
        actor: change.actor,
        at: change.at,
      }),
    ),
    flashSalePurchaseId: row.flashSalePurchaseId,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** An order row with its lines and history aggregated as JSON (snowflakes and amounts as text: JSON numbers lose them). */
interface DetailedRow {
  id: bigint;
  number_day: number;
  number_serial: number;
  user_id: bigint;
  status: OrderStatus;
  currency: string;
  total_amount: bigint;
  shipping_address: Prisma.JsonValue;
  note: string | null;
  flash_sale_purchase_id: bigint | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
  lines: { product_id: string; name: string; quantity: number; unit_price_amount: string; currency: string }[];
  history: {
    id: string;
    status: OrderStatus;
    previous_status: OrderStatus | null;
    reason: string | null;
    actor: string;
    at: string;
  }[];
}

function fromDetailedRow(row: DetailedRow): Order {
  return {
    id: row.id,
    number: orderNumber(row.number_day, row.number_serial),
    userId: row.user_id,
    status: row.status,
    total: money(Number(row.total_amount), row.currency as Currency),
    lines: row.lines.map((line) => ({
      productId: BigInt(line.product_id),
      name: line.name,
      quantity: line.quantity,
      unitPrice: money(Number(line.unit_price_amount), line.currency),
    })),
    shippingAddress: row.shipping_address as unknown as Address,
    note: row.note,
    history: row.history.map(
      (change): StatusChange => ({
        id: BigInt(change.id),
        status: change.status,
        previousStatus: change.previous_status,
        reason: change.reason,
        actor: change.actor,
        at: new Date(change.at),
      }),
    ),
    flashSalePurchaseId: row.flash_sale_purchase_id,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Orders with their lines (by position) and history (by id), in one statement: the read behind every order
 * entity the router resolves (one per checkout) and every transition, where Prisma's include costs three.
 */
export async function findByIds(db: Db, ids: readonly bigint[]): Promise<Order[]> {
  if (ids.length === 0) return [];
  const rows = await db.$queryRaw<DetailedRow[]>`
    SELECT o.id, o.number_day, o.number_serial, o.user_id, o.status, o.currency, o.total_amount,
      o.shipping_address, o.note, o.flash_sale_purchase_id, o.expires_at, o.created_at, o.updated_at,
      COALESCE((SELECT json_agg(json_build_object(
          'product_id', l.product_id::text, 'name', l.name, 'quantity', l.quantity,
          'unit_price_amount', l.unit_price_amount::text, 'currency', l.currency) ORDER BY l.position)
        FROM order_lines l WHERE l.order_id = o.id), '[]') AS lines,
      COALESCE((SELECT json_agg(json_build_object(
          'id', h.id::text, 'status', h.status, 'previous_status', h.previous_status, 'reason', h.reason,
          'actor', h.actor, 'at', h.at) ORDER BY h.id)
        FROM order_status_changes h WHERE h.order_id = o.id), '[]') AS history
    FROM orders o WHERE o.id = ANY(${[...ids]}::bigint[])`;
  return rows.map(fromDetailedRow);
}

export async function findById(db: Db, id: bigint): Promise<Order | null> {
  return (await findByIds(db, [id]))[0] ?? null;
}

export interface OrderFilter {
  /** Null: every user's (ADMIN). */
  readonly userId: bigint | null;
  readonly status: OrderStatus | null;
}

const whereOf = (filter: OrderFilter): Prisma.OrderWhereInput => ({
  ...(filter.userId !== null ? { userId: filter.userId } : {}),
  ...(filter.status !== null ? { status: filter.status } : {}),
});

/** One page (newest first) with its lines and history: a list shows totals and items without a second query. */
export async function list(db: Db, filter: OrderFilter, page: KeysetQuery<'createdAt', 'date'>): Promise<Order[]> {
  const rows = await db.order.findMany({
    where: { AND: [whereOf(filter), page.where] },
    orderBy: page.orderBy,
    take: page.take,
    include: WITH_DETAILS,
  });
  return rows.map(toOrder);
}

export function count(db: Db, filter: OrderFilter): Promise<number> {
  return db.order.count({ where: whereOf(filter) });
}

/** The highest serial the database holds for the day: the floor under Redis's counter. */
export async function maxSerial(db: Db, day: number): Promise<number> {
  const found = await db.order.aggregate({ where: { numberDay: day }, _max: { numberSerial: true } });
  return found._max.numberSerial ?? 0;
}

export interface NewOrderRow {
  readonly order: NewOrder;
  readonly numberDay: number;
  readonly numberSerial: number;
  readonly expiresAt: Date;
  readonly createdAt: Date;
}

/**
 * Inserts the order with its lines, its first history row and its `order.created` outbox row, in ONE statement
 * (atomic on its own, so no transaction: no BEGIN/COMMIT round trips), unless a row with its id or its number
 * exists (ON CONFLICT DO NOTHING: nothing at all is written then, and the answer is false; the caller tells the
 * two apart). The relay is notified only when the rows were written.
 */
export async function insertOrderIfAbsent(
  db: Db,
  row: NewOrderRow,
  created: StatusChange,
  event: EventEnvelope<EventType>,
): Promise<boolean> {
  const { order } = row;
  const { lines } = order;
  const values: unknown[] = [
    order.id,
    row.numberDay,
    row.numberSerial,
    order.userId,
    created.status,
    order.total.currency,
    BigInt(order.total.amount),
    JSON.stringify(order.shippingAddress),
    order.note,
    order.flashSalePurchaseId ?? null,
    row.expiresAt,
    row.createdAt,
    lines.map((line) => line.productId),
    lines.map((line) => line.name),
    lines.map((line) => line.quantity),
    lines.map((line) => BigInt(line.unitPrice.amount)),
    lines.map((line) => line.unitPrice.currency),
    created.id,
    created.previousStatus,
    created.reason,
    created.actor,
    created.at,
  ];
  const outbox = outboxRows([event], values.length);
  const inserted = await db.$queryRawUnsafe<{ inserted: number }[]>(
    `WITH header AS (
       INSERT INTO orders (id, number_day, number_serial, user_id, status, currency, total_amount, shipping_address,
         note, flash_sale_purchase_id, expires_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::order_status, $6, $7, $8::jsonb, $9, $10, $11, $12, $12)
       ON CONFLICT DO NOTHING RETURNING id),
     written_lines AS (
       INSERT INTO order_lines (order_id, position, product_id, name, quantity, unit_price_amount, currency)
       SELECT header.id, l.position - 1, l.product_id, l.name, l.quantity, l.unit_price_amount, l.currency
       FROM header, unnest($13::bigint[], $14::text[], $15::int[], $16::bigint[], $17::text[])
         WITH ORDINALITY AS l(product_id, name, quantity, unit_price_amount, currency, position)),
     written_history AS (
       INSERT INTO order_status_changes (id, order_id, status, previous_status, reason, actor, at)
       SELECT $18, header.id, $5::order_status, $19::order_status, $20, $21, $22 FROM header),
     written_events AS (
       INSERT INTO "outbox" ("id", "topic", "key", "type", "payload", "headers", "created_at", "available_at")
       SELECT * FROM (VALUES ${outbox.sql}) AS event WHERE EXISTS (SELECT 1 FROM header))
     SELECT count(*)::int AS inserted FROM (SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM header) AS notified`,
    ...values,
    ...outbox.values,
  );
  return inserted[0]?.inserted === 1;
}

export async function insertStatusChange(tx: Tx, orderId: bigint, change: StatusChange): Promise<void> {
  await tx.orderStatusChange.create({ data: { ...change, orderId } });
}

/**
 * The state machine's conditional write: `UPDATE orders SET status = to WHERE id = … AND status = from`.
 * A concurrent change to the row makes it wait, then see the new status and update nothing (false).
 */
export async function compareAndSetStatus(
  tx: Tx,
  id: bigint,
  from: OrderStatus,
  to: OrderStatus,
  at: Date,
): Promise<boolean> {
  const { count } = await tx.order.updateMany({ where: { id, status: from }, data: { status: to, updatedAt: at } });
  return count === 1;
}

/** Unpaid orders past their deadline, oldest deadline first: the sweep's work list. */
export async function findExpiredIds(db: Db, now: Date, limit: number): Promise<bigint[]> {
  const rows = await db.order.findMany({
    where: { status: 'PENDING_PAYMENT', expiresAt: { lte: now } },
    orderBy: { expiresAt: 'asc' },
    take: limit,
    select: { id: true },
  });
  return rows.map((row) => row.id);
}
