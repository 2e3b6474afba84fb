/**
 * Idempotency keys (checkout, pay, buyFlashSale): scoped to the caller, kept 24 h, stored in the domain's own
 * database (`prisma/idempotency.prisma`, linked into its schema), so a Redis flush cannot let a retry act twice.
 * The same key with the same input answers the first result; with a different input, CONFLICT.
 *
 * Two ways to use it, both inside the caller's transaction (`tx`):
 * - one transaction (`withIdempotencyKey`): the key, the effect and the result commit together. Concurrent
 *   requests with one key queue on the key's unique index until the first commits, then replay its result;
 *   if it rolls back, the next one runs. N concurrent requests → one effect.
 * - two phases, for a saga whose steps call other services outside any transaction: `claimIdempotencyKey` in a
 *   first transaction, the saga, then `completeIdempotencyKey` (or `releaseIdempotencyKey` when it failed and
 *   may be retried). Meanwhile the same key is `pending` to others (answer CONFLICT or wait, the caller's call);
 *   a claim left pending longer than `pendingTimeoutSeconds` (a crashed instance) may be claimed again.
 *   The caller's own bookkeeping of the saga (a row to repair it from after a crash) can ride in the key's
 *   statements as a `companion`, so it is written and removed with the claim and its end at no extra round trip.
 */
