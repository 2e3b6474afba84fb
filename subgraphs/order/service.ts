import { type EventData, type EventEnvelope, type EventType, writeOutbox } from '@mall/events';
import {
  AppError,
  createByIdLoader,
  decodeId,
  decodeIdOrNotFound,
  defineKeyset,
  forbidden,
  hasRole,
  invalidState,
  type KeysetQuery,
  keysetQuery,
  type Logger,
  notFound,
  type Page,
  type PageInput,
  type RequestScope,
  requireCallerId,
  requireOwnerOrAdmin,
  requireRole,
  requireService,
  toKeysetPage,
  withTransaction,
} from '@mall/platform';
import type DataLoader from 'dataloader';
import type { Redis } from 'ioredis';
import type { OrderConfig } from './config.ts';
import type { PrismaClient } from './data/generated/client.ts';
import { OrderNumbers } from './data/order-numbers.ts';
import * as orders from './data/orders.ts';
import { actorOf, cancelReasonFor, canRead, ORDER_CREATORS, ORDER_PAYER } from './domain/access.ts';
import {
  type CancelReason,
  type NewOrder,
  type Order,
  type OrderStatus,
  orderNumber,
  parseNewOrder,
  paymentDeadline,
  type StatusChange,
} from './domain/order.ts';
import { type OrderCommand, orderMachine } from './domain/state-machine.ts';
import * as events from './events/producers.ts';

export type OrderLoader = DataLoader<bigint, Order | null>;

export type ExpiryOutcome = 'cancelled' | 'early' | 'settled';

/** What a use case needs from the request: the platform's scope and the request's DataLoader. */
export interface OrderScope extends RequestScope {
  readonly orderById: OrderLoader;
}

export interface OrderConnection extends Page<Order> {
  /** A function, so the count query runs only when a client selects `totalCount`. */
  readonly totalCount: () => Promise<number>;
}

/** A user as other subgraphs reference it: `User.orders` needs only the id. */
export interface UserReference {
  readonly id: string;
}

export interface OrdersArgs extends PageInput {
  readonly status?: OrderStatus | null;
  /** ADMIN only: another user's orders. */
  readonly userId?: string | null;
}

export interface OrderServiceDeps {
  readonly prisma: PrismaClient;
  /** Shared client (keys prefixed with MALL_REDIS_PREFIX): the order-number counters. */
  readonly redis: Redis;
  readonly ids: { next(): bigint };
  /** Schedules each order's payment deadline (BullMQ); a failure is logged, the sweep is the safety net. */
  readonly expiry: { schedule(orderId: bigint, expiresAt: Date): Promise<void> };
  readonly settings: Pick<OrderConfig, 'paymentTimeoutSeconds'>;
  readonly logger: Logger;
}

const NEWEST = defineKeyset({ name: 'newest', field: 'createdAt', kind: 'date', direction: 'desc' });
const SYSTEM_EXPIRY = 'system:expiry';
/** A flash-sale buyer may buy without an address; the order then carries this one until they give theirs. */
const ADDRESS_TO_BE_PROVIDED = {
  recipient: 'to be provided',
  phone: 'to be provided',
  line1: 'to be provided',
  city: 'to be provided',
  country: 'to be provided',
};
/** How often placeOrder asks for another number when the database refuses one (only after a Redis flush). */
const NUMBER_ATTEMPTS = 5;

interface TransitionRequest {
  readonly command: OrderCommand;
  readonly actor: string;
  readonly requestId: string;
  /** For `cancel`: why, decided from the current row (the owner cancels as USER, anyone else as ADMIN). */
  readonly reason?: (order: Order) => CancelReason;
  /** Runs on the current row before anything changes: access checks that need the owner. */
  readonly authorize?: (order: Order) => void;
  /** The outbox event of the step, built from the order as it was before it. */
  readonly event: (order: Order, at: Date, reason: CancelReason | null) => EventEnvelope<EventType>;
}

