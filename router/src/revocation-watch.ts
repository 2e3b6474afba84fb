import { authKeys, type Logger } from '@mall/platform';
import type { Redis } from 'ioredis';
import type { Caller } from './auth.ts';
import { mgetChunked } from './revocation-cache.ts';

export interface RevocationWatchOptions {
  readonly redis: Redis;
  readonly logger: Logger;
  /** How often every watched session is re-checked; 0 turns the periodic sweep off (event checks remain). */
  readonly sweepIntervalMs: number;
}

interface Watched {
  readonly caller: Caller;
  readonly onRevoked: () => void;
}

/**
 * Sessions of open subscription sockets, re-checked against the same revocations `JwtVerifier` reads at
 * connection_init (the logout denylist by `jti`, the user-wide cut-off by `sub`): a socket whose token was
 * revoked after it connected is closed by its `onRevoked`.
 *
 * Checks are batched: every `check` made in the same turn of the event loop (one per subscriber when an event
 * fans out) and every periodic sweep become one pipeline of MGETs, a single Redis round trip however many sockets.
 * A failed lookup (Redis away) keeps sockets open: connection_init
 * fails closed, but cutting every live socket on a Redis blip would be an outage of its own; the next sweep retries.
 */
export class RevocationWatch {
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #watched = new Set<Watched>();
  #pending: { entry: Watched; resolve: (revoked: boolean) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RevocationWatchOptions) {
    this.#redis = options.redis;
    this.#logger = options.logger;
    if (options.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => void this.sweep(), options.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  get size(): number {
    return this.#watched.size;
  }

  /** Watches a connected caller's session until the returned function is called (the socket closed). */
  watch(caller: Caller, onRevoked: () => void): { check: () => Promise<boolean>; stop: () => void } {
    const entry: Watched = { caller, onRevoked };
    this.#watched.add(entry);
    return {
      check: () => this.#check(entry),
      stop: () => {
        this.#watched.delete(entry);
      },
    };
  }

  /** Re-checks every watched session now (the periodic sweep); resolves with how many were revoked. */
  async sweep(): Promise<number> {
    const results = await Promise.all([...this.#watched].map((entry) => this.#check(entry)));
    return results.filter(Boolean).length;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** True (and `onRevoked` called) when the session's token has been revoked since it connected. */
  #check(entry: Watched): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#pending.length === 0) setImmediate(() => void this.#flush());
      this.#pending.push({ entry, resolve });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    const keys: string[] = [];
    const slot = new Map<string, number>();
    const indexOf = (key: string): number => {
      let at = slot.get(key);
      if (at === undefined) {
        at = keys.length;
        keys.push(key);
        slot.set(key, at);
      }
      return at;
    };
    const lookups = batch.map(({ entry }) => ({
      denied: indexOf(authKeys.deniedAccessToken(entry.caller.session.tokenId)),
      revokedAt: indexOf(authKeys.userRevokedAt(entry.caller.userId)),
    }));
    let values: (string | null)[];
    try {
      values = await mgetChunked(this.#redis, keys);
    } catch (err) {
      this.#logger.warn({ err, sockets: batch.length }, 'revocation check failed; sockets stay open until the next');
      for (const { resolve } of batch) resolve(false);
      return;
    }
    // Only a present entry closes a socket, so Redis having lost the revocations (the generation marker the
    // verifier checks) can keep a socket open a little longer, never close one wrongly.
    for (const [i, { entry, resolve }] of batch.entries()) {
      const lookup = lookups[i] as { denied: number; revokedAt: number };
      const denied = values[lookup.denied] ?? null;
      const revokedAt = values[lookup.revokedAt] ?? null;
      const issuedAt = entry.caller.issuedAt;
      const revoked =
        denied !== null || (revokedAt !== null && issuedAt !== undefined && !(issuedAt > Number(revokedAt)));
      if (revoked && this.#watched.has(entry)) {
        this.#watched.delete(entry);
        entry.onRevoked();
      }
      resolve(revoked);
    }
  }
}