import { createHash } from 'node:crypto';
import { badUserInput, conflict } from './errors.ts';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The part of a Prisma client (root or interactive transaction) the helper uses; every generated one fits. */
export interface IdempotencyTx {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 200;

export interface IdempotencyRequest {
  /** Whose key: `user:<id>` (keys of different callers never collide). */
  readonly scope: string;
  /** Which operation: `checkout`. */
  readonly operation: string;
  /** The client's key, 1–200 characters (BAD_USER_INPUT otherwise). */
  readonly key: string;
  /** The request's input; compared by its canonical JSON (object key order does not matter). */
  readonly input: unknown;
  /** How long the key is kept. Default 24 h. */
  readonly ttlSeconds?: number;
  /** Two-phase use: after how long a claim still pending may be claimed again. Default 60 s. */
  readonly pendingTimeoutSeconds?: number;
}

/**
 * A statement of the caller's that must take effect exactly when the key's statement does: it runs as a
 * data-modifying CTE of that statement, so the two succeed or fail together without a transaction, in one round
 * trip (a companion that fails, e.g. on a unique violation, undoes the claim with it). The function returns the
 * companion's SQL (an INSERT, UPDATE or DELETE); `row` names the CTE holding the key's row when this statement
 * claimed, completed or released it (empty otherwise: `… SELECT … FROM ${row}` makes the companion act only
 * then), and `bind` adds a value and returns its placeholder (cast it: `${bind(id)}::bigint`). The companion sees
 * the snapshot the statement started with, like every CTE, and may not have a WITH of its own that writes
 * (Postgres allows those only at the top level).
 */
export type IdempotencyCompanion = (row: string, bind: (value: unknown) => string) => string;

/** Options of the two-phase calls. */
export interface IdempotencyStatementOptions {
  readonly companion?: IdempotencyCompanion;
}

export type IdempotencyClaim<T extends JsonValue> =
  | { readonly state: 'claimed' }
  | { readonly state: 'completed'; readonly result: T }
  | { readonly state: 'pending' };

/** JSON with object keys sorted at every level, so equal inputs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : typeof v === 'bigint'
        ? v.toString()
        : v,
  );
}

export const requestHash = (input: unknown): string =>
  createHash('sha256')
    .update(canonicalJson(input ?? null))
    .digest('hex');

function checkKey(key: string): void {
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH)
    throw badUserInput('Invalid input: idempotencyKey', [
      { field: 'idempotencyKey', message: `must be 1–${IDEMPOTENCY_KEY_MAX_LENGTH} characters` },
    ]);
}

const keyConflict = () =>
  conflict('This idempotency key was already used with a different input', { field: 'idempotencyKey' });

/**
 * Claims the key for this request, or tells what the first request with it did. CONFLICT when the key was
 * used with a different input. Blocks while another open transaction holds an uncommitted claim of the key.
 */
export async function claimIdempotencyKey<T extends JsonValue>(
  tx: IdempotencyTx,
  request: IdempotencyRequest,
  options: IdempotencyStatementOptions = {},
): Promise<IdempotencyClaim<T>> {
  checkKey(request.key);
  const hash = requestHash(request.input);
  const ids = [request.scope, request.operation, request.key] as const;
  // A new key, an expired one, or a pending claim abandoned by a crashed instance is (re)claimed; any other
  // existing row is left alone (ON CONFLICT's WHERE), and read below.
  const claimed = await tx.$queryRawUnsafe<unknown[]>(
    ...withCompanion(
      'claimed',
      `INSERT INTO "idempotency_keys" ("scope", "operation", "key", "request_hash", "created_at", "expires_at")
       VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5))
       ON CONFLICT ("scope", "operation", "key") DO UPDATE
         SET "request_hash" = EXCLUDED."request_hash", "result" = NULL, "completed_at" = NULL,
             "created_at" = EXCLUDED."created_at", "expires_at" = EXCLUDED."expires_at"
         WHERE "idempotency_keys"."expires_at" <= now()
            OR ("idempotency_keys"."completed_at" IS NULL
                AND "idempotency_keys"."created_at" <= now() - make_interval(secs => $6))
       RETURNING 1`,
      [...ids, hash, request.ttlSeconds ?? IDEMPOTENCY_TTL_SECONDS, request.pendingTimeoutSeconds ?? 60],
      options.companion,
    ),
  );
  if (claimed.length > 0) return { state: 'claimed' };
  const [row] = await tx.$queryRawUnsafe<{ request_hash: string; result: T | null; completed_at: Date | null }[]>(
    `SELECT "request_hash", "result", "completed_at" FROM "idempotency_keys"
     WHERE "scope" = $1 AND "operation" = $2 AND "key" = $3`,
    ...ids,
  );
  // Unreachable unless the row was purged between the two statements: claiming again is then correct.
  if (!row) return claimIdempotencyKey(tx, request, options);
  if (row.request_hash !== hash) throw keyConflict();
  return row.completed_at === null ? { state: 'pending' } : { state: 'completed', result: row.result as T };
}

/**
 * The key's statement (`… RETURNING 1`) as is, or with the companion as a second CTE: the statement's rows are
 * still the key's. Returns the SQL and its values, ready to spread into `$queryRawUnsafe`.
 */
function withCompanion(
  row: string,
  sql: string,
  values: readonly unknown[],
  companion: IdempotencyCompanion | undefined,
): [string, ...unknown[]] {
  if (!companion) return [sql, ...values];
  const all = [...values];
  const bind = (value: unknown) => {
    all.push(value);
    return `$${all.length}`;
  };
  const companionSql = companion(row, bind);
  return [`WITH ${row} AS (${sql}), companion AS (${companionSql}) SELECT 1 FROM ${row}`, ...all];
}

/** Records the result of a claimed key (in the transaction of the effect, or right after a saga). */
export async function completeIdempotencyKey(
  tx: IdempotencyTx,
  request: IdempotencyRequest,
  result: JsonValue,
  options: IdempotencyStatementOptions = {},
): Promise<void> {
  await tx.$queryRawUnsafe(
    ...withCompanion(
      'completed',
      `UPDATE "idempotency_keys" SET "result" = $4::jsonb, "completed_at" = now()
       WHERE "scope" = $1 AND "operation" = $2 AND "key" = $3 AND "request_hash" = $5
       RETURNING 1`,
      [request.scope, request.operation, request.key, JSON.stringify(result), requestHash(request.input)],
      options.companion,
    ),
  );
}

/** Gives up a pending claim (the effect failed and was undone), so a retry with the key runs again. */
export async function releaseIdempotencyKey(
  tx: IdempotencyTx,
  request: IdempotencyRequest,
  options: IdempotencyStatementOptions = {},
): Promise<void> {
  await tx.$queryRawUnsafe(
    ...withCompanion(
      'released',
      `DELETE FROM "idempotency_keys"
       WHERE "scope" = $1 AND "operation" = $2 AND "key" = $3 AND "completed_at" IS NULL
       RETURNING 1`,
      [request.scope, request.operation, request.key],
      options.companion,
    ),
  );
}

/**
 * The one-transaction form: runs `run` once per key and stores what it returns (JSON: ids, not whole rows);
 * a repeat with the same input gets that stored result back with `replayed: true`. Call it inside the
 * transaction that makes the effect, so key and effect commit or roll back together.
 */
export async function withIdempotencyKey<T extends JsonValue>(
  tx: IdempotencyTx,
  request: IdempotencyRequest,
  run: () => Promise<T>,
): Promise<{ readonly result: T; readonly replayed: boolean }> {
  const claim = await claimIdempotencyKey<T>(tx, request);
  if (claim.state === 'completed') return { result: claim.result, replayed: true };
  // Only a two-phase user of the same operation leaves a committed pending claim; mixing the forms is a bug.
  if (claim.state === 'pending') throw conflict('A request with this idempotency key is still in progress');
  const result = await run();
  await completeIdempotencyKey(tx, request, result);
  return { result, replayed: false };
}

/** Deletes up to `limit` expired keys; returns how many. Run it now and then (the order sweep does). */
export async function purgeExpiredIdempotencyKeys(db: IdempotencyTx, limit = 1000): Promise<number> {
  return db.$executeRawUnsafe(
    `DELETE FROM "idempotency_keys" WHERE ctid IN (
       SELECT ctid FROM "idempotency_keys" WHERE "expires_at" <= now() LIMIT $1)`,
    limit,
  );
}
