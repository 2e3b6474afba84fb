/** Relay connections for every list in the API: `first` (default 20, max 100), opaque `after` cursors, keyset pages. */
import { z } from 'zod';
import { badUserInput, fromZodIssues } from './errors.ts';
import { decodeId, encodeId } from './ids/index.ts';

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
export function parsePageArgs(input: { first?: number | null; after?: string | null }): PageArgs {
  const parsed = Args.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues);
  const { first, after } = parsed.data;
  if (after == null) return { first, after: null };
  const id = decodeCursor(after);
  if (id === null)
    throw badUserInput('Invalid input: after: not a cursor from this list', [
      { field: 'after', message: 'not a cursor from this list' },
    ]);
  return { first, after: id };
}

export interface Page<T> {
  readonly edges: { readonly cursor: string; readonly node: T }[];
  readonly pageInfo: { readonly hasNextPage: boolean; readonly endCursor: string | null };
}

/** Builds a page from up to `first + 1` rows fetched in key order: the extra row only says that more exist. */
export function toPage<T extends { readonly id: bigint }>(rows: readonly T[], first: number): Page<T> {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
