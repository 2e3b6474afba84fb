import { randomUUID } from 'node:crypto';
import { authKeys, type Logger } from '@mall/platform';
import type { ChainableCommander, Redis } from 'ioredis';
import type { AuthDb, AuthPrisma } from './prisma.ts';

// Entries outlive the tokens they refuse by this much: a verifier tolerating some clock skew on `exp` must
// not find the entry gone while it still accepts the token.
const CLOCK_MARGIN_SECONDS = 60;

/** One revocation as Redis holds it for the router. */
export type Revocation =
  | { readonly kind: 'token'; readonly jti: string; readonly expiresAt: Date }
  | { readonly kind: 'user'; readonly userId: string; readonly revokedAt: Date; readonly expiresAt: Date };

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/**
 * Records a logged-out access token (`expiresAt`: its `exp`, unix seconds) in the database, the source of
 * truth, in the caller's transaction. Null when the token is long expired and needs no entry.
 */
export async function recordDeniedAccessToken(
  db: AuthDb,
  jti: string,
  expiresAt: number,
  now: number = Date.now(),
): Promise<Revocation | null> {
  const until = (expiresAt + CLOCK_MARGIN_SECONDS) * 1000;
  if (until <= now) return null;
  const row = { jti, expiresAt: new Date(until) };
  await db.deniedAccessToken.upsert({ where: { jti }, create: row, update: {} });
  return { kind: 'token', ...row };
}

/**
 * Records that every access token of `userId` issued up to now is revoked, for as long as such a token can
 * live; later tokens cannot exist, as the account can no longer sign in or refresh. A second revocation only
 * moves the cut-off forward, and marks the row for copying to Redis again.
 */
export async function recordUserRevocation(
  db: AuthDb,
  userId: string,
  accessTokenTtlSeconds: number,
  now: number = Date.now(),
): Promise<Revocation> {
  const revokedAt = wholeSeconds(now);
  const expiresAt = new Date(now + (accessTokenTtlSeconds + CLOCK_MARGIN_SECONDS) * 1000);
  const row = await db.userRevocation.upsert({
    where: { userId },
    create: { userId, revokedAt, expiresAt },
    update: { revokedAt, expiresAt, syncedAt: null },
  });
  return { kind: 'user', userId, revokedAt: row.revokedAt, expiresAt: row.expiresAt };
}

/** Queues the Redis writes of `entries` on a pipeline or MULTI; entries already expired are left out. */
function withWrites(commands: ChainableCommander, entries: readonly Revocation[]): ChainableCommander {
  const now = Date.now();
  for (const entry of entries) {
    const ttl = Math.ceil((entry.expiresAt.getTime() - now) / 1000);
    if (ttl <= 0) continue;
    if (entry.kind === 'token') commands.set(authKeys.deniedAccessToken(entry.jti), '1', 'EX', ttl);
    else commands.set(authKeys.userRevokedAt(entry.userId), String(entry.revokedAt.getTime() / 1000), 'EX', ttl);
  }
  return commands;
}

async function execOrThrow(commands: ChainableCommander): Promise<void> {
  const results = await commands.exec();
  // null: an aborted MULTI (a WATCHed key changed); otherwise any failed command fails the whole write.
  if (results === null) throw new Error('revocation write aborted');
  for (const [err] of results) if (err) throw err;
}

/** Marks rows whose Redis copy is in place; a user row only if it still holds the cut-off that was copied. */
async function markSynced(db: AuthDb, entries: readonly Revocation[], at: Date): Promise<void> {
  const jtis = entries.flatMap((e) => (e.kind === 'token' ? [e.jti] : []));
  if (jtis.length) await db.deniedAccessToken.updateMany({ where: { jti: { in: jtis } }, data: { syncedAt: at } });
  for (const e of entries) {
    if (e.kind === 'user')
      await db.userRevocation.updateMany({
        where: { userId: e.userId, revokedAt: e.revokedAt },
        data: { syncedAt: at },
      });
  }
}

/** Unexpired revocations, all of them or those matching `where`. */
async function liveRevocations(db: AuthDb, now: Date, where: { syncedAt?: null | { gt: Date } } = {}) {
  const [tokens, users] = await Promise.all([
    db.deniedAccessToken.findMany({ where: { expiresAt: { gt: now }, ...where } }),
    db.userRevocation.findMany({ where: { expiresAt: { gt: now }, ...where } }),
  ]);
  return [
    ...tokens.map((t): Revocation => ({ kind: 'token', jti: t.jti, expiresAt: t.expiresAt })),
    ...users.map(
      (u): Revocation => ({ kind: 'user', userId: u.userId, revokedAt: u.revokedAt, expiresAt: u.expiresAt }),
    ),
  ];
}

