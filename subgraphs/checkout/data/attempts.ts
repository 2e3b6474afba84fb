import type { CheckoutStage, Prisma, PrismaClient } from './generated/client.ts';
import type { OrderToPlace } from './peers.ts';

export type Db = PrismaClient | Prisma.TransactionClient;

/** A checkout between its idempotency claim and its end: what a repair needs to finish or undo it. */
export interface Attempt {
  readonly orderId: bigint;
  readonly scope: string;
  readonly operation: string;
  readonly idempotencyKey: string;
  readonly stage: CheckoutStage;
  readonly order: OrderToPlace;
}

// The three writes of every checkout are raw statements: a model call's query building and the row it reads
// back (RETURNING every column, the order's JSON included) cost more CPU than the statement itself. `updated_at`
// is this process's clock, as the repair's `startedAt` and `staleBefore` it is compared with are.

/** Throws a unique violation when the key already has a checkout in flight. */
export async function insert(db: Db, attempt: Omit<Attempt, 'stage'>, workerId: number): Promise<void> {
  await db.$executeRaw`
    INSERT INTO "checkout_attempts" ("order_id", "scope", "operation", "idempotency_key", "stage", "order", "worker_id", "updated_at")
    VALUES (${attempt.orderId}, ${attempt.scope}, ${attempt.operation}, ${attempt.idempotencyKey}, 'RESERVING',
      ${JSON.stringify(attempt.order)}::jsonb, ${workerId}, ${new Date()})`;
}

export async function setStage(db: Db, orderId: bigint, stage: CheckoutStage): Promise<void> {
  await db.$executeRaw`
    UPDATE "checkout_attempts" SET "stage" = ${stage}::"CheckoutStage", "updated_at" = ${new Date()} WHERE "order_id" = ${orderId}`;
}

export async function remove(db: Db, orderId: bigint): Promise<void> {
  await db.$executeRaw`DELETE FROM "checkout_attempts" WHERE "order_id" = ${orderId}`;
}

/**
 * Takes over, for `workerId`, the attempts a crash left: this worker's from before `startedAt` (it restarted,
 * so none of them is still running) and anyone's untouched since `staleBefore` (their instance is gone or
 * stuck). One UPDATE with SKIP LOCKED, so two instances repairing at once never take the same attempt.
 */
export async function takeAbandoned(
  db: Db,
  by: { readonly workerId: number; readonly startedAt: Date; readonly staleBefore: Date; readonly limit: number },
): Promise<Attempt[]> {
  const { workerId, startedAt, staleBefore, limit } = by;
  const rows = await db.$queryRaw<
    {
      order_id: bigint;
      scope: string;
      operation: string;
      idempotency_key: string;
      stage: CheckoutStage;
      order: Prisma.JsonValue;
    }[]
  >`UPDATE "checkout_attempts" SET "worker_id" = ${workerId}, "updated_at" = now()
    WHERE "order_id" IN (
      SELECT "order_id" FROM "checkout_attempts"
      WHERE ("worker_id" = ${workerId} AND "updated_at" < ${startedAt}) OR "updated_at" < ${staleBefore}
      ORDER BY "updated_at" LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING "order_id", "scope", "operation", "idempotency_key", "stage", "order"`;
  return rows.map((r) => ({
    orderId: r.order_id,
    scope: r.scope,
    operation: r.operation,
    idempotencyKey: r.idempotency_key,
    stage: r.stage,
    order: r.order as unknown as OrderToPlace,
  }));
}
