import type { IdempotencyCompanion } from '@mall/platform';
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

// The writes of every checkout are raw statements: a model call's query building and the row it reads back
// (RETURNING every column, the order's JSON included) cost more CPU than the statement itself. Two of them ride
// in the idempotency key's own statements (companions): the attempt is recorded by the key's claim and removed by
// its completion or release, so a checkout's database work is three round trips. `updated_at` is this process's
// clock, as the repair's `startedAt` and `staleBefore` it is compared with are.

/**
 * Records the attempt with the key's claim, only when the claim took the key. Its order has no lines yet (they
 * are priced after the claim): only a PLACING attempt's repair needs them, and `placing` writes them. The claim
 * fails with a unique violation (and claims nothing) when the key already has a checkout in flight.
 */
export const recordWithClaim =
  (attempt: Omit<Attempt, 'stage'>, workerId: number): IdempotencyCompanion =>
  (claimed, bind) =>
    `
    INSERT INTO "checkout_attempts" ("order_id", "scope", "operation", "idempotency_key", "stage", "order", "worker_id", "updated_at")
    SELECT ${bind(attempt.orderId)}::bigint, ${bind(attempt.scope)}, ${bind(attempt.operation)}, ${bind(attempt.idempotencyKey)},
      'RESERVING'::"CheckoutStage", ${bind(JSON.stringify(attempt.order))}::jsonb, ${bind(workerId)}::int, ${bind(new Date())}::timestamptz
    FROM ${claimed}`;

/** The attempt goes with the key's completion or release, whatever that statement found (as it would alone). */
export const removeWithKey =
  (orderId: bigint): IdempotencyCompanion =>
  (_row, bind) =>
    `DELETE FROM "checkout_attempts" WHERE "order_id" = ${bind(orderId)}::bigint`;

/** placeOrder may run from now on: the attempt keeps the whole order (its priced lines) for a repair to finish. */
export async function placing(db: Db, orderId: bigint, order: OrderToPlace): Promise<void> {
  await db.$executeRaw`
    UPDATE "checkout_attempts" SET "stage" = 'PLACING', "order" = ${JSON.stringify(order)}::jsonb, "updated_at" = ${new Date()}
    WHERE "order_id" = ${orderId}`;
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
