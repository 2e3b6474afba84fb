import { writeOutbox } from '@mall/events';
import {
  conflict,
  decodeId,
  decodeIdOrNotFound,
  forbidden,
  hasRole,
  type Logger,
  notFound,
  type RequestScope,
  rateLimited,
  requireCallerId,
  requireOwnerOrAdmin,
  unavailable,
  withTransaction,
} from '@mall/platform';
import { money } from '@mall/platform/money';
import type { PrismaClient } from './data/generated/client.ts';
import type { ProductClient } from './data/product-client.ts';
import type { BuyAttempt, BuyOutcome, KeyRecord, ListedGrant, SaleStore } from './data/sale-store.ts';
import * as sales from './data/sales.ts';
import { type FlashSale, type Purchase, parseBuyRequest, parseNewFlashSale, windowAt } from './domain/sale.ts';
import * as events from './events/producers.ts';

export interface FlashSaleServiceDeps {
  readonly prisma: PrismaClient;
  readonly store: SaleStore;
  readonly products: ProductClient;
  readonly ids: { next(): bigint };
  readonly logger: Logger;
  /** The clock (tests move it; everything else uses the real one). */
  readonly now?: () => number;
}

/** The product reservation holding a sale's units outlives the sale by this much, so settlement finds it HELD. */
const RESERVATION_MARGIN_MS = 7 * 24 * 3600 * 1000;
const MAX_LIST = 100;

/** A database write refused the grant: the sale's sold count is full. Thrown to roll the grant back. */
class SoldOutInDatabase extends Error {}

/**
 * How long a grant may wait for a pooled connection: the first moments of a sale queue up to its quantity of
 * grants on the sale's row. The flashsale pool waits as long (`poolWaitMs`), or its own 2 s would cut it short.
 */
export const GRANT_WAIT_MS = 10_000;

/**
 * A grant Redis made that the database still has not recorded after this long is stranded: its buy stopped
 * between the script and its transaction (the instance died, or the reply was lost and the buyer never came
 * back). Far longer than any buy takes (the router gives a request 15 s); the database arbitrates a buy that
 * is later still, so this only decides how soon the unit is offered again.
 */
export const STRANDED_AFTER_MS = 60_000;

/**
 * Flash sales: creation takes the units out of the product's stock; a buy is one Redis script (window, limits,
 * key, units) and, for a grant only, one short transaction (purchase row, sold-count guard, outbox event), so
 * the database sees at most as many writes as the sale has units. Orders are made from the events.
 */
export class FlashSaleService {
  readonly #prisma: PrismaClient;
  readonly #deps: FlashSaleServiceDeps;
  readonly #store: SaleStore;
  readonly #now: () => number;
  /** A sale's fields never change after creation (only `sold` and `settledAt`, read from the database). */
  readonly #sales = new Map<bigint, FlashSale>();

  constructor(deps: FlashSaleServiceDeps) {
    this.#prisma = deps.prisma;
    this.#deps = deps;
    this.#store = deps.store;
    this.#now = deps.now ?? Date.now;
  }

  // ---------- merchants ----------

