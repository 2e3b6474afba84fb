/**
 * Relay connections for every list in the API: `first` (default 20, max 100), opaque `after` cursors, keyset
 * pages. Two flavours: by id ascending (`parsePageArgs`/`toPage`: user's `users`), and by another column in
 * either direction with the id breaking ties (`defineKeyset`: newest orders first, products by price).
 * Pure (`@mall/platform/pagination`): it builds Prisma arguments but never imports Prisma.
 */
import { z } from 'zod';
import { badUserInput, fromZodIssues } from './errors.ts';
import { decodeId, encodeId } from './ids/snowflake.ts';

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

export interface PageArgs {
  readonly first: number;
  /** Exclusive lower bound of the keyset (the last id the client saw). */
  readonly after: bigint | null;
}

const Args = z.object({
  first: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(PAGE_SIZE_MAX, `must be at most ${PAGE_SIZE_MAX}`)
    .nullish()
    .transform((n) => n ?? PAGE_SIZE_DEFAULT),
  after: z.string().nullish(),
});

// Cursors are opaque to clients but simply the row's id: keyset pagination on the primary key needs no state.
export const encodeCursor = (id: bigint): string => Buffer.from(encodeId(id), 'utf8').toString('base64url');

export function decodeCursor(cursor: string): bigint | null {
  // Canonical base64url only, so one position has exactly one cursor.
  if (!/^[A-Za-z0-9_-]{1,28}$/.test(cursor)) return null;
  const id = decodeId(Buffer.from(cursor, 'base64url').toString('utf8'));
  return id !== null && encodeCursor(id) === cursor ? id : null;
}

/** Validates `first`/`after`; BAD_USER_INPUT names the offending argument. */
export function parsePageArgs(input: PageInput): PageArgs {
  return parseArgs(input, decodeCursor);
}

/** What a connection field receives from GraphQL. */
export interface PageInput {
  readonly first?: number | null;
  readonly after?: string | null;
}

function parseArgs<C>(input: PageInput, decode: (cursor: string) => C | null): { first: number; after: C | null } {
  const parsed = Args.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues);
  const { first, after } = parsed.data;
  if (after == null) return { first, after: null };
  const position = decode(after);
  if (position === null)
    throw badUserInput('Invalid input: after: not a cursor from this list', [
      { field: 'after', message: 'not a cursor from this list' },
    ]);
  return { first, after: position };
}

export interface Page<T> {
  readonly edges: { readonly cursor: string; readonly node: T }[];
  readonly pageInfo: { readonly hasNextPage: boolean; readonly endCursor: string | null };
}

/** Builds a page from up to `first + 1` rows fetched in key order: the extra row only says that more exist. */
export function toPage<T extends { readonly id: bigint }>(rows: readonly T[], first: number): Page<T> {
  return buildPage(rows, first, (row) => encodeCursor(row.id));
}

