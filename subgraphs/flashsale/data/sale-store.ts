import { defineScript } from '@mall/platform';
import type { Redis } from 'ioredis';
import type { PurchaseStatus, RejectReason } from '../domain/sale.ts';

// A running sale's live state in Redis, every key of one sale under the hash tag {sale:<id>} so one script
// touches them all on one Redis Cluster slot:
//   {sale:<id>}:state   hash remaining, startsAt, endsAt (epoch ms), perUserLimit
//   {sale:<id>}:users   hash userId → units granted to that user
//   {sale:<id>}:keys    hash userId:idempotencyKey → the first answer "STATUS|REASON|purchaseId|quantity"
//   {sale:<id>}:ip:<ip> counter of this client address's buys in the current window
//   {sale:<id>}:grants  hash purchaseId → "userId|quantity|grantedAt|keyField": the grants not yet seen in the
//                       database by the stranded-grant sweep (`reclaimStranded`): a grant whose instance died
//                       between the script and its transaction would otherwise hold its unit for good
// `state` is the generation marker: when it is missing (never loaded, expired, Redis flushed) the buy script
// answers MISSING and the service rebuilds it from the database, which stays the truth (sold count, purchases).

const BUY_LUA = `
local prior = redis.call('HGET', KEYS[3], ARGV[3])
if prior then return {'REPLAY', prior} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'MISSING', ''} end
local ipLimit = tonumber(ARGV[6])
if ipLimit > 0 then
  local hits = redis.call('INCR', KEYS[4])
  if hits == 1 then redis.call('EXPIRE', KEYS[4], ARGV[7]) end
  if hits > ipLimit then return {'RATE_LIMITED', tostring(redis.call('TTL', KEYS[4]))} end
end
local quantity = tonumber(ARGV[4])
local sale = redis.call('HMGET', KEYS[1], 'remaining', 'startsAt', 'endsAt', 'perUserLimit')
local now = tonumber(ARGV[1])
local function answer(status, reason)
  local record = status .. '|' .. reason .. '|' .. ARGV[5] .. '|' .. ARGV[4]
  redis.call('HSET', KEYS[3], ARGV[3], record)
  return {'NEW', record}
end
if now < tonumber(sale[2]) or now >= tonumber(sale[3]) then return answer('REJECTED', 'NOT_ACTIVE') end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if bought + quantity > tonumber(sale[4]) then return answer('REJECTED', 'LIMIT_EXCEEDED') end
if tonumber(sale[1]) < quantity then return answer('REJECTED', 'SOLD_OUT') end
redis.call('HINCRBY', KEYS[1], 'remaining', -quantity)
redis.call('HINCRBY', KEYS[2], ARGV[2], quantity)
redis.call('HSET', KEYS[5], ARGV[5], ARGV[2] .. '|' .. ARGV[4] .. '|' .. ARGV[1] .. '|' .. ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[5], ttl) end
return answer('PENDING', '')
`;