export interface RevocationMirrorOptions {
  readonly prisma: AuthPrisma;
  readonly redis: Redis;
  readonly logger: Logger;
  /** How often the mirror checks Redis against the database. Default 1 s. */
  readonly intervalMs?: number;
}

/**
 * Keeps Redis's copy of the revocations (the router's fast path) complete; the database is the source of
 * truth. Every pass, on a timer and at once when Redis reconnects:
 * - the generation marker missing (Redis restarted empty or was flushed) → every live revocation is loaded in
 *   one MULTI that ends by setting a new marker, so the router, which refuses every token while the marker is
 *   missing, never sees a half-loaded set;
 * - otherwise rows written while Redis was unreachable (`synced_at` null) are copied, then the marker gets a
 *   new value: a router that lost its connection waits for that change before trusting Redis again, so it
 *   cannot read Redis between its return and the copying of what was revoked meanwhile.
 * Expired rows and login counters are deleted on the way. Any number of auth instances may run one.
 */
/** Starts the mirror for a running subgraph; the kit stops it before the database closes. */
export async function startRevocationMirror(kit: {
  prisma: AuthPrisma;
  redis: Redis;
  logger: Logger;
  onStop(name: string, run: () => Promise<void>): void;
}): Promise<RevocationMirror> {
  const mirror = new RevocationMirror(kit);
  await mirror.start();
  kit.onStop('revocation mirror', () => mirror.stop());
  return mirror;
}

export class RevocationMirror {
  readonly #prisma: AuthPrisma;
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failing = false;
  readonly #onReady = () => void this.sync();

  constructor(options: RevocationMirrorOptions) {
    this.#prisma = options.prisma;
    this.#redis = options.redis;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs ?? 1_000;
  }

  /** First pass now (a failure is logged, not thrown: Redis may be down at start), then on the timer. */
  async start(): Promise<void> {
    this.#redis.on('ready', this.#onReady);
    this.#timer = setInterval(() => void this.sync(), this.#intervalMs);
    this.#timer.unref();
    await this.sync();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#redis.off('ready', this.#onReady);
    await this.#running;
  }

  /**
   * Copies freshly committed revocations to Redis at once (after the transaction that recorded them). A
   * failure is logged and left to the next pass, which finds the rows still unsynced.
   */
  async publish(entries: readonly (Revocation | null)[]): Promise<void> {
    const live = entries.filter((e): e is Revocation => e !== null);
    if (!live.length) return;
    try {
      await execOrThrow(withWrites(this.#redis.pipeline(), live));
      await markSynced(this.#prisma, live, new Date());
    } catch (err) {
      this.#logger.warn({ err }, 'revocation not copied to Redis yet; the mirror will retry');
    }
  }

  /** One pass; concurrent calls share the running pass and schedule one more after it. */
  sync(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pass();
        } while (this.#again);
        if (this.#failing) this.#logger.info('revocations mirrored to Redis again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) this.#logger.warn({ err }, 'cannot mirror revocations to Redis; retrying');
        this.#failing = true;
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #pass(): Promise<void> {
    const prisma = this.#prisma;
    const started = new Date();
    const generation = await this.#redis.get(authKeys.revocationsGeneration);
    if (generation === null) {
      const all = await liveRevocations(prisma, started);
      await execOrThrow(withWrites(this.#redis.multi(), all).set(authKeys.revocationsGeneration, randomUUID()));
      // Marked as of the pass's start, so the query below finds only rows published directly since then,
      // whose copy may have gone to a Redis that was emptied under us: those are copied once more.
      await markSynced(prisma, all, started);
      const raced = await liveRevocations(prisma, started, { syncedAt: { gt: started } });
      if (raced.length) await execOrThrow(withWrites(this.#redis.pipeline(), raced));
      this.#logger.info({ revocations: all.length }, 'revocations reloaded into Redis');
    } else {
      const pending = await liveRevocations(prisma, started, { syncedAt: null });
      // XX: never recreate a marker that vanished meanwhile; the next pass reloads everything instead.
      await execOrThrow(
        withWrites(this.#redis.pipeline(), pending).set(authKeys.revocationsGeneration, randomUUID(), 'XX'),
      );
      if (pending.length) await markSynced(prisma, pending, new Date());
    }
    await prisma.deniedAccessToken.deleteMany({ where: { expiresAt: { lte: started } } });
    await prisma.userRevocation.deleteMany({ where: { expiresAt: { lte: started } } });
    await prisma.loginFailureCounter.deleteMany({ where: { windowEndsAt: { lte: started } } });
  }
}