function buildPage<T>(rows: readonly T[], first: number, cursorOf: (row: T) => string): Page<T> {
  const edges = rows.slice(0, first).map((node) => ({ cursor: cursorOf(node), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}

// ---------- keyset on (sort column, id) ----------

/** The column types a keyset can sort on, and how each travels inside a cursor. */
interface SortKinds {
  readonly int: number;
  readonly bigint: bigint;
  readonly string: string;
  readonly date: Date;
}
export type SortKind = keyof SortKinds;
export type SortDirection = 'asc' | 'desc';

/**
 * One sort order of one list, e.g. `defineKeyset({ name: 'newest', field: 'createdAt', kind: 'date',
 * direction: 'desc' })`. The column must be NOT NULL; a `date` column must be `timestamptz(3)` (a JS Date holds
 * milliseconds, so finer timestamps would not round-trip through a cursor). Rows tie-break on `id`, in the same
 * direction.
 */
export interface Keyset<F extends string, K extends SortKind> {
  /** Written into every cursor, so a cursor from another order of the same list is refused. */
  readonly name: string;
  /** The Prisma field. */
  readonly field: F;
  readonly kind: K;
  readonly direction: SortDirection;
}

export const defineKeyset = <const F extends string, const K extends SortKind>(keyset: Keyset<F, K>): Keyset<F, K> =>
  keyset;

/** A row a keyset pages over: its id and its sort column. */
export type KeysetRow<F extends string, K extends SortKind> = { readonly id: bigint } & {
  readonly [P in F]: SortKinds[K];
};

/** The position a cursor stands for: the last row the client saw. */
export interface KeysetPosition<K extends SortKind> {
  readonly sort: SortKinds[K];
  readonly id: bigint;
}

function encodeSort(kind: SortKind, value: SortKinds[SortKind]): string | number {
  if (kind === 'date') return (value as Date).toISOString();
  return kind === 'bigint' ? String(value) : (value as number | string);
}

function decodeSort(kind: SortKind, raw: unknown): SortKinds[SortKind] | null {
  switch (kind) {
    case 'int':
      return Number.isSafeInteger(raw) ? (raw as number) : null;
    case 'string':
      return typeof raw === 'string' ? raw : null;
    case 'bigint':
      return typeof raw === 'string' && /^-?(0|[1-9]\d{0,18})$/.test(raw) ? BigInt(raw) : null;
    case 'date':
      return typeof raw === 'string' && !Number.isNaN(Date.parse(raw)) ? new Date(raw) : null;
  }
}

/** An opaque cursor for `row` in this order: base64url of `[name, sort value, id]`. */
export function encodeKeysetCursor<F extends string, K extends SortKind>(
  keyset: Keyset<F, K>,
  row: KeysetRow<F, K>,
): string {
  const json = JSON.stringify([keyset.name, encodeSort(keyset.kind, row[keyset.field]), encodeId(row.id)]);
  return Buffer.from(json, 'utf8').toString('base64url');
}

/** The position, or null for anything but a cursor this keyset made (another order's, edited, truncated). */
export function decodeKeysetCursor<F extends string, K extends SortKind>(
  keyset: Keyset<F, K>,
  cursor: string,
): KeysetPosition<K> | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== 3 || parts[0] !== keyset.name || typeof parts[2] !== 'string')
    return null;
  const sort = decodeSort(keyset.kind, parts[1]) as SortKinds[K] | null;
  const id = decodeId(parts[2]);
  if (sort === null || id === null) return null;
  // Canonical form only, so one position has exactly one cursor (and a re-spelled one is refused).
  const row = { id, [keyset.field]: sort } as KeysetRow<F, K>;
  return encodeKeysetCursor(keyset, row) === cursor ? { sort, id } : null;
}

/**
 * Validates `first`/`after` for a keyset (BAD_USER_INPUT for a foreign or edited cursor) and returns the
 * position to continue after: for lists a `findMany` cannot express (a computed sort key such as search
 * relevance), whose SQL compares `(key, id)` itself. Prisma lists use `keysetQuery`.
 */
export function parseKeysetArgs<F extends string, K extends SortKind>(
  keyset: Keyset<F, K>,
  input: PageInput,
): { readonly first: number; readonly after: KeysetPosition<K> | null } {
  return parseArgs(input, (cursor) => decodeKeysetCursor(keyset, cursor));
}

type Bound = 'gt' | 'lt';
/**
 * The Prisma `where` that selects rows after a position; `{}` on the first page. Combine with `AND`. Its arrays
 * (and orderBy's) are mutable because Prisma's generated input types do not accept readonly ones.
 */
export type KeysetWhere<F extends string, V> = {
  readonly OR?: (
    | { readonly [P in F]: { readonly [B in Bound]?: V } }
    | ({ readonly [P in F]: V } & {
        readonly id: { readonly [B in Bound]?: bigint };
      })
  )[];
};
export type KeysetOrderBy<F extends string> = ({ readonly [P in F]: SortDirection } | { readonly id: SortDirection })[];

/** `findMany` arguments for one page: spread them in, and put `where` beside the list's own filter in `AND`. */
export interface KeysetQuery<F extends string, K extends SortKind> {
  readonly first: number;
  readonly where: KeysetWhere<F, SortKinds[K]>;
  readonly orderBy: KeysetOrderBy<F>;
  /** `first + 1`: the extra row only tells whether there is a next page. */
  readonly take: number;
}

/**
 * Validates `first`/`after` (BAD_USER_INPUT for a foreign or edited cursor) and returns the page's Prisma
 * arguments: rows strictly after the cursor in `(field, id)` order, i.e. for `asc`
 * `field > v OR (field = v AND id > id)`. Rows inserted or deleted between requests neither repeat nor
 * push others out of the list.
 */
export function keysetQuery<F extends string, K extends SortKind>(
  keyset: Keyset<F, K>,
  input: PageInput,
): KeysetQuery<F, K> {
  const { first, after } = parseKeysetArgs(keyset, input);
  const bound: Bound = keyset.direction === 'asc' ? 'gt' : 'lt';
  const field = keyset.field;
  const where = after
    ? {
        OR: [
          { [field]: { [bound]: after.sort } } as { [P in F]: { [B in Bound]?: SortKinds[K] } },
          { [field]: after.sort, id: { [bound]: after.id } } as { [P in F]: SortKinds[K] } & {
            id: { [B in Bound]?: bigint };
          },
        ],
      }
    : {};
  const orderBy = [{ [field]: keyset.direction } as { [P in F]: SortDirection }, { id: keyset.direction }];
  return { first, where, orderBy, take: first + 1 };
}

/** The connection for rows fetched with a keysetQuery's arguments (up to `first + 1` of them). */
export function toKeysetPage<F extends string, K extends SortKind, T extends KeysetRow<F, K>>(
  keyset: Keyset<F, K>,
  rows: readonly T[],
  first: number,
): Page<T> {
  return buildPage(rows, first, (row) => encodeKeysetCursor(keyset, row));
}