  /**
   * MERCHANT (of their own product) or ADMIN. Reserves the units at the product subgraph under the sale's id
   * (OUT_OF_STOCK when it has too few), records the sale, loads it into Redis. A sale that cannot be recorded
   * gives its units back.
   */
  async createFlashSale(scope: RequestScope, input: unknown): Promise<FlashSale> {
    const callerId = requireCallerId(scope.identity);
    const isAdmin = hasRole(scope.identity, 'ADMIN');
    if (!isAdmin && !hasRole(scope.identity, 'MERCHANT')) throw forbidden('Requires role MERCHANT or ADMIN');
    const request = parseNewFlashSale(input);
    const call = { requestId: scope.requestId, userId: String(callerId) };
    const product = await this.#deps.products.product(call, request.productId);
    if (!product || (!isAdmin && product.merchantId !== String(callerId))) throw notFound('Product');
    const sale: FlashSale = {
      id: this.#deps.ids.next(),
      productId: request.productId,
      productName: product.name,
      createdBy: callerId,
      price: money(request.priceAmount, product.currency),
      quantity: request.quantity,
      sold: 0,
      perUserLimit: request.perUserLimit,
      startsAt: request.startsAt,
      endsAt: request.endsAt,
      settledAt: null,
    };
    const leaseEnd = new Date(sale.endsAt.getTime() + RESERVATION_MARGIN_MS);
    await this.#deps.products.reserve(call, sale.id, sale.productId, sale.quantity, leaseEnd);
    try {
      await withTransaction(this.#prisma, (tx) => sales.insertSale(tx, sale));
    } catch (error) {
      await this.#deps.products.release(call, sale.id).catch((err: unknown) => {
        this.#deps.logger.error({ err, saleId: String(sale.id) }, 'could not give back a failed sale’s units');
      });
      throw error;
    }
    this.#sales.set(sale.id, sale);
    await this.#loadQuietly(sale);
    return sale;
  }

  // ---------- reads ----------

  async flashSale(id: string): Promise<FlashSale | null> {
    const saleId = decodeId(id);
    return saleId === null ? null : sales.findSale(this.#prisma, saleId);
  }

  /** Upcoming and running sales, the soonest to end first (at most `first`, 1–100). */
  async flashSales(first: number | null | undefined): Promise<FlashSale[]> {
    const take = Math.min(Math.max(first ?? 20, 1), MAX_LIST);
    return sales.listOpen(this.#prisma, new Date(this.#now()), take);
  }

  /** Units still to be had: Redis's live count while the sale is loaded, else the database's. */
  async remaining(sale: FlashSale): Promise<number> {
    if (sale.settledAt || windowAt(sale, new Date(this.#now())) === 'ENDED') return 0;
    const live = await this.#store.remaining(sale.id).catch(() => null);
    return live ?? sale.quantity - sale.sold;
  }

  /** The caller's own purchase (any for an ADMIN); everything else is NOT_FOUND. */
  async purchase(scope: RequestScope, id: string): Promise<Purchase> {
    requireCallerId(scope.identity);
    const purchaseId = decodeIdOrNotFound(id, 'FlashSalePurchase');
    const purchase = (await sales.findPurchase(this.#prisma, purchaseId)) ?? (await this.#rejected(purchaseId));
    if (!purchase) throw notFound('FlashSalePurchase');
    requireOwnerOrAdmin(scope.identity, purchase.userId, 'FlashSalePurchase');
    return purchase;
  }

  // ---------- buying ----------

  /**
   * One script call decides: NOT_ACTIVE, LIMIT_EXCEEDED, SOLD_OUT (answered at once, nothing written to the
   * database), the first answer again for a repeated key, or a grant. A grant is recorded with the sold-count
   * guard and its event in one transaction, then answered PENDING; the order follows from the event.
   */
  async buy(scope: RequestScope, input: unknown): Promise<Purchase> {
    const userId = requireCallerId(scope.identity);
    const request = parseBuyRequest(input);
    const sale = await this.#sale(request.flashSaleId);
    const purchaseId = this.#deps.ids.next();
    const attempt = {
      saleId: sale.id,
      userId,
      idempotencyKey: request.idempotencyKey,
      quantity: request.quantity,
      purchaseId,
      clientIp: scope.identity.clientIp,
    };
    let outcome = await this.#scriptOnce({ ...attempt, now: this.#now() });
    // Missing: never loaded, flushed, or dropped by a grant the database refused meanwhile; reload and retry.
    for (let reloads = 0; outcome.kind === 'missing' && reloads < 3; reloads++) {
      await this.rebuild(sale.id);
      outcome = await this.#scriptOnce({ ...attempt, now: this.#now() });
    }
    if (outcome.kind === 'missing') throw unavailable('The sale is being loaded; retry shortly');
    if (outcome.kind === 'rate_limited') throw rateLimited(outcome.retryAfterSeconds);
    const { record } = outcome;
    const view = { flashSaleId: sale.id, userId, orderId: null };
    if (outcome.kind === 'replay') {
      if (record.quantity !== request.quantity)
        throw conflict('This idempotency key was already used with a different input', { field: 'idempotencyKey' });
      if (record.status === 'REJECTED') return { ...view, ...record, status: 'REJECTED' };
      const recorded = await sales.findPurchase(this.#prisma, record.id);
      if (recorded) return recorded;
      // Granted in Redis and never recorded: the buy that won the unit stopped between the script and the
      // database (its Redis reply came too late, or its instance went away). Answering PENDING from Redis alone
      // would leave the buyer PENDING for ever with no order and the unit lost to the sale, so the grant is
      // recorded now. Safe if that buy is still in flight: the purchase's unique key lets one of them record it.
      return this.#recordGrant(scope, sale, { ...view, ...record, status: 'PENDING' }, request, { replay: true });
    }
    if (record.status === 'REJECTED') {
      const rejected: Purchase = { ...view, ...record, status: 'REJECTED' };
      // Not awaited: most of a crowd is answered here, and the answer need not wait for a second round trip.
      // This client sends commands in order, so a read by id through it later finds the record.
      void this.#rememberRejection(rejected);
      return rejected;
    }
    return this.#recordGrant(scope, sale, { ...view, ...record, status: 'PENDING' }, request);
  }

  /**
   * The buy script, once. When the call fails (under overload, mostly the client's command time-out), the
   * script may still have run: Redis runs a connection's commands in order, so one look at the caller's key
   * afterwards says whether it did. If it did, its outcome stands, as if the reply had come in time; a grant is
   * then recorded rather than left taken in Redis and never sold. Else the failure is the caller's answer
   * (UNAVAILABLE: a retry with the same key is safe, and finds a late grant through the replay path).
   */
  async #scriptOnce(attempt: BuyAttempt): Promise<BuyOutcome> {
    try {
      return await this.#store.buy(attempt);
    } catch (error) {
      const record = await this.#store.answerOf(attempt).catch(() => null);
      if (!record) throw error;
      return { kind: record.id === attempt.purchaseId ? 'new' : 'replay', record };
    }
  }

  async #recordGrant(
    scope: RequestScope,
    sale: FlashSale,
    purchase: Purchase,
    request: ReturnType<typeof parseBuyRequest>,
    options: { replay?: boolean } = {},
  ): Promise<Purchase> {
    const grant = { userId: purchase.userId, quantity: purchase.quantity, idempotencyKey: request.idempotencyKey };
    try {
      const recorded = async (tx: sales.Tx) => {
        const row = { ...grant, id: purchase.id, flashSaleId: sale.id };
        if (!(await sales.insertPurchaseIfAbsent(tx, row)))
          return sales.findPurchaseByKey(tx, { flashSaleId: sale.id, ...grant });
        const at = new Date(this.#now());
        await writeOutbox(tx, events.purchaseGranted(sale, purchase, { ...request, at }, scope.requestId));
        // Last, so the sale's row stays locked only for this statement and the commit: every grant of the
        // sale queues on it.
        if (!(await sales.takeUnits(tx, sale.id, purchase.quantity))) throw new SoldOutInDatabase();
        return null;
      };
      // The first moments of a sale queue up to `quantity` grants on one row: wait longer for a connection.
      const existing = await withTransaction(this.#prisma, recorded, { maxWait: GRANT_WAIT_MS });
      if (!existing) return purchase;
      // A replay took no unit of its own: the buy it repeats recorded this purchase meanwhile. And a purchase
      // with this very id was recorded by someone else (a replay of its key, or the stranded-grant sweep):
      // this grant's unit is accounted for there, so nothing goes back to Redis.
      if (options.replay || existing.id === purchase.id) return existing;
      // Redis forgot this key (flushed) and granted again: the database's purchase is the answer; the unit
      // Redis took for the repeat goes back.
      const answer: KeyRecord = {
        status: 'PENDING',
        reason: null,
        id: existing.id,
        quantity: existing.quantity,
      };
      await this.#store.giveBack(sale.id, grant, { toRemaining: true, answer, rebuild: false });
      if (existing.quantity !== purchase.quantity)
        throw conflict('This idempotency key was already used with a different input', { field: 'idempotencyKey' });
      return existing;
    } catch (error) {
      if (error instanceof SoldOutInDatabase) {
        // Redis granted a unit the sale no longer has (it lost writes): the database's count wins, the key
        // answers SOLD_OUT from now on, and the sale's state is reloaded from the database.
        this.#deps.logger.warn({ saleId: String(sale.id) }, 'Redis granted past the sold count; reloading the sale');
        const rejected: Purchase = { ...purchase, status: 'REJECTED', reason: 'SOLD_OUT' };
        await this.#store.giveBack(sale.id, grant, { toRemaining: false, answer: asRecord(rejected), rebuild: true });
        await this.#rememberRejection(rejected);
        return rejected;
      }
      // Nothing was recorded: the unit and the key go back, so a retry with the key may buy again.
      await this.#store
        .giveBack(sale.id, grant, { toRemaining: true, answer: null, rebuild: false })
        .catch((err: unknown) => this.#deps.logger.warn({ err }, 'could not give a failed grant back to Redis'));
      throw error;
    }
  }

  // ---------- from order.events (the consumer's transaction) ----------

  /** `order.created` of a flash-sale order: PENDING → CONFIRMED with its order (a repeat changes nothing). */
  async confirmIn(tx: sales.Tx, purchaseId: string, orderId: string): Promise<void> {
    const purchase = decodeId(purchaseId);
    const order = decodeId(orderId);
    if (purchase === null || order === null) return;
    await sales.compareAndSetPurchase(tx, purchase, ['PENDING'], { status: 'CONFIRMED', orderId: order });
  }

  /**
   * `order.cancelled` of a flash-sale order (timeout, user, admin): the purchase is RELEASED and its units go
   * back exactly once, to one place. While the sale is not settled they leave the sold count (the settlement
   * then shelves them with the other unsold units); once it is (`settled_at` froze the count), the release
   * event says STOCK and the product subgraph puts them back on the shelf. Both conditional UPDATEs touch the
   * sale's row, so a release racing the settlement's freeze is ordered by its lock: either before (SALE) or
   * after (STOCK), never both, never neither. Returns what Redis must be given back after the commit, or null.
   */
  async releaseIn(
    tx: sales.Tx,
    purchaseId: string,
    orderId: string,
    traceId: string,
  ): Promise<{ saleId: bigint; userId: bigint; quantity: number; toRemaining: boolean } | null> {
    const id = decodeId(purchaseId);
    const order = decodeId(orderId);
    if (id === null || order === null) return null;
    const purchase = await sales.compareAndSetPurchase(tx, id, ['PENDING', 'CONFIRMED'], {
      status: 'RELEASED',
      orderId: order,
    });
    if (!purchase) return null;
    const returnedTo = await sales.returnUnits(tx, purchase.flashSaleId, purchase.quantity);
    const sale = await this.#sale(purchase.flashSaleId);
    const release = { reason: 'ORDER_CANCELLED', productId: sale.productId, returnedTo };
    await writeOutbox(tx, events.purchaseReleased(purchase, release, traceId));
    const running = returnedTo === 'SALE' && windowAt(sale, new Date(this.#now())) !== 'ENDED';
    return { saleId: sale.id, userId: purchase.userId, quantity: purchase.quantity, toRemaining: running };
  }

  /** After the release committed: the user's count always, and the unit to `remaining` while the sale runs. */
  async releaseInRedis(released: { saleId: bigint; userId: bigint; quantity: number; toRemaining: boolean }) {
    const grant = { userId: released.userId, quantity: released.quantity, idempotencyKey: null };
    try {
      await this.#store.giveBack(released.saleId, grant, { ...released, answer: null, rebuild: false });
    } catch (err) {
      // Redis then holds one unit too few until the sale is reloaded: never too many.
      this.#deps.logger.warn({ err, saleId: String(released.saleId) }, 'could not return a unit to Redis');
    }
  }

  // ---------- settlement ----------

  /**
   * Every ended sale's stock, once: its sold count is frozen, the product subgraph keeps that many units of
   * the reservation and shelves the rest (exactly once on its side too), then the sale is marked settled.
   * A failure leaves the sale for the next round. How many sales this call settled.
   */
  async settleEnded(limit = 50): Promise<number> {
    const now = new Date(this.#now());
    let settled = 0;
    for (const id of await sales.endedUnsettledIds(this.#prisma, now, limit)) {
      const sold = await sales.freezeSold(this.#prisma, id, now);
      await this.#deps.products.settle({ requestId: `flashsale-settle-${id}` }, id, sold);
      await sales.markStockSettled(this.#prisma, id, new Date(this.#now()));
      settled++;
    }
    return settled;
  }

  // ---------- stranded grants ----------

  /**
   * Gives back the units of grants Redis made and the database never recorded (`STRANDED_AFTER_MS`), for every
   * running sale, so another buyer can have them. Each is first recorded RELEASED with no order (its key's
   * retry then answers that), in one transaction with its event: the purchase id's uniqueness settles a race
   * with a late buy or a retry recording the same grant, and only the side that recorded it acts. The unit
   * goes back to Redis after the commit, once (the grants list names it until then); a sweep that stopped in
   * between finds the RELEASED row with no order next time and finishes. Returns how many it gave back.
   */
  async reclaimStranded(): Promise<number> {
    const now = this.#now();
    let reclaimed = 0;
    for (const sale of await sales.running(this.#prisma, new Date(now))) {
      const grants = await this.#store.grants(sale.id);
      if (grants.length === 0) continue;
      const recorded = await sales.purchaseStates(
        this.#prisma,
        grants.map((g) => g.purchaseId),
      );
      const seen: bigint[] = [];
      for (const grant of grants) {
        const row = recorded.get(grant.purchaseId);
        if (row && !(row.status === 'RELEASED' && row.orderId === null)) {
          seen.push(grant.purchaseId);
          continue;
        }
        if (!row && grant.grantedAt > now - STRANDED_AFTER_MS) continue;
        if (!row && !(await this.#recordStranded(sale, grant))) {
          seen.push(grant.purchaseId);
          continue;
        }
        if (await this.#store.reclaim(sale.id, grant.purchaseId)) {
          reclaimed++;
          this.#deps.logger.warn(
            { saleId: String(sale.id), purchaseId: String(grant.purchaseId), userId: String(grant.userId) },
            'a grant never recorded in the database went back to the sale',
          );
        }
      }
      await this.#store.forgetGrants(sale.id, seen);
    }
    return reclaimed;
  }

  /** Records a stranded grant as RELEASED (no unit taken); false when its purchase was recorded meanwhile. */
  async #recordStranded(sale: FlashSale, grant: ListedGrant): Promise<boolean> {
    const purchase: Purchase = {
      id: grant.purchaseId,
      flashSaleId: sale.id,
      userId: grant.userId,
      quantity: grant.quantity,
      status: 'RELEASED',
      reason: null,
      orderId: null,
    };
    return withTransaction(this.#prisma, async (tx) => {
      const { userId, quantity, idempotencyKey } = grant;
      const row = {
        id: grant.purchaseId,
        flashSaleId: sale.id,
        userId,
        quantity,
        idempotencyKey,
        status: 'RELEASED' as const,
      };
      if (!(await sales.insertPurchaseIfAbsent(tx, row))) return false;
      const release = { reason: 'GRANT_NOT_RECORDED', productId: sale.productId, returnedTo: 'SALE' as const };
      await writeOutbox(tx, events.purchaseReleased(purchase, release, `flashsale-sweep-${grant.purchaseId}`));
      return true;
    });
  }

  // ---------- Redis state ----------

  /** Reloads a sale's counters from the database: remaining = quantity − sold, and each user's units. */
  async rebuild(saleId: bigint): Promise<void> {
    const sale = await sales.findSale(this.#prisma, saleId);
    if (!sale) return;
    const users = await sales.unitsByUser(this.#prisma, saleId);
    // A recorded purchase's key answers that purchase (the buy then reads its current status from here).
    const purchases = (await sales.purchaseKeys(this.#prisma, saleId)).map((p) => ({
      ...p,
      status: 'PENDING' as const,
      reason: null,
    }));
    const remaining = sale.settledAt ? 0 : sale.quantity - sale.sold;
    await this.#store.load(saleId, { ...sale, remaining, users, purchases });
  }

  /** At start: every sale that has not ended is loaded (a sale whose state is there is left as it is). */
  async warm(): Promise<number> {
    const open = await sales.runningOrUpcoming(this.#prisma, new Date(this.#now()));
    for (const sale of open) await this.#loadQuietly(sale);
    return open.length;
  }

  async #loadQuietly(sale: FlashSale): Promise<void> {
    try {
      await this.rebuild(sale.id);
    } catch (err) {
      // The first buy finds the state missing and loads it then.
      this.#deps.logger.warn({ err, saleId: String(sale.id) }, 'could not load the sale into Redis');
    }
  }

  async #sale(id: bigint): Promise<FlashSale> {
    const cached = this.#sales.get(id);
    if (cached) return cached;
    const sale = await sales.findSale(this.#prisma, id);
    if (!sale) throw notFound('FlashSale');
    this.#sales.set(id, sale);
    return sale;
  }

  async #rememberRejection(purchase: Purchase): Promise<void> {
    await this.#store
      .rememberRejection(purchase)
      .catch((err: unknown) => this.#deps.logger.warn({ err }, 'could not remember a rejected purchase'));
  }

  async #rejected(id: bigint): Promise<Purchase | null> {
    const stored = await this.#store.rejected(id);
    return stored && { ...stored, status: 'REJECTED', orderId: null };
  }
}

const asRecord = (p: Purchase): KeyRecord => ({
  status: p.status === 'PENDING' ? 'PENDING' : 'REJECTED',
  reason: p.reason,
  id: p.id,
  quantity: p.quantity,
});