/**
 * The order subgraph's use cases: access checks, validation, and every status change through the one state
 * machine, each in one transaction with its history row and outbox event. No network I/O inside a transaction.
 */
export class OrderService {
  readonly #prisma: PrismaClient;
  readonly #deps: OrderServiceDeps;
  readonly #numbers: OrderNumbers;

  constructor(deps: OrderServiceDeps) {
    this.#prisma = deps.prisma;
    this.#deps = deps;
    this.#numbers = new OrderNumbers(deps.redis, deps.prisma);
  }

  /** A fresh per-request batch loader of orders by id (no access check: callers check). */
  createLoader(): OrderLoader {
    return createByIdLoader(
      (ids) => orders.findByIds(this.#prisma, ids),
      (order) => order.id,
    );
  }

  // ---------- reads ----------

  /** The caller's own order, any order for an ADMIN; everything else is NOT_FOUND. */
  async order(scope: OrderScope, id: string): Promise<Order> {
    requireCallerId(scope.identity);
    const order = await scope.orderById.load(decodeIdOrNotFound(id, 'Order'));
    if (!order) throw notFound('Order');
    requireOwnerOrAdmin(scope.identity, order.userId, 'Order');
    return order;
  }

  /** Entity reference from another subgraph: same visibility as `order(id)`, but null instead of an error. */
  async reference(scope: OrderScope, id: string): Promise<Order | null> {
    const orderId = decodeId(id);
    const order = orderId === null ? null : await scope.orderById.load(orderId);
    return order && canRead(scope.identity, order.userId) ? order : null;
  }

  /** The caller's orders, newest first; an ADMIN may name a user (or leave it out: every user's). */
  async orders(scope: OrderScope, args: OrdersArgs): Promise<OrderConnection> {
    const callerId = requireCallerId(scope.identity);
    const isAdmin = hasRole(scope.identity, 'ADMIN');
    if (args.userId != null && !isAdmin) throw forbidden('Requires role ADMIN to list another user’s orders');
    const userId = args.userId != null ? decodeIdOrNotFound(args.userId, 'User') : isAdmin ? null : callerId;
    return this.#list(scope, { userId, status: args.status ?? null }, keysetQuery(NEWEST, args));
  }

  /** `User.orders`: the owner's own, or any user's for an ADMIN; NOT_FOUND otherwise. */
  async userOrders(scope: OrderScope, userId: string, args: OrdersArgs): Promise<OrderConnection> {
    const id = decodeIdOrNotFound(userId, 'User');
    requireOwnerOrAdmin(scope.identity, id, 'User');
    return this.#list(scope, { userId: id, status: args.status ?? null }, keysetQuery(NEWEST, args));
  }

  async #list(
    scope: OrderScope,
    filter: orders.OrderFilter,
    page: KeysetQuery<'createdAt', 'date'>,
  ): Promise<OrderConnection> {
    const rows = await orders.list(this.#prisma, filter, page);
    for (const row of rows) scope.orderById.prime(row.id, row);
    return { ...toKeysetPage(NEWEST, rows, page.first), totalCount: () => orders.count(this.#prisma, filter) };
  }

  // ---------- internal, for payment ----------

  /** What the payment subgraph needs to charge an order: owner, status, total. Only `payment` may ask. */
  async orderForPayment(scope: OrderScope, id: string): Promise<Order | null> {
    requireService(scope.identity, ORDER_PAYER);
    const orderId = decodeId(id);
    return orderId === null ? null : scope.orderById.load(orderId);
  }

  // ---------- internal, for checkout (and flash sale) ----------

  /**
   * Records an order checkout has priced and reserved stock for, under the id checkout chose. Idempotent per
   * id: a retry (or a concurrent duplicate) returns the order that exists. Writes `order.created` in the same
   * transaction and then schedules the payment deadline.
   */
  async placeOrder(scope: OrderScope, input: unknown): Promise<Order> {
    requireService(scope.identity, ...ORDER_CREATORS);
    return this.#place(parseNewOrder(input), actorOf(scope.identity), scope.requestId);
  }

  /**
   * A flash-sale grant (`flashsale.purchase_granted`) becomes a PENDING_PAYMENT order at the sale price, under
   * the purchase's id, so a redelivery finds it and changes nothing. Its units came out of stock when the sale
   * was created: it reserves nothing. Without an address the buyer gave, the order's reads "to be provided".
   */
  async placeFlashSaleOrder(grant: EventData<'flashsale.purchase_granted'>, requestId: string): Promise<Order> {
    const requested = parseNewOrder({
      orderId: grant.purchaseId,
      userId: grant.userId,
      lines: [
        {
          productId: grant.productId,
          quantity: grant.quantity,
          unitPriceAmount: grant.unitPrice.amount,
          currency: grant.unitPrice.currency,
          name: grant.productName ?? `Flash sale ${grant.flashSaleId}`,
        },
      ],
      shippingAddress: grant.shippingAddress ?? ADDRESS_TO_BE_PROVIDED,
      note: null,
    });
    return this.#place({ ...requested, flashSalePurchaseId: requested.id }, 'service:flashsale', requestId);
  }

  async #place(requested: NewOrder, actor: string, requestId: string): Promise<Order> {
    // No read first: a repeat is rare (a retry, a repair, a redelivered grant), and the insert below tells it
    // apart anyway; it only leaves a gap in the day's serial, which numbers may have.
    for (let attempt = 1; ; attempt++) {
      const createdAt = new Date();
      // Redis, before the statement that writes the order.
      const number = await this.#numbers.next(createdAt, { reseed: attempt > 1 });
      const expiresAt = paymentDeadline(createdAt, this.#deps.settings.paymentTimeoutSeconds);
      const row = { order: requested, numberDay: number.day, numberSerial: number.serial, expiresAt, createdAt };
      const created: StatusChange = {
        id: this.#deps.ids.next(),
        status: 'PENDING_PAYMENT',
        previousStatus: null,
        reason: null,
        actor,
        at: createdAt,
      };
      // The order as it will be inserted: reading it back would cost more queries per checkout.
      const order: Order = {
        id: requested.id,
        number: orderNumber(number.day, number.serial),
        userId: requested.userId,
        status: 'PENDING_PAYMENT',
        total: requested.total,
        lines: requested.lines,
        shippingAddress: requested.shippingAddress,
        note: requested.note,
        history: [created],
        flashSalePurchaseId: requested.flashSalePurchaseId ?? null,
        expiresAt,
        createdAt,
        updatedAt: createdAt,
      };
      // The order, its lines, its first history row and order.created in one statement: all or nothing.
      const placed = (await orders.insertOrderIfAbsent(
        this.#prisma,
        row,
        created,
        events.orderCreated(order, requestId),
      ))
        ? order
        : null;
      if (placed) {
        await this.#scheduleExpiry(placed);
        return placed;
      }
      // Nothing inserted: either the id exists (a concurrent retry won) or the number was taken.
      const raced = await orders.findById(this.#prisma, requested.id);
      if (raced) return sameOwner(raced, requested.userId);
      if (attempt >= NUMBER_ATTEMPTS) throw new Error(`no free order number after ${attempt} attempts`);
      this.#deps.logger.warn({ number: number.text }, 'order number taken (Redis lost its counter?); reseeding');
    }
  }

  async #scheduleExpiry(order: Order): Promise<void> {
    try {
      await this.#deps.expiry.schedule(order.id, order.expiresAt);
    } catch (err) {
      this.#deps.logger.warn({ err, orderId: String(order.id) }, 'could not schedule the order expiry; the sweep will');
    }
  }

  // ---------- status changes ----------

  /** The owner while unpaid (reason USER), or an ADMIN (reason ADMIN). */
  cancelOrder(scope: OrderScope, id: string): Promise<Order> {
    requireCallerId(scope.identity);
    return this.#transition(decodeIdOrNotFound(id, 'Order'), {
      command: 'cancel',
      actor: actorOf(scope.identity),
      requestId: scope.requestId,
      reason: (order) => cancelReasonFor(scope.identity, order.userId),
      authorize: (order) => requireOwnerOrAdmin(scope.identity, order.userId, 'Order'),
      event: (order, at, reason) => events.orderCancelled(order, reason ?? 'USER', at, scope.requestId),
    }).then(this.#forgetIn(scope));
  }

  shipOrder(
    scope: OrderScope,
    id: string,
    shipment: { carrier?: string | null; trackingNumber?: string | null },
  ): Promise<Order> {
    requireRole(scope.identity, 'ADMIN');
    const details = {
      carrier: shipment.carrier?.trim() || null,
      trackingNumber: shipment.trackingNumber?.trim() || null,
    };
    return this.#transition(decodeIdOrNotFound(id, 'Order'), {
      command: 'ship',
      actor: actorOf(scope.identity),
      requestId: scope.requestId,
      event: (order, at) => events.orderShipped(order, details, at, scope.requestId),
    }).then(this.#forgetIn(scope));
  }

  completeOrder(scope: OrderScope, id: string): Promise<Order> {
    requireRole(scope.identity, 'ADMIN');
    return this.#transition(decodeIdOrNotFound(id, 'Order'), {
      command: 'complete',
      actor: actorOf(scope.identity),
      requestId: scope.requestId,
      event: (order, at) => events.orderCompleted(order, at, scope.requestId),
    }).then(this.#forgetIn(scope));
  }

