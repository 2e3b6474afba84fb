import { defineScript, type Logger } from '@mall/platform';
import type { Currency } from '@mall/platform/money';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Product, ProductEntry } from '../domain/catalog.ts';

export interface ProductCacheOptions {
  readonly redis: Redis;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Reads products from Postgres (deleted ones included): what a miss falls back on. */
  readonly load: (ids: readonly bigint[]) => Promise<readonly Product[]>;
  /** How long an entry lives; also how long a failed invalidation is retried (after that nothing stale is left). */
  readonly cacheTtlSeconds: number;
  /** A Redis call slower than this is given up on and the read served from Postgres. */
  readonly cacheTimeoutMs: number;
}

// Two keys per product, sharing a hash tag so a script touching both runs on Redis Cluster: the entry, and a
// version bumped by every invalidation. A reader that missed remembers the version it saw and stores what it
// read from Postgres only if the version is unchanged, so a read that raced a committed update can never put
// the old row back after the invalidation (the classic cache-aside race).
const entryKey = (id: bigint) => `product:{${id}}`;
const versionKey = (id: bigint) => `product:{${id}}:v`;
/** Versions outlive entries by far, so a reader's remembered version cannot come round again while it reads. */
const VERSION_TTL_MS = 24 * 3600 * 1000;

const storeIfUnchanged = defineScript<
  [entry: string, version: string],
  [seen: string, value: string, ttlMs: number],
  number
