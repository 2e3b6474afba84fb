import { writeOutbox } from '@mall/events';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  conflict,
  createByIdLoader,
  decodeId,
  decodeIdOrNotFound,
  type IdempotencyRequest,
  invalidState,
  type Logger,
  notFound,
  type RequestScope,
  releaseIdempotencyKey,
  requireCallerId,
  requireOwnerOrAdmin,
  requireRole,
  type ServiceClient,
  withTransaction,
} from '@mall/platform';
import { ownsOrAdmin } from '@mall/platform/access';
import { money } from '@mall/platform/money';
import type DataLoader from 'dataloader';
import type { PrismaClient } from './data/generated/client.ts';
import { findOrderToPay } from './data/orders.ts';
import * as payments from './data/payments.ts';
import {
  type CallbackEvent,
  type Payment,
  type PaymentMethod,
  type ProviderName,
  parsePayInput,
  type Refund,
  type RefundKind,
  sameAmount,
} from './domain/payment.ts';
import { paymentMachine } from './domain/state-machine.ts';
import * as events from './events/producers.ts';
import { CallbackRefused, type CallbackReply, type PaymentProvider, type RawCallback } from './providers/provider.ts';

/** An order as other subgraphs reference it: `Order.payment` needs only the id. */
export interface OrderReference {
  readonly id: string;
}

export type PaymentLoader = DataLoader<bigint, Payment | null>;

export interface PaymentScope extends RequestScope {
  readonly paymentById: PaymentLoader;
  /** Order id → its newest payment (Order.payment). */
  readonly paymentByOrder: PaymentLoader;
}

/** The providers: the one that takes each method, and every configured one by name (callbacks, refunds). */
export interface Providers {
  forMethod(method: PaymentMethod): PaymentProvider;
  byName(name: ProviderName): PaymentProvider | undefined;
}

export interface PaymentServiceDeps {
  readonly prisma: PrismaClient;
  readonly ids: { next(): bigint };
  readonly providers: Providers;
  /** The order subgraph, called as `payment` for `orderForPayment`. */
  readonly orders: ServiceClient;
  readonly logger: Logger;
}

const SYSTEM = 'system:payment';
const UNFINISHED_REFUNDS_BATCH = 50;

/** The stored outcome of a pay request: the payment's id (the payment itself is read fresh). */
type PayResult = { readonly paymentId: string };

/**
 * The payment subgraph's use cases. Every status change goes through `paymentMachine`, with its outbox event,
 * in one transaction; provider calls (network) happen between transactions, never inside one.
 */
export class PaymentService {
  readonly #prisma: PrismaClient;
  readonly #deps: PaymentServiceDeps;

  constructor(deps: PaymentServiceDeps) {
    this.#prisma = deps.prisma;
    this.#deps = deps;
  }

