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

export async function findByIds(db: Db, ids: readonly bigint[]): Promise<Order[]> {
  return (await db.order.findMany({ where: { id: { in: [...ids] } }, include: WITH_DETAILS })).map(toOrder);
}

export async function findById(db: Db, id: bigint): Promise<Order | null> {
  const row = await db.order.findUnique({ where: { id }, include: WITH_DETAILS });
  return row && toOrder(row);
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
 * Inserts the order unless a row with its id or its number exists (ON CONFLICT DO NOTHING): false then, and
 * the caller tells the two apart. Neither aborts the transaction.
 */
export async function insertOrderIfAbsent(tx: Tx, row: NewOrderRow): Promise<boolean> {
  const { order } = row;
  const inserted = await tx.order.createMany({
    data: [
      {
        id: order.id,
        numberDay: row.numberDay,
        numberSerial: row.numberSerial,
        userId: order.userId,
        currency: order.total.currency,
        totalAmount: BigInt(order.total.amount),
        shippingAddress: { ...order.shippingAddress },
        note: order.note,
        flashSalePurchaseId: order.flashSalePurchaseId ?? null,
        expiresAt: row.expiresAt,
        createdAt: row.createdAt,
        updatedAt: row.createdAt,
      },
    ],
    skipDuplicates: true,
  });
  if (inserted.count === 0) return false;
  await tx.orderLine.createMany({
    data: order.lines.map((line, position) => ({
      orderId: order.id,
      position,
      productId: line.productId,
      name: line.name,
      quantity: line.quantity,
      unitPriceAmount: BigInt(line.unitPrice.amount),
      currency: line.unitPrice.currency,
    })),
  });
  return true;
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
