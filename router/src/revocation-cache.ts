import { authKeys, type Logger, REDIS_CONNECT_TIMEOUT_MS, REDIS_MAX_RECONNECT_DELAY_MS } from '@mall/platform';
import { Redis } from 'ioredis';

/** What the verifier reads, in MGET's words: the generation marker, the jti's denylist entry, the user's cut-off. */
export type RevocationEntries = readonly [generation: string | null, denied: string | null, revokedAt: string | null];

export interface RevocationCacheOptions {
  readonly url: string;
  /** Where the reads and the tracking go, when not to `url` (tests put a slow link on that side only). */
  readonly readerUrl?: string;
  /** The services' key prefix (MALL_REDIS_PREFIX): auth writes its keys under it. */
  readonly prefix: string;
  readonly logger: Logger;
  /** CLIENT SETNAME of its two connections (`<name>:invalidations`, `<name>:reader`), to find them in CLIENT LIST. */
  readonly name?: string;
  /** How often the invalidation connection proves it is alive and caught up (a PING on it). */
  readonly heartbeatMs?: number;
  /** The copy stops answering once it may be this far behind Redis (no heartbeat came back): a stalled link. */
  readonly maxStalenessMs?: number;
  /** Reads and loads may wait this long; longer means the copy cannot be kept, and it starts over. */
  readonly commandTimeoutMs?: number;
  /** Wait before setting up again after a failed set-up (Redis without CLIENT TRACKING, an ACL refusing it). */
  readonly retryMs?: number;
  readonly now?: () => number;
}

const INVALIDATIONS = '__redis__:invalidate';
const SCAN_COUNT = 1_000;
const KEYS_PER_MGET = 512;

/**
 * MGET of any number of keys as one pipeline of bounded MGETs (one round trip, never one huge command);
 * any failed part fails the whole read.
 */
export async function mgetChunked(redis: Redis, keys: readonly string[]): Promise<(string | null)[]> {
  const pipeline = redis.pipeline();
  for (let i = 0; i < keys.length; i += KEYS_PER_MGET) pipeline.mget(keys.slice(i, i + KEYS_PER_MGET));
  return ((await pipeline.exec()) ?? []).flatMap(([err, reply]) => {
    if (err) throw err;
    return reply as (string | null)[];
  });
}

/** SCAN's MATCH is a glob: a prefix with `*`, `?`, `[` or `\` in it must match only itself. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

/**
 * The router's own copy of the revocations auth keeps in Redis (the logout denylist, the user-wide cut-offs,
 * the generation marker), so admitting a request costs no Redis round trip. Redis keeps it current itself:
 * server-assisted client-side caching in broadcasting mode (`CLIENT TRACKING … BCAST PREFIX`), which sends the
 * name of every key under those prefixes that anyone changes, sets, expires or deletes to our invalidation
 * connection; a flush sends "everything".
 *
 * The copy answers only when it can vouch for its answer, otherwise the verifier reads Redis as before:
 * - a changed key is "in flux" from the moment its invalidation arrives until a read sent after it has come
 *   back; a read overtaken by another invalidation of the same key (the two travel on different connections)
 *   is not applied, and lookups touching a key in flux go to Redis;
 * - after a (re)connection or a flush, nothing is answered until the whole set has been loaded again;
 * - the invalidation connection is PINGed every `heartbeatMs`: a PONG proves every invalidation Redis sent
 *   before the PING has arrived, so the copy is at most `maxStalenessMs` behind even when the link stalls
 *   without breaking; past that it stops answering and the lookups that reach Redis fail as they always did.
 * Losing either connection drops the copy and, through `onLost`, makes the verifier distrust the generation
 * marker it last saw, exactly as when its own connection breaks.
 */
export class RevocationCache {
  readonly #logger: Logger;
  readonly #heartbeatMs: number;
  readonly #maxStalenessMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  /** RESP2, subscribed to the invalidation channel: RESP3 would get them as pushes ioredis drops. */
  readonly #sub: Redis;
  /** Holds the tracking (invalidations follow its CLIENT TRACKING) and makes the reads. No key prefix. */
  readonly #reader: Redis;
  readonly #deniedPrefix: string;
  readonly #userPrefix: string;
  readonly #generationKey: string;

  readonly #denied = new Map<string, string>();
  readonly #revokedAt = new Map<string, string>();
  #generation: string | null = null;
  /** Invalidated keys not re-read since, with how many invalidations each had when last counted. */
  readonly #inFlux = new Map<string, number>();
  /** During a load: keys invalidated since it began, whose loaded value may be older than their re-read. */
  #loading: Set<string> | undefined;
  #ready = false;
  #freshUntil = 0;
  /** Bumped whenever the copy is dropped: set-ups, loads and reads of an older epoch apply nothing. */
  #epoch = 0;
  #subscribed = false;
  #subscriberId: number | undefined;
  #refreshScheduled = false;
  #stopped = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failing = false;
  readonly #lost: (() => void)[] = [];
  readonly #readyWaiters: (() => void)[] = [];