  createLoaders(): Pick<PaymentScope, 'paymentById' | 'paymentByOrder'> {
    return {
      paymentById: createByIdLoader(
        (ids) => payments.findByIds(this.#prisma, ids),
        (payment) => payment.id,
      ),
      paymentByOrder: createByIdLoader(
        (ids) => payments.newestForOrders(this.#prisma, ids),
        (payment) => payment.orderId,
      ),
    };
  }

  // ---------- reads ----------

  /** The owner's payment, any for an ADMIN; everything else is NOT_FOUND. */
  async payment(scope: PaymentScope, id: string): Promise<Payment> {
    requireCallerId(scope.identity);
    const payment = await scope.paymentById.load(decodeIdOrNotFound(id, 'Payment'));
    if (!payment) throw notFound('Payment');
    requireOwnerOrAdmin(scope.identity, payment.userId, 'Payment');
    return payment;
  }

  /** Entity reference: same visibility as `payment(id)`, but null instead of an error. */
  async reference(scope: PaymentScope, id: string): Promise<Payment | null> {
    const paymentId = decodeId(id);
    const payment = paymentId === null ? null : await scope.paymentById.load(paymentId);
    return payment && ownsOrAdmin(scope.identity, payment.userId) ? payment : null;
  }

  /** `Order.payment`: the order's newest payment, for its owner or an ADMIN. */
  async orderPayment(scope: PaymentScope, orderId: string): Promise<Payment | null> {
    const id = decodeId(orderId);
    const payment = id === null ? null : await scope.paymentByOrder.load(id);
    return payment && ownsOrAdmin(scope.identity, payment.userId) ? payment : null;
  }

  // ---------- pay ----------

  /**
   * Opens a payment for the caller's PENDING_PAYMENT order, for the order's total (never the client's). Once
   * per idempotency key: the key is claimed first, so a retry answers the same payment and a concurrent
   * duplicate is CONFLICT; a failure releases the key for a retry.
   */
  async pay(scope: PaymentScope, input: unknown): Promise<Payment> {
    const userId = requireCallerId(scope.identity);
    const { orderId, method, idempotencyKey } = parsePayInput(input);
    const request: IdempotencyRequest = {
      scope: `user:${userId}`,
      operation: 'pay',
      key: idempotencyKey,
      input: { orderId, method },
    };
    const claim = await claimIdempotencyKey<PayResult>(this.#prisma, request);
    if (claim.state === 'completed') return this.#existing(BigInt(claim.result.paymentId));
    if (claim.state === 'pending') throw conflict('A payment with this idempotency key is still being opened');
    try {
      const payment = await this.#open(scope, userId, orderId, method);
      await withTransaction(this.#prisma, async (tx) => {
        await payments.insertPayment(tx, payment);
        await completeIdempotencyKey(tx, request, { paymentId: String(payment.id) });
      });
      return this.#existing(payment.id);
    } catch (error) {
      await releaseIdempotencyKey(this.#prisma, request);
      throw error;
    }
  }

  async #open(scope: PaymentScope, userId: bigint, orderId: string, method: PaymentMethod) {
    const orderKey = decodeIdOrNotFound(orderId, 'Order');
    const order = await findOrderToPay(this.#deps.orders, { requestId: scope.requestId }, String(orderKey));
    // Someone else's order is as absent as one that does not exist.
    if (!order || order.userId !== String(userId)) throw notFound('Order');
    if (order.status !== 'PENDING_PAYMENT')
      throw invalidState(`Order is ${order.status}; only an order awaiting payment can be paid`, {
        status: order.status,
      });
    const provider = this.#deps.providers.forMethod(method);
    const id = this.#deps.ids.next();
    const amount = money(order.total.amount, order.total.currency);
    const opened = await provider.createPayment({ paymentId: id, amount, description: `Order ${order.id}` });
    return { id, orderId: orderKey, userId, method, provider: provider.name, amount, ...opened };
  }

  async #existing(id: bigint): Promise<Payment> {
    const payment = await payments.findById(this.#prisma, id);
    if (!payment) throw new Error(`payment ${id} recorded for an idempotency key is missing`);
    return payment;
  }

  // ---------- refunds ----------

  /** ADMIN: refunds a SUCCEEDED payment in full (its PAID order becomes REFUNDED). Repeating it is harmless. */
  async refundPayment(scope: PaymentScope, paymentId: string, reason: string | null | undefined): Promise<Payment> {
    requireRole(scope.identity, 'ADMIN');
    const id = decodeIdOrNotFound(paymentId, 'Payment');
    const note = reason?.trim().slice(0, 500) || null;
    const refunded = await this.refund(id, {
      reason: note,
      kind: 'ORDER',
      actor: `admin:${scope.identity.userId}`,
      requestId: scope.requestId,
    });
    scope.paymentById.clear(id);
    return refunded;
  }

  /**
   * The refund saga: (1) the refund row (its id is the provider's idempotency key; an existing one is reused),
   * (2) the provider's refund, (3) SUCCEEDED → REFUNDED with `payment.refunded`. A crash between 2 and 3
   * leaves the row REQUESTED; the retry asks the provider again with the same key, which refunds once.
   */
  async refund(
    id: bigint,
    request: { reason: string | null; kind: RefundKind; actor: string; requestId: string },
  ): Promise<Payment> {
    const started = await withTransaction(this.#prisma, async (tx) => {
      const payment = await payments.findById(tx, id);
      if (!payment) throw notFound('Payment');
      if (payment.status === 'REFUNDED') return null;
      paymentMachine.plan('refund', payment.status, undefined);
      const refund = await payments.ensureRefund(tx, { id: this.#deps.ids.next(), payment, ...request });
      return { payment, refund };
    });
    if (!started) return this.#existing(id);
    const { payment, refund } = started;
    await this.#provider(payment.provider).refund({
      idempotencyKey: String(refund.id),
      providerReference: payment.providerReference,
      amount: refund.amount,
      reason: refund.reason,
    });
    await withTransaction(this.#prisma, (tx) => this.#completeRefund(tx, refund, request.requestId));
    return this.#existing(id);
  }

  async #completeRefund(tx: payments.Tx, refund: Refund, requestId: string): Promise<void> {
    const current = await payments.findById(tx, refund.paymentId);
    // Another instance finished it meanwhile.
    if (!current || current.status === 'REFUNDED') return;
    const at = new Date();
    await paymentMachine.apply('refund', current.status, undefined, {
      compareAndSet: (from, to) => payments.compareAndSetStatus(tx, current.id, from, to),
      record: async () => {
        await payments.completeRefund(tx, refund.id, at);
        await writeOutbox(tx, events.paymentRefunded(current, refund, at, requestId));
      },
    });
  }

  /** Finishes refunds left REQUESTED (a crash, a provider outage, or asked for by `order.cancelled`). */
  async finishRefunds(): Promise<number> {
    let finished = 0;
    for (const paymentId of await payments.unfinishedRefundPaymentIds(this.#prisma, UNFINISHED_REFUNDS_BATCH)) {
      try {
        await this.refund(paymentId, {
          reason: null,
          kind: 'UNAPPLIED',
          actor: SYSTEM,
          requestId: `refund-${paymentId}`,
        });
        finished++;
      } catch (err) {
        this.#deps.logger.warn({ err, paymentId: String(paymentId) }, 'refund not finished; will retry');
      }
    }
    return finished;
  }

  // ---------- events ----------

  /**
   * `order.cancelled`: remembered, and any payment of the order that succeeded (it cannot have paid a
   * cancelled order) is set to be refunded; `finishRefunds` calls the provider outside this transaction.
   */
  async orderCancelled(tx: payments.Tx, orderId: string, cancelledAt: Date): Promise<void> {
    const id = decodeId(orderId);
    if (id === null) return;
    await payments.lockOrder(tx, id);
    await payments.markOrderCancelled(tx, id, cancelledAt);
    for (const payment of await payments.succeededForOrder(tx, id))
      await payments.ensureRefund(tx, {
        id: this.#deps.ids.next(),
        payment,
        reason: 'LATE_PAYMENT',
        kind: 'UNAPPLIED',
        actor: SYSTEM,
      });
  }

  // ---------- callbacks ----------

  /**
   * A provider's callback: verified (a bad signature or stale timestamp is refused and changes nothing), stored
   * and deduplicated by event id, checked against the payment's amount, then applied through the machine. A
   * success for an order that was cancelled, or already paid by another payment, is refunded at once.
   */
  async handleCallback(name: ProviderName, callback: RawCallback, requestId: string): Promise<CallbackReply | null> {
    const provider = this.#deps.providers.byName(name);
    if (!provider) return null;
    let event: ReturnType<PaymentProvider['parseCallback']>;
    try {
      event = provider.parseCallback(callback);
    } catch (error) {
      if (!(error instanceof CallbackRefused)) throw error;
      this.#deps.logger.warn({ provider: name, reason: error.message }, 'payment callback refused');
      return provider.refused(error.message);
    }
    const taken = await withTransaction(this.#prisma, (tx) =>
      this.#takeCallback(tx, provider, event, callback.body, requestId),
    );
    if (taken.refund) await this.#refundNow(taken.refund, requestId);
    if (taken.refused) this.#deps.logger.warn({ provider: name, reason: taken.refused }, 'payment callback refused');
    return taken.refused ? provider.refused(taken.refused) : provider.accepted;
  }

  async #takeCallback(
    tx: payments.Tx,
    provider: PaymentProvider,
    event: CallbackEvent | { readonly eventId: string; readonly outcome: 'ignored' },
    body: Buffer,
    requestId: string,
  ): Promise<{ refused?: string; refund?: bigint }> {
    const key = { provider: provider.name, eventId: event.eventId } as const;
    if (!(await payments.insertCallback(tx, { id: this.#deps.ids.next(), ...key, body: body.toString('utf8') }))) {
      const before = await payments.callbackOutcome(tx, key.provider, key.eventId);
      return before === 'refused' ? { refused: 'Callback was refused before' } : {};
    }
    const record = (outcome: string, paymentId: bigint | null = null) =>
      payments.recordCallbackOutcome(tx, key.provider, key.eventId, { outcome, paymentId });
    if (event.outcome === 'ignored') {
      await record('ignored');
      return {};
    }
    const found = await payments.findByReference(tx, provider.name, event.providerReference);
    if (!found) {
      await record('refused');
      return { refused: 'Unknown payment' };
    }
    if (!sameAmount(event.amount, found.amount)) {
      await record('refused', found.id);
      return { refused: 'Amount does not match the payment' };
    }
    await payments.lockOrder(tx, found.orderId);
    const payment = await payments.findById(tx, found.id);
    const command = event.outcome === 'succeeded' ? 'succeed' : 'fail';
    if (!payment || !paymentMachine.can(command, payment.status)) {
      await record('ignored', found.id);
      return {};
    }
    const at = new Date();
    const step = await paymentMachine.apply(command, payment.status, undefined, {
      compareAndSet: (from, to) => payments.compareAndSetStatus(tx, payment.id, from, to, event.reason),
      record: () =>
        writeOutbox(
          tx,
          command === 'succeed'
            ? events.paymentSucceeded(payment, at, requestId)
            : events.paymentFailed(payment, event.reason ?? 'FAILED', at, requestId),
        ),
    });
    // The order lock makes this unreachable; if it is reached, roll back and let the provider deliver again.
    if (!step) throw new Error(`payment ${payment.id} changed under the order lock`);
    await record(event.outcome, payment.id);
    if (command === 'fail' || !(await payments.orderSettledElsewhere(tx, payment.orderId, payment.id))) return {};
    const refund = await payments.ensureRefund(tx, {
      id: this.#deps.ids.next(),
      payment,
      reason: 'LATE_PAYMENT',
      kind: 'UNAPPLIED',
      actor: SYSTEM,
    });
    return { refund: refund.paymentId };
  }

  /** After the callback committed: refunds a late success now; if that fails, `finishRefunds` retries. */
  async #refundNow(paymentId: bigint, requestId: string): Promise<void> {
    try {
      await this.refund(paymentId, { reason: 'LATE_PAYMENT', kind: 'UNAPPLIED', actor: SYSTEM, requestId });
    } catch (err) {
      this.#deps.logger.warn({ err, paymentId: String(paymentId) }, 'late payment refund failed; will retry');
    }
  }

  #provider(name: ProviderName): PaymentProvider {
    const provider = this.#deps.providers.byName(name);
    if (!provider) throw new Error(`payment provider ${name} is not configured`);
    return provider;
  }
}