>({
  name: 'productCacheStore',
  lua: `
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
});

const invalidateEntry = defineScript<[entry: string, version: string], [versionTtlMs: number], number>({
  name: 'productCacheInvalidate',
  lua: `
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`,
});

// No `stock`: it changes with every reservation, which would otherwise invalidate the entry each time (see
// ProductEntry). The `stock` field reads it from Postgres.
interface CachedProduct extends Omit<Product, 'id' | 'merchantId' | 'createdAt' | 'updatedAt' | 'deletedAt' | 'stock'> {
  readonly id: string;
  readonly merchantId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly deletedAt: string | null;
}

function encode(product: Product): string {
  const { stock: _, ...entry } = product;
  const cached: CachedProduct = {
    ...entry,
    id: String(product.id),
    merchantId: String(product.merchantId),
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
    deletedAt: product.deletedAt?.toISOString() ?? null,
  };
  return JSON.stringify(cached);
}

function decode(json: string): ProductEntry {
  // An entry written before stock left the cache may still carry it: dropped, never served stale.
  const { stock: _, ...c } = JSON.parse(json) as CachedProduct & { stock?: number };
  return {
    ...c,
    id: BigInt(c.id),
    merchantId: BigInt(c.merchantId),
    price: { amount: c.price.amount, currency: c.price.currency as Currency },
    createdAt: new Date(c.createdAt),
    updatedAt: new Date(c.updatedAt),
    deletedAt: c.deletedAt === null ? null : new Date(c.deletedAt),
  };
}

class RedisTimeout extends Error {
  override readonly name = 'RedisTimeout';
}

/**
 * Cache-aside for product reads by id, in Redis only. There is deliberately no in-process layer: every instance
 * would then need invalidations broadcast to it and would still serve stale rows in the broadcast's window,
 * while a Redis GET on the same network costs a fraction of a millisecond.
 *
 * - Hit: one pipelined round trip for the whole batch. Miss: one Postgres query for all the batch's misses.
 * - Stampede: one load per product per instance at a time; concurrent readers of a product being loaded wait
 *   for that load instead of querying again.
 * - Redis slow or down: reads go to Postgres (no error), and invalidations that failed are retried until the
 *   entries they target have expired anyway.
 */
export class ProductCache {
  readonly #options: ProductCacheOptions;
  readonly #inflight = new Map<bigint, { readonly version: string; readonly product: Promise<ProductEntry | null> }>();
  /** Products whose invalidation failed, with when it first failed. */
  readonly #unflushed = new Map<bigint, number>();
  readonly #lookups: Counter<'result'>;
  readonly #invalidations: Counter<'outcome'>;
  readonly #loads: Counter;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Since the first failed Redis call, until a read succeeds again. */
  #outage = false;

  constructor(options: ProductCacheOptions) {
    this.#options = options;
    const registers = [options.registry];
    this.#lookups = new Counter({
      name: 'product_cache_lookups_total',
      help: 'Product reads by id, by cache result: hit, miss (loaded from Postgres), coalesced (joined a load in flight), bypass (Redis unavailable)',
      labelNames: ['result'] as const,
      registers,
    });
    this.#loads = new Counter({
      name: 'product_cache_loads_total',
      help: 'Postgres queries that filled product cache misses (one per batch; concurrent misses share one)',
      registers,
    });
    this.#invalidations = new Counter({
      name: 'product_cache_invalidations_total',
      help: 'Product cache invalidations after a committed change, by outcome (ok, failed: retried later)',
      labelNames: ['outcome'] as const,
      registers,
    });
  }

  /**
   * The products among `ids` (deleted ones included), from Redis where it has them and Postgres for the rest;
   * `stock` only on those read from Postgres.
   */
  async getMany(ids: readonly bigint[]): Promise<ProductEntry[]> {
    const cached = await this.#read(ids);
    if (!cached) {
      // Without Redis there are no versions to tell a load started before a commit from one started after,
      // so nothing is shared: each read goes to Postgres itself.
      this.#lookups.inc({ result: 'bypass' }, ids.length);
      this.#loads.inc();
      return [...(await this.#options.load(ids))];
    }
    const found: ProductEntry[] = [];
    const missing: bigint[] = [];
    const waits: Promise<ProductEntry | null>[] = [];
    for (const id of ids) {
      const hit = cached.entries.get(id);
      const flight = this.#inflight.get(id);
      if (hit) found.push(hit);
      // Only a load that saw the same version read what this reader would: one started before an invalidation
      // this reader already sees may return the old row.
      else if (flight && flight.version === cached.versions.get(id)) waits.push(flight.product);
      else missing.push(id);
    }
    this.#lookups.inc({ result: 'hit' }, found.length);
    this.#lookups.inc({ result: 'coalesced' }, waits.length);
    this.#lookups.inc({ result: 'miss' }, missing.length);
    if (missing.length) waits.push(...this.#loadMissing(missing, cached.versions));
    for (const product of await Promise.all(waits)) if (product) found.push(product);
    return found;
  }

  /** Call after the change to these products committed: every instance's next read goes to Postgres. */
  async invalidate(ids: Iterable<bigint>): Promise<void> {
    const now = Date.now();
    await this.#invalidate(new Map([...ids].map((id) => [id, now])));
  }

  stop(): void {
    clearInterval(this.#retryTimer);
  }

  /**
   * Every product's invalidation in one pipelined round trip (a reservation touches several products). They
   * succeed or are retried together: a failure is Redis being slow or away, which no product escapes alone.
   * `ids` maps each product to when its invalidation first failed (now, for a first try).
   */
  async #invalidate(ids: ReadonlyMap<bigint, number>): Promise<void> {
    if (ids.size === 0) return;
    try {
      await this.#redisCall(() =>
        invalidateEntry.many(
          this.#options.redis,
          [...ids.keys()].map((id) => [[entryKey(id), versionKey(id)], [VERSION_TTL_MS]] as const),
        ),
      );
      for (const id of ids.keys()) this.#unflushed.delete(id);
      this.#invalidations.inc({ outcome: 'ok' }, ids.size);
    } catch (err) {
      this.#invalidations.inc({ outcome: 'failed' }, ids.size);
      this.#degraded(err, 'product cache invalidation failed; retrying every second');
      for (const [id, firstFailedAt] of ids) if (!this.#unflushed.has(id)) this.#unflushed.set(id, firstFailedAt);
      this.#retryTimer ??= setInterval(() => this.#retryUnflushed(), 1_000).unref();
    }
  }

  #retryUnflushed(): void {
    const expiredBefore = Date.now() - this.#options.cacheTtlSeconds * 1000;
    const due = new Map<bigint, number>();
    for (const [id, failedAt] of this.#unflushed) {
      // Anything cached before the change has expired by now: nothing stale is left to remove.
      if (failedAt < expiredBefore) this.#unflushed.delete(id);
      else due.set(id, failedAt);
    }
    void this.#invalidate(due);
    if (this.#unflushed.size === 0) {
      clearInterval(this.#retryTimer);
      this.#retryTimer = undefined;
    }
  }

  /** Entries and versions of `ids` in one round trip, or null when Redis is unavailable or slow. */
  async #read(
    ids: readonly bigint[],
  ): Promise<{ entries: Map<bigint, ProductEntry>; versions: Map<bigint, string> } | null> {
    try {
      const replies = await this.#redisCall(() => {
        const pipeline = this.#options.redis.pipeline();
        for (const id of ids) pipeline.get(entryKey(id)).get(versionKey(id));
        return pipeline.exec();
      });
      const entries = new Map<bigint, ProductEntry>();
      const versions = new Map<bigint, string>();
      ids.forEach((id, i) => {
        const [entryError, entry] = replies?.[2 * i] ?? [new Error('no reply')];
        const [, version] = replies?.[2 * i + 1] ?? [];
        if (!entryError && typeof entry === 'string') entries.set(id, decode(entry));
        else versions.set(id, typeof version === 'string' ? version : '');
      });
      if (this.#outage) {
        this.#outage = false;
        this.#options.logger.info('product cache available again');
      }
      return { entries, versions };
    } catch (err) {
      this.#degraded(err, 'product cache unavailable; reading from Postgres');
      return null;
    }
  }

  /** One Postgres query for all of `ids`, shared with concurrent readers that saw the same versions. */
  #loadMissing(ids: readonly bigint[], versions: Map<bigint, string>): Promise<ProductEntry | null>[] {
    const load = (async () => {
      this.#loads.inc();
      const rows = new Map((await this.#options.load(ids)).map((p) => [p.id, p]));
      await this.#store([...rows.values()], versions);
      return rows;
    })();
    return ids.map((id) => {
      const flight = { version: versions.get(id) ?? '', product: load.then((rows) => rows.get(id) ?? null) };
      this.#inflight.set(id, flight);
      // Settled either way, the next reader asks Redis again (a failed load is not remembered).
      const done = () => {
        if (this.#inflight.get(id) === flight) this.#inflight.delete(id);
      };
      void flight.product.then(done, done);
      return flight.product;
    });
  }

  async #store(products: readonly Product[], versions: Map<bigint, string>): Promise<void> {
    const ttlMs = this.#options.cacheTtlSeconds * 1000;
    try {
      // One pipelined round trip for the whole batch of misses.
      await this.#redisCall(() =>
        storeIfUnchanged.many(
          this.#options.redis,
          products.map(
            (p) =>
              [
                [entryKey(p.id), versionKey(p.id)],
                [versions.get(p.id) ?? '', encode(p), ttlMs],
              ] as const,
          ),
        ),
      );
    } catch (err) {
      this.#degraded(err, 'product cache store failed');
    }
  }

  /** One warning per outage, not one per request: a Redis that is down fails every read. */
  #degraded(err: unknown, message: string): void {
    if (this.#outage) return;
    this.#outage = true;
    this.#options.logger.warn({ err }, message);
  }

  /** Fails fast when Redis is not connected (instead of queueing) and when it answers too slowly. */
  async #redisCall<T>(call: () => Promise<T>): Promise<T> {
    if (this.#options.redis.status !== 'ready') throw new RedisTimeout('redis is not connected');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RedisTimeout(`redis took over ${this.#options.cacheTimeoutMs} ms`)),
        this.#options.cacheTimeoutMs,
      );
    });
    try {
      return await Promise.race([call(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