  /**
   * A payment succeeded (`payment.succeeded`): PENDING_PAYMENT → PAID in the consumer's transaction, with the
   * processed-event mark. An order already paid (a redelivery that slipped past the mark) is left as it is;
   * one cancelled meanwhile stays CANCELLED: the payment subgraph refunds a success for a cancelled order.
   */
  async paymentSucceeded(
    tx: orders.Tx,
    payment: { readonly orderId: string; readonly paymentId: string },
    requestId: string,
  ): Promise<Order | null> {
    const id = decodeId(payment.orderId);
    const current = id === null ? null : await orders.findById(tx, id);
    if (!current || !orderMachine.can('pay', current.status)) {
      this.#deps.logger.warn({ ...payment, status: current?.status }, 'payment for an order that cannot be paid');
      return null;
    }
    const paid = await this.#transitionIn(tx, current.id, this.#payRequest(payment.paymentId, requestId));
    // The row changed under us: throwing rolls back and the consumer retries on the fresh row.
    if (!paid) throw new Error(`order ${payment.orderId} changed while being paid`);
    return paid;
  }

  /**
   * A payment of a PAID order was refunded (`payment.refunded`): PAID → REFUNDED with `order.refunded`, which
   * the product subgraph acts on to return the stock. A refund of an order that was never paid (the late
   * success after a cancellation) leaves it as it is.
   */
  async paymentRefunded(
    tx: orders.Tx,
    refund: { readonly orderId: string; readonly paymentId: string; readonly kind?: 'ORDER' | 'UNAPPLIED' },
    requestId: string,
  ): Promise<Order | null> {
    if (refund.kind === 'UNAPPLIED') return null;
    const id = decodeId(refund.orderId);
    const current = id === null ? null : await orders.findById(tx, id);
    if (!current || !orderMachine.can('refund', current.status)) return null;
    const refunded = await this.#transitionIn(tx, current.id, {
      command: 'refund',
      actor: `service:${ORDER_PAYER}`,
      requestId,
      event: (order, at) => events.orderRefunded(order, refund, at, requestId),
    });
    if (!refunded) throw new Error(`order ${refund.orderId} changed while being refunded`);
    return refunded;
  }

  /** PENDING_PAYMENT → PAID on its own transaction (tests, until payments arrive by event). */
  markPaid(orderId: bigint, payment: { paymentId: string; requestId: string }): Promise<Order> {
    return this.#transition(orderId, this.#payRequest(payment.paymentId, payment.requestId));
  }

  #payRequest(paymentId: string, requestId: string): TransitionRequest {
    return {
      command: 'pay',
      actor: `service:${ORDER_PAYER}`,
      requestId,
      event: (order, at) => events.orderPaid(order, paymentId, at, requestId),
    };
  }

  /**
   * The payment deadline passed: cancels with reason TIMEOUT if the order is still unpaid. Called by the BullMQ
   * job and by the sweep, possibly on several instances at once; only one of them cancels (and writes the one
   * event). `early` when the deadline is still ahead (a job run by a clock a little ahead), `settled` when
   * there is nothing left to do (paid, cancelled or unknown).
   */
  async expire(orderId: bigint, requestId = `expiry-${orderId}`): Promise<ExpiryOutcome> {
    const order = await orders.findById(this.#prisma, orderId);
    if (!order || !orderMachine.can('cancel', order.status)) return 'settled';
    if (order.expiresAt > new Date()) return 'early';
    try {
      await this.#transition(orderId, {
        command: 'cancel',
        reason: () => 'TIMEOUT',
        actor: SYSTEM_EXPIRY,
        requestId,
        event: (current, at) => events.orderCancelled(current, 'TIMEOUT', at, requestId),
      });
      return 'cancelled';
    } catch (error) {
      // Paid or cancelled meanwhile, by another path or instance: nothing left to expire.
      if (error instanceof AppError && error.code === 'INVALID_STATE') return 'settled';
      throw error;
    }
  }

  /** The safety net: expires unpaid orders past their deadline that no job cancelled. Returns how many. */
  async sweepExpired(limit = 200): Promise<number> {
    let cancelled = 0;
    for (const id of await orders.findExpiredIds(this.#prisma, new Date(), limit))
      if ((await this.expire(id, `expiry-sweep-${id}`)) === 'cancelled') cancelled++;
    if (cancelled > 0) this.#deps.logger.info({ cancelled }, 'expiry sweep cancelled overdue orders');
    return cancelled;
  }

  /**
   * Applies one command through the state machine: read, plan (INVALID_STATE when the table or a guard says
   * no), conditional UPDATE, history row, outbox event, in one transaction. When a concurrent change wins
   * between the read and the UPDATE, runs once more on the fresh row, which then answers truthfully.
   */
  async #transition(id: bigint, request: TransitionRequest): Promise<Order> {
    for (let attempt = 1; ; attempt++) {
      const changed = await withTransaction(this.#prisma, (tx) => this.#transitionIn(tx, id, request));
      if (changed) return changed;
      if (attempt >= 3) throw invalidState('The order is changing; try again');
    }
  }

  /** One attempt in the caller's transaction: the changed order, or null when a concurrent change won. */
  async #transitionIn(tx: orders.Tx, id: bigint, request: TransitionRequest): Promise<Order | null> {
    const current = await orders.findById(tx, id);
    if (!current) throw notFound('Order');
    request.authorize?.(current);
    const at = new Date();
    const reason = request.reason?.(current) ?? null;
    const step = await orderMachine.apply(
      request.command,
      current.status,
      { now: at, expiresAt: current.expiresAt, reason },
      {
        compareAndSet: (from, to) => orders.compareAndSetStatus(tx, id, from, to, at),
        record: async (planned) => {
          await orders.insertStatusChange(tx, id, {
            id: this.#deps.ids.next(),
            status: planned.to,
            previousStatus: planned.from,
            reason,
            actor: request.actor,
            at,
          });
          await writeOutbox(tx, request.event(current, at, reason));
        },
      },
    );
    return step && orders.findById(tx, id);
  }

  /** After a change, the request's loader must not answer the order as it was. */
  #forgetIn(scope: OrderScope) {
    return (order: Order): Order => {
      scope.orderById.clear(order.id).prime(order.id, order);
      return order;
    };
  }
}

/** A placeOrder retry for an id that exists must be for the same customer; anything else is checkout's bug. */
function sameOwner(order: Order, userId: bigint): Order {
  if (order.userId !== userId) throw invalidState('An order with this id exists for another user');
  return order;
}
