import { type EventEnvelope, writeOutbox } from '@mall/events';
import {
  AppError,
  badUserInput,
  conflict,
  decodeId,
  decodeIdOrNotFound,
  type Logger,
  notFound,
  requireService,
  withTransaction,
} from '@mall/platform';
import { Counter, type Registry } from 'prom-client';
import type { PrismaClient } from './data/generated/client.ts';
import type { Tx } from './data/products.ts';
import * as stock from './data/stock.ts';
import type { ProductEntry } from './domain/catalog.ts';
import { STOCK_MAX } from './domain/catalog.ts';
import {
  parseReservationLines,
  type ReleaseReason,
  type Reservation,
  type ReservationLine,
  sameLines,
} from './domain/stock.ts';
import * as events from './events/producers.ts';
import { lockManagedProduct, type ProductScope, requireMerchantId } from './service.ts';

/** Peers that may hold and settle stock: the checkout saga, the order subgraph and flash sales. */
export const STOCK_CALLERS = ['checkout', 'order', 'flashsale'] as const;

export interface InventoryServiceDeps {
  readonly prisma: PrismaClient;
  readonly nextId: () => bigint;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly reservationLeaseSeconds: number;
  readonly lowStockThreshold: number;
}

type Settlement = 'commit' | 'release';

/**
 * How long a reservation may wait for a pooled connection in a rush on one product (its transactions queue on
 * the row's lock). The product's pool waits as long (`poolWaitMs`), or the pool's own 2 s would cut it short.
 */
export const RESERVATION_WAIT_MS = 10_000;

/**
 * Stock levels and reservations. Every movement is a conditional UPDATE on the product row inside the
 * transaction that writes its stock.events to the outbox. None touches the product cache: it holds no stock
 * (`ProductEntry`), so a reservation costs no Redis round trip and a cached product never shows stale stock.
 */
export class InventoryService {
  readonly #prisma: PrismaClient;
  readonly #nextId: () => bigint;
  readonly #logger: Logger;
  readonly #leaseMs: number;
  readonly #lowStock: number;
  readonly #reservations: Counter<'operation' | 'outcome'>;

