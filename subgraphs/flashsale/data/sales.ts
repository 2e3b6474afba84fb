import { money } from '@mall/platform/money';
import type { FlashSale, Purchase, PurchaseStatus, RejectReason } from '../domain/sale.ts';
import type { Prisma, PrismaClient } from './generated/client.ts';

export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

type SaleRow = Prisma.FlashSaleGetPayload<object>;
type PurchaseRow = Prisma.FlashSalePurchaseGetPayload<object>;

const toSale = (row: SaleRow): FlashSale => ({
  id: row.id,
  productId: row.productId,
  productName: row.productName,
  createdBy: row.createdBy,
  price: money(Number(row.priceAmount), row.currency),
  quantity: row.quantity,
  sold: row.sold,
  perUserLimit: row.perUserLimit,
  startsAt: row.startsAt,
  endsAt: row.endsAt,
  settledAt: row.settledAt,
});

const toPurchase = (row: PurchaseRow): Purchase => ({
  id: row.id,
  flashSaleId: row.flashSaleId,
  userId: row.userId,
  quantity: row.quantity,
  status: row.status,
  reason: row.reason as RejectReason | null,
  orderId: row.orderId,
});

export async function insertSale(tx: Tx, sale: FlashSale): Promise<void> {
  await tx.flashSale.create({
    data: {
      id: sale.id,
      productId: sale.productId,
      productName: sale.productName,
      createdBy: sale.createdBy,
      priceAmount: BigInt(sale.price.amount),
      currency: sale.price.currency,
      quantity: sale.quantity,
      perUserLimit: sale.perUserLimit,
      startsAt: sale.startsAt,
      endsAt: sale.endsAt,
    },
  });
}

export async function findSale(db: Db, id: bigint): Promise<FlashSale | null> {
  const row = await db.flashSale.findUnique({ where: { id } });
  return row && toSale(row);
}

/** Sales not yet ended, the soonest to end first (at most `take`). */
export async function listOpen(db: Db, now: Date, take: number): Promise<FlashSale[]> {
  const rows = await db.flashSale.findMany({
    where: { endsAt: { gt: now } },
    orderBy: [{ endsAt: 'asc' }, { id: 'asc' }],
    take,
  });
  return rows.map(toSale);
}

/** The sales to load into Redis at start: every one that has not ended. */
export async function runningOrUpcoming(db: Db, now: Date): Promise<FlashSale[]> {
  return (await db.flashSale.findMany({ where: { endsAt: { gt: now } } })).map(toSale);
}

/** Sales whose window is open now (and not settled): the ones whose Redis grants the sweep looks at. */
export async function running(db: Db, now: Date): Promise<FlashSale[]> {
  const rows = await db.flashSale.findMany({
    where: { startsAt: { lte: now }, endsAt: { gt: now }, settledAt: null },
  });
  return rows.map(toSale);
}

/** Ended sales whose stock the product subgraph has not settled yet. */
export async function endedUnsettledIds(db: Db, now: Date, limit: number): Promise<bigint[]> {
  const rows = await db.flashSale.findMany({
    where: { stockSettledAt: null, endsAt: { lte: now } },
    select: { id: true },
    orderBy: { endsAt: 'asc' },
    take: limit,
  });
  return rows.map((r) => r.id);
}

/** Freezes the sold count of an ended sale (first call only) and returns it as frozen. */
export async function freezeSold(db: Db, saleId: bigint, at: Date): Promise<number> {
  await db.$executeRaw`
    UPDATE "flash_sales" SET "settled_at" = ${at}
    WHERE "id" = ${saleId} AND "settled_at" IS NULL AND "ends_at" <= ${at}`;
  const row = await db.flashSale.findUniqueOrThrow({ where: { id: saleId }, select: { sold: true } });
  return row.sold;
}

export async function markStockSettled(db: Db, saleId: bigint, at: Date): Promise<void> {
  await db.flashSale.updateMany({ where: { id: saleId, stockSettledAt: null }, data: { stockSettledAt: at } });
}

/**
 * The last guard against overselling: counts `quantity` more units only while they fit, in the transaction
 * that records the grant. False when they do not (Redis granted more than the sale has: it lost writes).
 */
export async function takeUnits(tx: Tx, saleId: bigint, quantity: number): Promise<boolean> {
  const changed = await tx.$executeRaw`
    UPDATE "flash_sales" SET "sold" = "sold" + ${quantity}
    WHERE "id" = ${saleId} AND "sold" + ${quantity} <= "quantity" AND "settled_at" IS NULL`;
  return changed === 1;
}

