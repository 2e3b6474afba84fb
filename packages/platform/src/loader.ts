/**
 * The per-request "load by id" DataLoader every subgraph uses: `__resolveReference` (user, product), order
 * lines' products, a cart's items. One query per batch instead of one per entity (federation's N+1).
 */
import DataLoader from 'dataloader';

/** Ids per query: keeps `WHERE id IN (…)` bounded when a client asks for a huge page of references. */
export const LOADER_MAX_BATCH = 500;

export interface ByIdLoaderOptions {
  /** Default LOADER_MAX_BATCH. */
  readonly maxBatchSize?: number;
}

/**
 * A DataLoader over `fetch(ids) → rows`, where `fetch` may return the rows in any order and leave out ids it did
 * not find (or the caller may not see): each key gets its row, or null. Keys are deduplicated before `fetch`:
 * ids are primitives (bigint snowflakes included), which DataLoader's Map cache already compares by value, so no
 * cacheKeyFn is needed. Create one per request, so nothing is cached across requests or callers.
 */
export function createByIdLoader<K extends bigint | string | number, V>(
  fetch: (ids: readonly K[]) => Promise<readonly V[]>,
  idOf: (row: V) => K,
  options: ByIdLoaderOptions = {},
): DataLoader<K, V | null> {
  return new DataLoader<K, V | null>(
    async (ids) => {
      const found = new Map<K, V>();
      for (const row of await fetch(ids)) found.set(idOf(row), row);
      return ids.map((id) => found.get(id) ?? null);
    },
    { maxBatchSize: options.maxBatchSize ?? LOADER_MAX_BATCH },
  );
}

/**
 * A DataLoader of rows grouped under a key (a parent's children, a product's categories, an order's lines): one
 * `fetch(keys)` per batch returns `{ key, value }` pairs in the order each group should keep; a key with none
 * gets `[]`. Create one per request, like createByIdLoader.
 */
export function createGroupLoader<K extends bigint | string | number, V>(
  fetch: (keys: readonly K[]) => Promise<readonly { readonly key: K; readonly value: V }[]>,
  options: ByIdLoaderOptions = {},
): DataLoader<K, V[]> {
  return new DataLoader<K, V[]>(
    async (keys) => {
      const groups = new Map<K, V[]>();
      for (const { key, value } of await fetch(keys)) {
        const group = groups.get(key);
        if (group) group.push(value);
        else groups.set(key, [value]);
      }
      return keys.map((key) => groups.get(key) ?? []);
    },
    { maxBatchSize: options.maxBatchSize ?? LOADER_MAX_BATCH },
  );
}