  constructor(deps: InventoryServiceDeps) {
    this.#prisma = deps.prisma;
    this.#nextId = deps.nextId;
    this.#logger = deps.logger;
    this.#leaseMs = deps.reservationLeaseSeconds * 1000;
    this.#lowStock = deps.lowStockThreshold;
    this.#reservations = new Counter({
      name: 'product_reservations_total',
      help: 'Reservation operations by outcome: reserve (held, repeated, out_of_stock), commit/release/expire/return (changed, unchanged)',
      labelNames: ['operation', 'outcome'] as const,
      registers: [deps.registry],
    });
  }

  // ---------- public: merchants ----------

  async adjustStock(scope: ProductScope, productId: string, delta: number): Promise<ProductEntry> {
    const callerId = requireMerchantId(scope.identity);
    const id = decodeIdOrNotFound(productId, 'Product');
    if (!Number.isSafeInteger(delta) || Math.abs(delta) > STOCK_MAX)
      throw badUserInput('Invalid input: delta: out of range', [
        { field: 'delta', message: `must be an integer between -${STOCK_MAX} and ${STOCK_MAX}` },
      ]);
    await withTransaction(this.#prisma, async (tx) => {
      const current = await lockManagedProduct(tx, scope.identity, id, callerId);
      if (delta === 0) return;
      const available = await stock.adjustAvailable(tx, id, delta);
      if (available === null)
        throw badUserInput('Invalid input: delta: stock cannot go below zero', [
          { field: 'delta', message: `would take stock below zero (available ${current.stock})` },
        ]);
      await writeOutbox(
        tx,
        this.#levelEvents({ productId: id, available, delta, reason: 'ADJUSTED' }, scope.requestId),
      );
    });
    // Stock is not in the product cache: nothing to invalidate, only this request's own read of it.
    scope.stockOf.clear(id);
    const product = await scope.productById.load(id);
    if (!product) throw notFound('Product');
    return product;
  }

  // ---------- internal: checkout, order, flash sales ----------

  /**
   * Holds every line's quantity for the order, or nothing: the first line without enough stock rolls the whole
   * transaction back (OUT_OF_STOCK). Idempotent per order id; lines lock their products in product id order.
   */
  async reserveStock(
    scope: ProductScope,
    orderId: string,
    linesInput: unknown,
    leaseEnd?: Date | null,
  ): Promise<Reservation> {
    requireService(scope.identity, ...STOCK_CALLERS);
    const order = decodeOrderId(orderId);
    const lines = parseReservationLines(linesInput, decodeId);
    const expiresAt = leaseEnd ? checkLeaseEnd(leaseEnd) : new Date(Date.now() + this.#leaseMs);
    // Refused without a transaction when a line is already short: under a rush on a sold-out product the
    // refusals then cost one read each instead of a pooled connection queueing on the product's row lock.
    // Only an early answer; the conditional UPDATE below still decides. A retry of a reservation already made
    // is answered from it: here when stock has run short since, otherwise by #hold's insert finding its row (so
    // a first call, the usual case, reads nothing more).
    const productIds = lines.map((line) => line.productId);
    const short = firstShortLine(lines, await stock.availableToBuy(this.#prisma, productIds));
    if (short) {
      const existing = await stock.findReservation(this.#prisma, order);
      if (existing) return this.#repeated(existing, lines);
      throw this.#outOfStock(short.line, short.available);
    }
    const reservation: Reservation = {
      id: this.#nextId(),
      orderId: order,
      status: 'HELD',
      expiresAt,
      lines,
    };
    // A rush of checkouts on one product queues on its row lock: wait longer than usual for a pooled connection
    // and for the lock (each holder keeps it for a few statements; the statement timeout still bounds a stuck one).
    const outcome = await withTransaction(this.#prisma, (tx) => this.#hold(tx, reservation, scope.requestId), {
      maxWait: RESERVATION_WAIT_MS,
      timeout: 15_000,
    });
    if (!outcome) {
      const winner = await stock.findReservation(this.#prisma, order);
      if (!winner) throw new Error(`reservation of order ${order} vanished`);
      return this.#repeated(winner, lines);
    }
    this.#reservations.inc({ operation: 'reserve', outcome: 'held' });
    return outcome;
  }

  async commitReservation(scope: ProductScope, orderId: string): Promise<Reservation> {
    requireService(scope.identity, ...STOCK_CALLERS);
    return this.#settleNow('commit', decodeOrderId(orderId), scope.requestId);
  }

  async releaseReservation(scope: ProductScope, orderId: string): Promise<Reservation> {
    requireService(scope.identity, ...STOCK_CALLERS);
    return this.#settleNow('release', decodeOrderId(orderId), scope.requestId);
  }

  /**
   * A flash sale ended: of its one-line reservation `keepQuantity` units are sold and the rest go back on the
   * shelf, in one transaction with the events, exactly once (HELD → COMMITTED decides; a repeat changes
   * nothing and returns the reservation as it is).
   */
  async settleReservation(scope: ProductScope, orderId: string, keepQuantity: number): Promise<Reservation> {
    requireService(scope.identity, 'flashsale');
    const order = decodeOrderId(orderId);
    const settled = await withTransaction(this.#prisma, async (tx) => {
      const held = await stock.findReservation(tx, order);
      if (!held) throw notFound('Reservation');
      const [line, ...others] = held.lines;
      if (
        !line ||
        others.length > 0 ||
        !Number.isSafeInteger(keepQuantity) ||
        keepQuantity < 0 ||
        keepQuantity > line.quantity
      )
        throw badUserInput('Invalid input: keepQuantity', [
          { field: 'keepQuantity', message: 'must be 0 up to the quantity of a one-line reservation' },
        ]);
      const { reservation, changed } = await stock.moveReservation(tx, order, 'HELD', 'COMMITTED', null);
      this.#reservations.inc({ operation: 'commit', outcome: changed ? 'changed' : 'unchanged' });
      if (!changed) return reservation ?? held;
      await stock.consumeHeldStock(tx, line.productId, keepQuantity);
      const back = line.quantity - keepQuantity;
      // stock.committed names what was sold (nothing when nothing was); the rest moves the level up again.
      const sold = { ...held, lines: [{ ...line, quantity: keepQuantity }] };
      const outbox: EventEnvelope[] = keepQuantity > 0 ? [events.stockCommitted(sold, scope.requestId)] : [];
      if (back > 0) {
        const available = await stock.returnHeldStock(tx, line.productId, back);
        outbox.push(
          ...this.#levelEvents(
            { productId: line.productId, available, delta: back, reason: 'RELEASED' },
            scope.requestId,
          ),
        );
      }
      await writeOutbox(tx, outbox);
      return reservation ?? held;
    });
    return settled;
  }

  // ---------- from order.events (the consumer's transaction) ----------

  /**
   * Settles a reservation inside a consumer's transaction (committed with its processed_events mark).
   */
  async settleInTransaction(tx: Tx, settlement: Settlement, orderId: bigint, traceId: string): Promise<void> {
    const { reservation } = await this.#settle(tx, settlement, orderId, 'CANCELLED', traceId);
    if (!reservation && settlement === 'commit')
      this.#logger.warn({ orderId: String(orderId) }, 'order.paid for an order with no reservation; nothing to commit');
  }

  /**
   * A refunded order's sold units go back on the shelf (order.refunded), inside the consumer's transaction:
   * COMMITTED → RETURNED exactly once (the conditional update decides; a repeat finds nothing COMMITTED), each
   * line back into `available` with its stock.changed (RETURNED) and level events. An order without a committed
   * reservation (a flash-sale order, one never reserved, or one whose order.paid was dead-lettered and whose
   * reservation the lease releases) returns nothing. order.paid always comes first: both are keyed by order id,
   * so they share a partition; the order subgraph writes order.refunded only after the transaction that wrote
   * order.paid committed, its relay publishes in outbox order, and this consumer handles a partition in order,
   * retrying a failing event in place.
   */
  async returnInTransaction(tx: Tx, orderId: bigint, traceId: string): Promise<void> {
    const { reservation, changed } = await stock.moveReservation(tx, orderId, 'COMMITTED', 'RETURNED', null);
    this.#reservations.inc({ operation: 'return', outcome: changed ? 'changed' : 'unchanged' });
    if (!reservation || !changed) {
      if (reservation?.status !== 'RETURNED')
        this.#logger.info(
          { orderId: String(orderId), status: reservation?.status ?? null },
          'order.refunded for an order with no committed reservation; nothing to return',
        );
      return;
    }
    const outbox: EventEnvelope[] = [];
    for (const line of reservation.lines) {
      const available = await stock.returnSoldStock(tx, line.productId, line.quantity);
      // Only past the column's range (a merchant added ~2^31 units since): roll back and let the consumer retry.
      if (available === null) throw new Error(`cannot return ${line.quantity} units to product ${line.productId}`);
      const movement = { productId: line.productId, available, delta: line.quantity, reason: 'RETURNED' as const };
      outbox.push(...this.#levelEvents(movement, traceId));
    }
    await writeOutbox(tx, outbox);
  }

  /**
   * A flash-sale order cancelled after its sale was settled (flashsale.purchase_released, returnedTo STOCK): its
   * units were counted sold by the settlement, so they go back on the shelf here, inside the consumer's
   * transaction (its processed_events mark makes it once; flashsale writes that event once per purchase). Had
   * the settlement's product side not run yet, the sum still holds: it sells the frozen count (this unit
   * included) from the held units and shelves the rest.
   */
  async returnFlashSaleUnits(tx: Tx, line: ReservationLine, traceId: string): Promise<void> {
    const available = await stock.returnSoldStock(tx, line.productId, line.quantity);
    // Only past the column's range (a merchant added ~2^31 units since): roll back and let the consumer retry.
    if (available === null) throw new Error(`cannot return ${line.quantity} units to product ${line.productId}`);
    const movement = { productId: line.productId, available, delta: line.quantity, reason: 'RETURNED' as const };
    await writeOutbox(tx, this.#levelEvents(movement, traceId));
    this.#reservations.inc({ operation: 'return', outcome: 'changed' });
  }

  // ---------- the lease ----------

  /**
   * Releases every HELD reservation whose lease has passed, each in its own transaction with its events. Rows
   * another instance is releasing are skipped (SKIP LOCKED), so sweeps running everywhere never collide. How
   * many this call released.
   */
  async releaseExpired(now = new Date(), limit = 500): Promise<number> {
    let released = 0;
    while (released < limit) {
      const found = await withTransaction(this.#prisma, async (tx) => {
        const orderId = await stock.lockOneExpired(tx, now);
        if (orderId === null) return false;
        await this.#settle(tx, 'release', orderId, 'EXPIRED', `lease-${orderId}`);
        return true;
      });
      if (!found) break;
      released++;
    }
    if (released) this.#logger.info({ released }, 'released reservations whose lease expired');
    return released;
  }

  // ---------- helpers ----------

  /** The reservation recorded and every line held, or null when the order already has one (a concurrent call's). */
  async #hold(tx: Tx, reservation: Reservation, traceId: string): Promise<Reservation | null> {
    const { lines } = reservation;
    // Recorded and held in one statement, which locks the products' rows until COMMIT: on a hot product every
    // statement after it is time the next buyer waits, so only the outbox insert follows.
    const outcome = await stock.reserveLines(tx, reservation);
    if (!outcome.recorded) return null;
    const short = lines.find((line) => !outcome.held.has(line.productId));
    // Thrown, the transaction rolls back: the reservation, its lines and any line already held.
    if (short) throw this.#outOfStock(short, outcome.before.get(short.productId) ?? 0);
    const outbox: EventEnvelope[] = [events.stockReserved(reservation, traceId)];
    for (const line of lines) {
      const available = outcome.held.get(line.productId) as number;
      const movement = { productId: line.productId, available, delta: -line.quantity, reason: 'RESERVED' as const };
      outbox.push(...this.#levelEvents(movement, traceId));
    }
    await writeOutbox(tx, outbox);
    return reservation;
  }

  async #settleNow(settlement: Settlement, orderId: bigint, traceId: string): Promise<Reservation> {
    const { reservation } = await withTransaction(this.#prisma, (tx) =>
      this.#settle(tx, settlement, orderId, 'CANCELLED', traceId),
    );
    if (!reservation) throw notFound('Reservation');
    return reservation;
  }

  /**
   * HELD → COMMITTED or RELEASED, exactly once: the conditional UPDATE in moveReservation decides, so a repeat,
   * or the other settlement arriving later, finds nothing HELD and changes nothing. Releasing an order that has no
   * reservation yet records a RELEASED one without lines, so a reserveStock arriving after the cancellation
   * holds nothing.
   */
  async #settle(
    tx: Tx,
    settlement: Settlement,
    orderId: bigint,
    reason: ReleaseReason,
    traceId: string,
  ): Promise<{ reservation: Reservation | null; changed: boolean }> {
    const to = settlement === 'commit' ? 'COMMITTED' : 'RELEASED';
    const result = await stock.moveReservation(tx, orderId, 'HELD', to, to === 'RELEASED' ? reason : null);
    const operation = settlement === 'commit' ? 'commit' : reason === 'EXPIRED' ? 'expire' : 'release';
    this.#reservations.inc({ operation, outcome: result.changed ? 'changed' : 'unchanged' });
    const { reservation } = result;
    if (!reservation) {
      if (settlement === 'commit') return result;
      const tombstone = { id: this.#nextId(), orderId, status: 'RELEASED' as const, expiresAt: new Date() };
      await stock.insertReservationIfAbsent(tx, { ...tombstone, reason });
      return { reservation: (await stock.findReservation(tx, orderId)) ?? { ...tombstone, lines: [] }, changed: false };
    }
    if (!result.changed) return result;
    if (settlement === 'commit') {
      for (const line of reservation.lines) await stock.consumeHeldStock(tx, line.productId, line.quantity);
      await writeOutbox(tx, events.stockCommitted(reservation, traceId));
      return result;
    }
    const outbox: EventEnvelope[] = [events.stockReleased(reservation, reason, traceId)];
    for (const line of reservation.lines) {
      const available = await stock.returnHeldStock(tx, line.productId, line.quantity);
      const movement = {
        productId: line.productId,
        available,
        delta: line.quantity,
        reason: reason === 'EXPIRED' ? ('EXPIRED' as const) : ('RELEASED' as const),
      };
      outbox.push(...this.#levelEvents(movement, traceId));
    }
    await writeOutbox(tx, outbox);
    return result;
  }

  #levelEvents(movement: events.StockMovement, traceId: string) {
    return events.stockLevelEvents(movement, this.#lowStock, traceId);
  }

  /** A retry gets the reservation as it is; the same order id with other lines is a caller's bug: CONFLICT. */
  #repeated(existing: Reservation, lines: readonly ReservationLine[]): Reservation {
    // A tombstone (released before it was ever reserved) answers every retry: nothing is held for that order.
    if (existing.lines.length > 0 && !sameLines(existing.lines, lines))
      throw conflict('This order already has a reservation with other lines', { orderId: String(existing.orderId) });
    this.#reservations.inc({ operation: 'reserve', outcome: 'repeated' });
    return existing;
  }

  #outOfStock(line: ReservationLine, available: number): AppError {
    this.#reservations.inc({ operation: 'reserve', outcome: 'out_of_stock' });
    return new AppError('OUT_OF_STOCK', 'Not enough stock for this product', {
      productId: String(line.productId),
      requested: line.quantity,
      available,
    });
  }
}

/** The first line asking for more than `available` shows (a missing product has none), with what it has. */
function firstShortLine(
  lines: readonly ReservationLine[],
  available: Map<bigint, number>,
): { line: ReservationLine; available: number } | null {
  for (const line of lines) {
    const have = available.get(line.productId) ?? 0;
    if (have < line.quantity) return { line, available: have };
  }
  return null;
}

/** A lease end given by the caller (a flash sale's): in the future and at most 60 days ahead. */
const MAX_LEASE_MS = 60 * 24 * 3600 * 1000;
function checkLeaseEnd(at: Date): Date {
  const ahead = at.getTime() - Date.now();
  if (!(ahead > 0 && ahead <= MAX_LEASE_MS))
    throw badUserInput('Invalid input: expiresAt', [{ field: 'expiresAt', message: 'must be in the next 60 days' }]);
  return at;
}

function decodeOrderId(orderId: string): bigint {
  const id = decodeId(orderId);
  if (id === null)
    throw badUserInput('Invalid input: orderId: not an order id', [{ field: 'orderId', message: 'not an order id' }]);
  return id;
}