/**
 * Gives a released purchase's units back to the sale's sold count while the sale is not settled: 'SALE'. Once
 * `settled_at` froze the count (it is never cleared again) they stay counted here: 'STOCK', the product's
 * stock takes them. Only the caller's own grant comes back, so sold never goes below 0; it would only for a
 * broken count, which throws (the consumer retries, then dead-letters) rather than guess.
 */
export async function returnUnits(tx: Tx, saleId: bigint, quantity: number): Promise<'SALE' | 'STOCK'> {
  const changed = await tx.$executeRaw`
    UPDATE "flash_sales" SET "sold" = "sold" - ${quantity}
    WHERE "id" = ${saleId} AND "sold" >= ${quantity} AND "settled_at" IS NULL`;
  if (changed === 1) return 'SALE';
  const sale = await tx.flashSale.findUnique({ where: { id: saleId }, select: { settledAt: true, sold: true } });
  if (sale?.settledAt) return 'STOCK';
  throw new Error(`sale ${saleId} cannot take back ${quantity} units (sold ${sale?.sold ?? 'unknown'})`);
}

export interface NewPurchaseRow {
  readonly id: bigint;
  readonly flashSaleId: bigint;
  readonly userId: bigint;
  readonly quantity: number;
  readonly idempotencyKey: string;
  /** PENDING (a grant) unless given: the stranded-grant sweep records RELEASED, taking no unit. */
  readonly status?: Extract<PurchaseStatus, 'PENDING' | 'RELEASED'>;
}

/** Records a grant unless the caller's key already has one (ON CONFLICT DO NOTHING); false then. */
export async function insertPurchaseIfAbsent(tx: Tx, row: NewPurchaseRow): Promise<boolean> {
  const created = await tx.flashSalePurchase.createMany({ data: [row], skipDuplicates: true });
  return created.count === 1;
}

export async function findPurchase(db: Db, id: bigint): Promise<Purchase | null> {
  const row = await db.flashSalePurchase.findUnique({ where: { id } });
  return row && toPurchase(row);
}

export async function findPurchaseByKey(
  db: Db,
  key: { flashSaleId: bigint; userId: bigint; idempotencyKey: string },
): Promise<Purchase | null> {
  // Only the key's own fields: callers pass a grant, and Prisma refuses any other field in a unique where.
  const { flashSaleId, userId, idempotencyKey } = key;
  const row = await db.flashSalePurchase.findUnique({
    where: { flashSaleId_userId_idempotencyKey: { flashSaleId, userId, idempotencyKey } },
  });
  return row && toPurchase(row);
}

/** Status and order of those of `ids` the database has recorded. */
export async function purchaseStates(
  db: Db,
  ids: readonly bigint[],
): Promise<Map<bigint, { status: PurchaseStatus; orderId: bigint | null }>> {
  const rows = await db.flashSalePurchase.findMany({
    where: { id: { in: [...ids] } },
    select: { id: true, status: true, orderId: true },
  });
  return new Map(rows.map((r) => [r.id, { status: r.status, orderId: r.orderId }]));
}

/** Units each user holds in the sale (PENDING or CONFIRMED purchases): the per-user counters to rebuild. */
export async function unitsByUser(db: Db, saleId: bigint): Promise<Map<bigint, number>> {
  const rows = await db.flashSalePurchase.groupBy({
    by: ['userId'],
    where: { flashSaleId: saleId, status: { in: ['PENDING', 'CONFIRMED'] } },
    _sum: { quantity: true },
  });
  return new Map(rows.map((r) => [r.userId, r._sum.quantity ?? 0]));
}

/** Every recorded purchase of the sale with its key: the idempotency records to rebuild. */
export function purchaseKeys(db: Db, saleId: bigint) {
  return db.flashSalePurchase.findMany({
    where: { flashSaleId: saleId },
    select: { id: true, userId: true, idempotencyKey: true, quantity: true },
  });
}

/**
 * Moves a purchase from one status to another (conditional UPDATE); the purchase as it now is, or null when it
 * was not in `from` (a redelivery, or another path got there first).
 */
export async function compareAndSetPurchase(
  tx: Tx,
  id: bigint,
  from: readonly PurchaseStatus[],
  to: { status: PurchaseStatus; orderId?: bigint; reason?: RejectReason },
): Promise<Purchase | null> {
  const changed = await tx.flashSalePurchase.updateMany({
    where: { id, status: { in: [...from] } },
    data: {
      status: to.status,
      ...(to.orderId ? { orderId: to.orderId } : {}),
      ...(to.reason ? { reason: to.reason } : {}),
    },
  });
  return changed.count === 1 ? findPurchase(tx, id) : null;
}