// Loads a sale's state unless it is there already (two instances rebuilding at once: the second changes
// nothing). The grants list starts empty: the database's counts already leave out what was never recorded.
// ARGV: remaining, startsAt, endsAt, perUserLimit, expireAt (epoch s), the number of user pairs, then userId,
// units pairs, then keyField, record pairs (the recorded purchases' first answers).
const LOAD_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[4])
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'startsAt', ARGV[2], 'endsAt', ARGV[3], 'perUserLimit', ARGV[4])
local usersEnd = 6 + 2 * tonumber(ARGV[6])
for i = 7, usersEnd, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = usersEnd + 1, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
redis.call('EXPIREAT', KEYS[2], ARGV[5])
redis.call('EXPIREAT', KEYS[3], ARGV[5])
return 1
`;

// Takes a grant back: the user's count always; the unit to `remaining` only when ARGV[3] = 1 (a failed write,
// or a unit returned while the sale runs); the key's record replaced by ARGV[4] (or deleted when empty, so a
// retry may try again). ARGV[5] = 1 drops the state (the database refused the grant: Redis counted too many
// units, so the next buy rebuilds it from the database).
const GIVE_BACK_LUA = `
local quantity = tonumber(ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -quantity)
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'remaining', quantity) end
if ARGV[4] ~= '' then
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[6], ARGV[4]) end
elseif ARGV[6] ~= '' then
  redis.call('HDEL', KEYS[3], ARGV[6])
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
return left
`;

// Gives back a grant the database never recorded (the sweep has just recorded it RELEASED): once, while the
// grants list still names it. KEYS: state, users, grants; ARGV: purchaseId.
const RECLAIM_LUA = `
local grant = redis.call('HGET', KEYS[3], ARGV[1])
if not grant then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
local userId, quantity = string.match(grant, '^([^|]*)|([^|]*)|')
quantity = tonumber(quantity)
local left = redis.call('HINCRBY', KEYS[2], userId, -quantity)
if left <= 0 then redis.call('HDEL', KEYS[2], userId) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'remaining', quantity) end
return 1
`;

type SaleKeys = readonly [state: string, users: string, keys: string];
const buyScript = defineScript<
  readonly [...SaleKeys, ip: string, grants: string],
  readonly [
    now: number,
    userId: string,
    keyField: string,
    quantity: number,
    purchaseId: string,
    ipLimit: number,
    ipWindow: number,
  ],
  [string, string]
>({ name: 'flashsaleBuy', lua: BUY_LUA });
const loadScript = defineScript<readonly [...SaleKeys, grants: string], readonly (string | number)[], number>({
  name: 'flashsaleLoad',
  lua: LOAD_LUA,
});
const giveBackScript = defineScript<
  SaleKeys,
  readonly [userId: string, quantity: number, toRemaining: 0 | 1, record: string, dropState: 0 | 1, keyField: string],
  number
>({ name: 'flashsaleGiveBack', lua: GIVE_BACK_LUA });
const reclaimScript = defineScript<readonly [state: string, users: string, grants: string], readonly [string], number>({
  name: 'flashsaleReclaim',
  lua: RECLAIM_LUA,
});

/** The first answer to one caller's key: what a retry with that key gets again. */
export interface KeyRecord {
  readonly status: Extract<PurchaseStatus, 'PENDING' | 'REJECTED'>;
  readonly reason: RejectReason | null;
  /** The purchase's id. */
  readonly id: bigint;
  readonly quantity: number;
}

export type BuyOutcome =
  | { readonly kind: 'new' | 'replay'; readonly record: KeyRecord }
  | { readonly kind: 'missing' }
  | { readonly kind: 'rate_limited'; readonly retryAfterSeconds: number };

export interface BuyAttempt {
  readonly saleId: bigint;
  readonly userId: bigint;
  readonly idempotencyKey: string;
  readonly quantity: number;
  readonly purchaseId: bigint;
  readonly clientIp: string | null;
  readonly now: number;
}

/** A grant as the buy script listed it, until the sweep finds it in the database (or records it released). */
export interface ListedGrant {
  readonly purchaseId: bigint;
  readonly userId: bigint;
  readonly quantity: number;
  /** The buy's clock when the script granted it (epoch ms). */
  readonly grantedAt: number;
  /** The caller's idempotency key. */
  readonly idempotencyKey: string;
}

export interface SaleSnapshot {
  readonly remaining: number;
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly perUserLimit: number;
  /** Units each user holds (granted, not given back). */
  readonly users: ReadonlyMap<bigint, number>;
  /** The recorded purchases, so their keys answer them again after Redis lost its copy. */
  readonly purchases: readonly (KeyRecord & { readonly userId: bigint; readonly idempotencyKey: string })[];
}

export interface RejectedPurchase {
  readonly id: bigint;
  readonly flashSaleId: bigint;
  readonly userId: bigint;
  readonly quantity: number;
  readonly reason: RejectReason | null;
}

export interface IpLimit {
  /** Buys per client address per sale per window; 0: off. */
  readonly max: number;
  readonly windowSeconds: number;
}

/** How long a rejected purchase can still be read by id (as long as its key answers the same). */
const REJECTED_TTL_SECONDS = 24 * 3600;

/** How long a sale's keys outlive its end: replays of its keys still answer the first result meanwhile. */
const KEEP_AFTER_END_SECONDS = 24 * 3600;

const keysOf = (saleId: bigint): SaleKeys => {
  const tag = `{sale:${saleId}}`;
  return [`${tag}:state`, `${tag}:users`, `${tag}:keys`];
};
const grantsKey = (saleId: bigint) => `{sale:${saleId}}:grants`;
const rejectedKey = (id: bigint) => `flashsale:rejected:${id}`;
const keyField = (userId: bigint, key: string) => `${userId}:${key}`;
const formatRecord = (r: KeyRecord) => `${r.status}|${r.reason ?? ''}|${r.id}|${r.quantity}`;

function parseRecord(text: string): KeyRecord {
  const [status, reason, purchaseId, quantity] = text.split('|');
  return {
    status: status === 'PENDING' ? 'PENDING' : 'REJECTED',
    reason: reason ? (reason as RejectReason) : null,
    id: BigInt(purchaseId ?? '0'),
    quantity: Number(quantity),
  };
}

/** The Redis side of flash sales: one script call per buy, the rebuild, and giving units back. */
export class SaleStore {
  readonly #redis: Redis;
  readonly #ipLimit: IpLimit;
  /** The rejections of this turn of the event loop, written together (`rememberRejection`). */
  #rejections: { readonly entries: [string, string][]; readonly written: Promise<void> } | undefined;

  /** `redis` may auto-pipeline: the store's scripts are registered on it here, before its first command. */
  constructor(redis: Redis, ipLimit: IpLimit) {
    this.#redis = redis;
    this.#ipLimit = ipLimit;
    for (const script of [buyScript, loadScript, giveBackScript, reclaimScript]) script.prepare(redis);
  }

  /** Window, rate, per-user limit, key and remaining units, checked and applied atomically. */
  async buy(attempt: BuyAttempt): Promise<BuyOutcome> {
    const [state, users, keys] = keysOf(attempt.saleId);
    const ip = `{sale:${attempt.saleId}}:ip:${attempt.clientIp ?? 'unknown'}`;
    const [kind, detail] = await buyScript(
      this.#redis,
      [state, users, keys, ip, grantsKey(attempt.saleId)],
      [
        attempt.now,
        String(attempt.userId),
        keyField(attempt.userId, attempt.idempotencyKey),
        attempt.quantity,
        String(attempt.purchaseId),
        attempt.clientIp === null ? 0 : this.#ipLimit.max,
        this.#ipLimit.windowSeconds,
      ],
    );
    if (kind === 'MISSING') return { kind: 'missing' };
    if (kind === 'RATE_LIMITED') return { kind: 'rate_limited', retryAfterSeconds: Math.max(1, Number(detail)) };
    return { kind: kind === 'REPLAY' ? 'replay' : 'new', record: parseRecord(detail) };
  }

  /** The first answer recorded for the attempt's key (null: none, the script has not run for it). */
  async answerOf(attempt: Pick<BuyAttempt, 'saleId' | 'userId' | 'idempotencyKey'>): Promise<KeyRecord | null> {
    const text = await this.#redis.hget(keysOf(attempt.saleId)[2], keyField(attempt.userId, attempt.idempotencyKey));
    return text === null ? null : parseRecord(text);
  }

  /** Loads the sale from the database's numbers, unless another instance just did. */
  async load(saleId: bigint, snapshot: SaleSnapshot): Promise<void> {
    const expireAt = Math.ceil(snapshot.endsAt.getTime() / 1000) + KEEP_AFTER_END_SECONDS;
    const users = [...snapshot.users].flatMap(([userId, units]) => [String(userId), units]);
    const keys = snapshot.purchases.flatMap((p) => [keyField(p.userId, p.idempotencyKey), formatRecord(p)]);
    await loadScript(
      this.#redis,
      [...keysOf(saleId), grantsKey(saleId)],
      [
        snapshot.remaining,
        snapshot.startsAt.getTime(),
        snapshot.endsAt.getTime(),
        snapshot.perUserLimit,
        expireAt,
        snapshot.users.size,
        ...users,
        ...keys,
      ],
    );
  }

  /**
   * Takes back a grant. `toRemaining`: the unit can be sold again (the write failed, or its order was cancelled
   * while the sale runs). `answer`: what the caller's key answers from now on (null: forget it, so a retry runs
   * again). `rebuild`: drop the state so the next buy reloads it from the database.
   */
  async giveBack(
    saleId: bigint,
    grant: { userId: bigint; quantity: number; idempotencyKey: string | null },
    options: { toRemaining: boolean; answer: KeyRecord | null; rebuild: boolean },
  ): Promise<void> {
    await giveBackScript(this.#redis, keysOf(saleId), [
      String(grant.userId),
      grant.quantity,
      options.toRemaining ? 1 : 0,
      options.answer ? formatRecord(options.answer) : '',
      options.rebuild ? 1 : 0,
      grant.idempotencyKey === null ? '' : keyField(grant.userId, grant.idempotencyKey),
    ]);
  }

  /** The grants the sweep has not yet seen recorded (at most the sale's quantity, plus any stranded). */
  async grants(saleId: bigint): Promise<ListedGrant[]> {
    const entries = await this.#redis.hgetall(grantsKey(saleId));
    return Object.entries(entries).map(([purchaseId, text]) => {
      const [userId = '0', quantity = '0', grantedAt = '0', ...field] = text.split('|');
      // The key field is "userId:idempotencyKey", and the key may itself hold "|" or ":".
      const keyField = field.join('|');
      return {
        purchaseId: BigInt(purchaseId),
        userId: BigInt(userId),
        quantity: Number(quantity),
        grantedAt: Number(grantedAt),
        idempotencyKey: keyField.slice(keyField.indexOf(':') + 1),
      };
    });
  }

  /** Drops grants the database has recorded from the sweep's list. */
  async forgetGrants(saleId: bigint, purchaseIds: readonly bigint[]): Promise<void> {
    if (purchaseIds.length > 0) await this.#redis.hdel(grantsKey(saleId), ...purchaseIds.map(String));
  }

  /**
   * Gives a stranded grant's unit back to the sale and its user's count, once: true when this call did (false:
   * already given back, or the state was rebuilt from the database since, which left it out anyway).
   */
  async reclaim(saleId: bigint, purchaseId: bigint): Promise<boolean> {
    const [state, users] = keysOf(saleId);
    return (await reclaimScript(this.#redis, [state, users, grantsKey(saleId)], [String(purchaseId)])) === 1;
  }

  /**
   * A rejected purchase, readable by id for a day. Not part of the buy script: the key is the purchase's, on
   * another Cluster slot than the sale's. Most of a crowd is rejected, and its answers come back from Redis
   * many at once: the records of all the rejections decided in one turn of the event loop go out as one
   * pipeline (one socket write instead of one per buyer). The pipeline is written in a microtask queued by the
   * turn's first rejection, so before any of those buyers' answers can be sent; the connection keeps order, so
   * a read by id through it afterwards finds the record. (A Cluster client would need one pipeline per slot.)
   */
  rememberRejection(purchase: RejectedPurchase): Promise<void> {
    const value = JSON.stringify({
      flashSaleId: String(purchase.flashSaleId),
      userId: String(purchase.userId),
      quantity: purchase.quantity,
      reason: purchase.reason,
    });
    let batch = this.#rejections;
    if (!batch) {
      const entries: [key: string, value: string][] = [];
      batch = this.#rejections = {
        entries,
        written: Promise.resolve().then(() => {
          this.#rejections = undefined;
          return this.#writeRejections(entries);
        }),
      };
    }
    batch.entries.push([rejectedKey(purchase.id), value]);
    return batch.written;
  }

  async #writeRejections(entries: readonly [string, string][]): Promise<void> {
    if (entries.length === 1) {
      const [key, value] = entries[0]!;
      await this.#redis.set(key, value, 'EX', REJECTED_TTL_SECONDS);
      return;
    }
    const pipeline = this.#redis.pipeline();
    for (const [key, value] of entries) pipeline.set(key, value, 'EX', REJECTED_TTL_SECONDS);
    const failed = (await pipeline.exec())?.find(([err]) => err)?.[0];
    if (failed) throw failed;
  }

  async rejected(id: bigint): Promise<RejectedPurchase | null> {
    const text = await this.#redis.get(rejectedKey(id));
    if (!text) return null;
    const stored = JSON.parse(text) as { flashSaleId: string; userId: string; quantity: number; reason: RejectReason };
    return {
      id,
      flashSaleId: BigInt(stored.flashSaleId),
      userId: BigInt(stored.userId),
      quantity: stored.quantity,
      reason: stored.reason,
    };
  }

  /** Units Redis can still grant, or null when the sale is not loaded. */
  async remaining(saleId: bigint): Promise<number | null> {
    const value = await this.#redis.hget(keysOf(saleId)[0], 'remaining');
    return value === null ? null : Number(value);
  }
}
