/**
 * Recognises "that row already exists" however it surfaced, so a service can turn a lost race on a unique
 * index into CONFLICT (user: a taken email; product: a taken SKU; payment: a replayed idempotency key).
 * Structural checks only: no Prisma import, so it works for every subgraph's generated client.
 */

const PG_UNIQUE_VIOLATION = '23505';

/** What Prisma 7's pg adapter attaches as `meta.driverAdapterError.cause`. */
interface AdapterCause {
  readonly originalCode?: unknown;
  readonly constraint?: { readonly index?: unknown; readonly fields?: unknown };
  readonly table?: unknown;
}

interface Violation {
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  /** Column names, when the error names them. */
  readonly fields: readonly string[] | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const asStrings = (value: unknown): readonly string[] | undefined =>
  Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;

function violationOf(err: unknown): Violation | null {
  if (!isObject(err)) return null;
  // Raw node-postgres: `detail` reads "Key (email)=(a@b.c) already exists."
  if (err['code'] === PG_UNIQUE_VIOLATION) {
    const fields = asString(err['detail'])
      ?.match(/^Key \(([^)]+)\)=/)?.[1]
      ?.split(', ');
    return { constraint: asString(err['constraint']), table: asString(err['table']), fields };
  }
  // Prisma: P2002 from a model query; a raw query ($executeRaw) fails with P2010 and the same adapter cause.
  if (err['code'] !== 'P2002' && err['code'] !== 'P2010') return null;
  const meta = isObject(err['meta']) ? err['meta'] : {};
  const adapter = isObject(meta['driverAdapterError']) ? meta['driverAdapterError'] : {};
  const cause: AdapterCause = isObject(adapter['cause']) ? adapter['cause'] : {};
  if (err['code'] === 'P2010' && cause.originalCode !== PG_UNIQUE_VIOLATION) return null;
  return {
    constraint: asString(cause.constraint?.index),
    table: asString(cause.table),
    // Older engines (and the adapter, when Postgres names no constraint) put the columns in `target`.
    fields: asStrings(cause.constraint?.fields) ?? asStrings(meta['target']),
  };
}

/**
 * True when `err` is a unique violation: Prisma P2002 (or a raw query's P2010 wrapping SQLSTATE 23505) or a
 * node-postgres 23505.
 * @param target narrows it to one index: its constraint name (`users_email_key`), or its columns (`['email']`),
 *   matched against the columns the error names, else against Prisma's `<table>_<columns>_key` index naming.
 */
export function isUniqueViolation(err: unknown, target?: string | readonly string[]): boolean {
  const violation = violationOf(err);
  if (!violation) return false;
  if (target === undefined) return true;
  if (typeof target === 'string') return violation.constraint === target;
  if (violation.fields) return violation.fields.join() === target.join();
  return violation.table !== undefined && violation.constraint === `${violation.table}_${target.join('_')}_key`;
}
