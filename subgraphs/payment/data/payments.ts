import { type Currency, money } from '@mall/platform/money';
import type { Payment, PaymentMethod, PaymentStatus, ProviderName, Refund, RefundKind } from '../domain/payment.ts';
import type { Prisma, PrismaClient } from './generated/client.ts';

/** The root client or an interactive transaction's: reads take either, writes that must be atomic take a tx. */
export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

type PaymentRow = Prisma.PaymentGetPayload<object>;

function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    orderId: row.orderId,
    userId: row.userId,
    method: row.method as PaymentMethod,
    provider: row.provider as ProviderName,
    providerReference: row.providerReference,
    checkoutUrl: row.checkoutUrl,
    amount: money(Number(row.amount), row.currency as Currency),
    status: row.status,
    failureReason: row.failureReason,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function findById(db: Db, id: bigint): Promise<Payment | null> {
  const row = await db.payment.findUnique({ where: { id } });
  return row && toPayment(row);
}

export async function findByIds(db: Db, ids: readonly bigint[]): Promise<Payment[]> {
  return (await db.payment.findMany({ where: { id: { in: [...ids] } } })).map(toPayment);
}

export async function findByReference(db: Db, provider: ProviderName, reference: string): Promise<Payment | null> {
  const row = await db.payment.findUnique({
    where: { provider_providerReference: { provider, providerReference: reference } },
  });
  return row && toPayment(row);
}

/** Each order's newest payment (Order.payment), one query for a batch of orders. */
export async function newestForOrders(db: Db, orderIds: readonly bigint[]): Promise<Payment[]> {
  const rows = await db.payment.findMany({
    where: { orderId: { in: [...orderIds] } },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    distinct: ['orderId'],
  });
  return rows.map(toPayment);
}

export interface NewPayment {
  readonly id: bigint;
  readonly orderId: bigint;
  readonly userId: bigint;
  readonly method: PaymentMethod;
  readonly provider: ProviderName;
  readonly providerReference: string;
  readonly checkoutUrl: string | null;
  readonly amount: { readonly amount: number; readonly currency: string };
}

export async function insertPayment(tx: Tx, payment: NewPayment): Promise<void> {
  await tx.payment.create({
    data: {
      id: payment.id,
      orderId: payment.orderId,
      userId: payment.userId,
      method: payment.method,
      provider: payment.provider,
      providerReference: payment.providerReference,
      checkoutUrl: payment.checkoutUrl,
      amount: BigInt(payment.amount.amount),
      currency: payment.amount.currency,
    },
  });
}

/** The state machine's conditional write: false when the payment was no longer `from`. */
export async function compareAndSetStatus(
  tx: Tx,
  id: bigint,
  from: PaymentStatus,
  to: PaymentStatus,
  failureReason: string | null = null,
): Promise<boolean> {
  const { count } = await tx.payment.updateMany({
    where: { id, status: from },
    data: { status: to, ...(failureReason ? { failureReason } : {}) },
  });
  return count === 1;
}

/**
 * Serializes everything that decides whether a success pays its order (the callback, `order.cancelled`) per
 * order, so the late-success check and the cancellation cannot miss each other. Released at commit.
 */
export async function lockOrder(tx: Tx, orderId: bigint): Promise<void> {
  await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1::bigint)', orderId);
}

/**
 * Whether a success for this order must not pay it: the order was cancelled, or another payment of it
 * already succeeded (and paid it, or was refunded with it).
 */
export async function orderSettledElsewhere(tx: Tx, orderId: bigint, paymentId: bigint): Promise<boolean> {
  if (await tx.cancelledOrder.findUnique({ where: { orderId } })) return true;
  const other = await tx.payment.findFirst({
    where: {
      orderId,
      id: { not: paymentId },
      OR: [{ status: 'SUCCEEDED' }, { status: 'REFUNDED', refund: { kind: 'ORDER' } }],
    },
    select: { id: true },
  });
  return other !== null;
}

export async function markOrderCancelled(tx: Tx, orderId: bigint, at: Date): Promise<void> {
  await tx.cancelledOrder.createMany({ data: [{ orderId, cancelledAt: at }], skipDuplicates: true });
}

export async function succeededForOrder(tx: Tx, orderId: bigint): Promise<Payment[]> {
  return (await tx.payment.findMany({ where: { orderId, status: 'SUCCEEDED' } })).map(toPayment);
}

// ---------- callbacks ----------

/** Stores a verified callback; false when (provider, event id) was stored before (a redelivery). */
export async function insertCallback(
  tx: Tx,
  callback: { id: bigint; provider: ProviderName; eventId: string; body: string },
): Promise<boolean> {
  const { count } = await tx.providerCallback.createMany({
    data: [{ ...callback, outcome: 'received' }],
    skipDuplicates: true,
  });
  return count === 1;
}

export async function recordCallbackOutcome(
  tx: Tx,
  provider: ProviderName,
  eventId: string,
  outcome: { outcome: string; paymentId: bigint | null },
): Promise<void> {
  await tx.providerCallback.update({ where: { provider_eventId: { provider, eventId } }, data: outcome });
}

export async function callbackOutcome(db: Db, provider: ProviderName, eventId: string): Promise<string | null> {
  const row = await db.providerCallback.findUnique({ where: { provider_eventId: { provider, eventId } } });
  return row?.outcome ?? null;
}

// ---------- refunds ----------

type RefundRow = Prisma.RefundGetPayload<object>;

const toRefund = (row: RefundRow): Refund => ({
  id: row.id,
  paymentId: row.paymentId,
  amount: money(Number(row.amount), row.currency as Currency),
  reason: row.reason,
  kind: row.kind as RefundKind,
  status: row.status as Refund['status'],
});

/** The payment's refund, created if it has none yet (one full refund per payment). */
export async function ensureRefund(
  tx: Tx,
  refund: { id: bigint; payment: Payment; reason: string | null; kind: RefundKind; actor: string },
): Promise<Refund> {
  const { payment } = refund;
  await tx.refund.createMany({
    data: [
      {
        id: refund.id,
        paymentId: payment.id,
        amount: BigInt(payment.amount.amount),
        currency: payment.amount.currency,
        reason: refund.reason,
        kind: refund.kind,
        actor: refund.actor,
      },
    ],
    skipDuplicates: true,
  });
  return toRefund(await tx.refund.findUniqueOrThrow({ where: { paymentId: payment.id } }));
}

export async function completeRefund(tx: Tx, id: bigint, at: Date): Promise<void> {
  await tx.refund.update({ where: { id }, data: { status: 'SUCCEEDED', completedAt: at } });
}

/** Refunds asked for but not confirmed (a crash, a provider outage): the retry loop finishes them. */
export async function unfinishedRefundPaymentIds(db: Db, limit: number): Promise<bigint[]> {
  const rows = await db.refund.findMany({
    where: { status: 'REQUESTED' },
    orderBy: { createdAt: 'asc' },
    take: limit,
    select: { paymentId: true },
  });
  return rows.map((row) => row.paymentId);
}
