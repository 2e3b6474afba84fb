import { badUserInput, fromZodIssues } from '@mall/platform/errors';
import { defineKeyset, type Keyset, type SortKind } from '@mall/platform/pagination';
import { z } from 'zod';
import { PRICE_MAX } from './catalog.ts';

export const SEARCH_MAX = 100;

export type ProductSort = 'NEWEST' | 'PRICE_ASC' | 'PRICE_DESC' | 'NAME' | 'RELEVANCE';

/**
 * The orders `products` can be listed in, each a keyset on (key, id). RELEVANCE's key is the search score
 * scaled to an integer (a float would not survive a cursor exactly), computed by the query.
 */
export const PRODUCT_KEYSETS = {
  NEWEST: defineKeyset({ name: 'newest', field: 'createdAt', kind: 'date', direction: 'desc' }),
  PRICE_ASC: defineKeyset({ name: 'price-asc', field: 'priceAmount', kind: 'int', direction: 'asc' }),
  PRICE_DESC: defineKeyset({ name: 'price-desc', field: 'priceAmount', kind: 'int', direction: 'desc' }),
  NAME: defineKeyset({ name: 'name', field: 'name', kind: 'string', direction: 'asc' }),
  RELEVANCE: defineKeyset({ name: 'relevance', field: 'score', kind: 'int', direction: 'desc' }),
} as const satisfies Record<ProductSort, Keyset<string, SortKind>>;

export type ProductKeyset = (typeof PRODUCT_KEYSETS)[ProductSort];

export interface ProductFilter {
  /** Ids stay strings until the service resolves them (an unknown one is BAD_USER_INPUT or an empty list). */
  readonly categoryId: string | null;
  readonly merchantId: string | null;
  readonly search: string | null;
  readonly minPrice: number | null;
  readonly maxPrice: number | null;
  readonly inStock: boolean;
}

const Price = z.number().int('must be an integer').min(0, 'must not be negative').max(PRICE_MAX).nullish();
const FilterInput = z
  .object({
    categoryId: z.string().nullish(),
    merchantId: z.string().nullish(),
    // Blank means no search; 100 characters is a long query, and trigram matching is linear in its length.
    search: z.string().trim().max(SEARCH_MAX, `must be at most ${SEARCH_MAX} characters`).nullish(),
    minPrice: Price,
    maxPrice: Price,
    inStock: z.boolean().nullish(),
  })
  .nullish();

/** Validates the filter and picks the sort: RELEVANCE when searching unless told otherwise, NEWEST if not. */
export function parseListing(
  filterInput: unknown,
  sortInput: ProductSort | null | undefined,
): { filter: ProductFilter; sort: ProductSort } {
  const parsed = FilterInput.safeParse(filterInput);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues.map((i) => ({ ...i, path: ['filter', ...i.path] })));
  const f = parsed.data ?? {};
  const filter: ProductFilter = {
    categoryId: f.categoryId ?? null,
    merchantId: f.merchantId ?? null,
    search: f.search ? f.search : null,
    minPrice: f.minPrice ?? null,
    maxPrice: f.maxPrice ?? null,
    inStock: f.inStock ?? false,
  };
  if (filter.minPrice !== null && filter.maxPrice !== null && filter.minPrice > filter.maxPrice)
    throw badUserInput('Invalid input: filter.minPrice: must not exceed maxPrice', [
      { field: 'filter.minPrice', message: 'must not exceed maxPrice' },
    ]);
  const sort = sortInput ?? (filter.search ? 'RELEVANCE' : 'NEWEST');
  if (sort === 'RELEVANCE' && !filter.search)
    throw badUserInput('Invalid input: sort: RELEVANCE needs a search', [
      { field: 'sort', message: 'RELEVANCE needs filter.search' },
    ]);
  return { filter, sort };
}