  constructor(options: RevocationCacheOptions) {
    this.#logger = options.logger;
    this.#heartbeatMs = options.heartbeatMs ?? 250;
    this.#maxStalenessMs = options.maxStalenessMs ?? 1_000;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#now = options.now ?? Date.now;
    this.#deniedPrefix = options.prefix + authKeys.deniedAccessToken('');
    this.#userPrefix = options.prefix + authKeys.userRevokedAt('');
    this.#generationKey = options.prefix + authKeys.revocationsGeneration;
    const connection = {
      lazyConnect: true,
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, REDIS_MAX_RECONNECT_DELAY_MS),
    };
    const name = options.name ?? 'router-revocations';
    this.#sub = new Redis(options.url, {
      ...connection,
      connectionName: `${name}:invalidations`,
      protocol: 2,
      autoResubscribe: false,
    });
    this.#reader = new Redis(options.readerUrl ?? options.url, { ...connection, connectionName: `${name}:reader` });
    this.#sub.on('messageBuffer', (channel: Buffer, keys: Buffer[] | null) => {
      if (channel.toString() === INVALIDATIONS) this.#invalidate(keys);
    });
    for (const redis of [this.#sub, this.#reader]) {
      // Errors surface as failed set-ups and 'close'; ioredis would print unhandled ones.
      redis.on('error', () => undefined);
      redis.on('close', () => this.#drop(redis === this.#sub));
      redis.on('ready', () => this.#setUp());
    }
  }

  /** Connects; the copy answers once loaded (`ready`). Redis being away is not an error: it is retried. */
  start(): void {
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref();
    for (const redis of [this.#sub, this.#reader]) redis.connect().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#epoch += 1;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#retry);
    this.#ready = false;
    this.#sub.disconnect();
    this.#reader.disconnect();
  }

  /** Called whenever the copy is dropped because a connection broke. */
  onLost(listener: () => void): void {
    this.#lost.push(listener);
  }

  /** Loaded and caught up: lookups answer (for keys not in flux). */
  get ready(): boolean {
    return this.#ready && this.#now() <= this.#freshUntil;
  }

  /** Resolves once the copy is loaded (tests, start-up logs); never rejects. */
  whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * What Redis holds for this token, as of at most `maxStalenessMs` ago and never older than an invalidation
   * that has reached us; undefined when the copy cannot say (the caller reads Redis).
   */
  lookup(jti: string, userId: string): RevocationEntries | undefined {
    if (!this.ready) return undefined;
    if (
      this.#inFlux.size > 0 &&
      (this.#inFlux.has(this.#generationKey) ||
        this.#inFlux.has(this.#deniedPrefix + jti) ||
        this.#inFlux.has(this.#userPrefix + userId))
    )
      return undefined;
    return [this.#generation, this.#denied.get(jti) ?? null, this.#revokedAt.get(userId) ?? null];
  }

  /**
   * Resolves once every change made to Redis before the call is in the copy (or the copy is not answering):
   * a PING through the invalidation connection, then the re-reads it set off. For tests and tools.
   */
  async caughtUp(): Promise<void> {
    if (this.#subscribed) await this.#sub.ping().catch(() => undefined);
    while (this.#inFlux.size > 0 && this.#ready) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  #drop(subLost: boolean): void {
    if (subLost) this.#subscribed = false;
    const had = this.#ready;
    this.#clear();
    if (this.#stopped) return;
    if (had) this.#logger.warn('revocation copy dropped: a Redis connection broke; admission reads Redis meanwhile');
    for (const listener of this.#lost) listener();
  }

  #clear(): void {
    this.#epoch += 1;
    this.#ready = false;
    this.#freshUntil = 0;
    this.#denied.clear();
    this.#revokedAt.clear();
    this.#generation = null;
    this.#inFlux.clear();
    this.#loading = undefined;
  }

  #setUp(): void {
    if (this.#stopped || this.#sub.status !== 'ready' || this.#reader.status !== 'ready') return;
    clearTimeout(this.#retry);
    this.#clear();
    const epoch = this.#epoch;
    this.#loading = new Set();
    void (async () => {
      try {
        if (!this.#subscribed) {
          const id = await this.#sub.client('ID');
          await this.#sub.subscribe(INVALIDATIONS);
          this.#subscribed = true;
          this.#subscriberId = id;
        }
        if (epoch !== this.#epoch) return;
        // Everything read from here on is at least as new as this moment, and every later change is announced.
        const since = this.#now();
        await this.#reader.call('CLIENT', 'TRACKING', 'OFF');
        await this.#reader.call(
          'CLIENT',
          'TRACKING',
          'ON',
          'REDIRECT',
          String(this.#subscriberId),
          'BCAST',
          'PREFIX',
          this.#deniedPrefix,
          'PREFIX',
          this.#userPrefix,
          'PREFIX',
          this.#generationKey,
        );
        await this.#load(epoch, since);
      } catch (err) {
        if (epoch !== this.#epoch || this.#stopped) return;
        if (!this.#failing)
          this.#logger.warn({ err }, 'cannot keep a copy of the revocations; admission reads Redis meanwhile');
        this.#failing = true;
        this.#clear();
        this.#retry = setTimeout(() => this.#setUp(), this.#retryMs);
        this.#retry.unref();
      }
    })();
  }

  async #load(epoch: number, since: number): Promise<void> {
    const loading = this.#loading ?? new Set<string>();
    let entries = 0;
    for (const prefix of [this.#deniedPrefix, this.#userPrefix]) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#reader.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', SCAN_COUNT);
        cursor = next;
        const values = keys.length ? await this.#reader.mget(keys) : [];
        if (epoch !== this.#epoch) return;
        // A key changed since the load began is re-read on its own; its loaded value may be the older one.
        for (const [i, key] of keys.entries()) if (!loading.has(key)) this.#apply(key, values[i] ?? null);
        entries += keys.length;
      } while (cursor !== '0');
    }
    const generation = await this.#reader.get(this.#generationKey);
    if (epoch !== this.#epoch) return;
    if (!loading.has(this.#generationKey)) this.#generation = generation;
    this.#loading = undefined;
    this.#ready = true;
    this.#freshUntil = Math.max(this.#freshUntil, since + this.#maxStalenessMs);
    if (this.#failing) this.#logger.info('revocation copy back');
    this.#failing = false;
    this.#logger.debug({ entries }, 'revocation copy loaded');
    for (const resolve of this.#readyWaiters.splice(0)) resolve();
  }

  #invalidate(keys: Buffer[] | null): void {
    if (this.#stopped) return;
    if (keys === null) {
      // FLUSHALL / FLUSHDB: any key may be gone. Load again from scratch (tracking itself stays on).
      this.#setUp();
      return;
    }
    for (const raw of keys) {
      const key = raw.toString();
      this.#inFlux.set(key, (this.#inFlux.get(key) ?? 0) + 1);
      this.#loading?.add(key);
    }
    if (!this.#refreshScheduled) {
      this.#refreshScheduled = true;
      // Every invalidation of this turn of the event loop is re-read in one round trip.
      setImmediate(() => void this.#refresh());
    }
  }

  async #refresh(): Promise<void> {
    this.#refreshScheduled = false;
    const epoch = this.#epoch;
    const batch = [...this.#inFlux];
    if (batch.length === 0) return;
    let values: (string | null)[];
    try {
      values = await mgetChunked(
        this.#reader,
        batch.map(([key]) => key),
      );
    } catch (err) {
      // The keys stay in flux (lookups read Redis); a read that cannot be made means the copy cannot be kept.
      if (epoch !== this.#epoch || this.#stopped) return;
      this.#logger.warn({ err }, 'revocation copy cannot re-read a changed key; loading it again');
      this.#setUp();
      return;
    }
    if (epoch !== this.#epoch) return;
    for (const [i, [key, count]] of batch.entries()) {
      // Invalidated again since this read was sent: the read may predate the change; the next one settles it.
      if (this.#inFlux.get(key) !== count) continue;
      this.#inFlux.delete(key);
      this.#apply(key, values[i] ?? null);
    }
  }

  #apply(key: string, value: string | null): void {
    if (key === this.#generationKey) {
      this.#generation = value;
      return;
    }
    for (const [prefix, map] of [
      [this.#deniedPrefix, this.#denied],
      [this.#userPrefix, this.#revokedAt],
    ] as const) {
      if (!key.startsWith(prefix)) continue;
      const id = key.slice(prefix.length);
      if (value === null) map.delete(id);
      else map.set(id, value);
      return;
    }
  }

  #beat(): void {
    if (!this.#subscribed || !this.#ready) return;
    const epoch = this.#epoch;
    const sentAt = this.#now();
    this.#sub.ping().then(
      () => {
        // Everything Redis announced before this PING has been taken in: the copy is as new as `sentAt`.
        if (epoch === this.#epoch) this.#freshUntil = Math.max(this.#freshUntil, sentAt + this.#maxStalenessMs);
      },
      () => undefined,
    );
  }
}
