import { setTimeout as delay } from 'node:timers/promises';
import {
  AppError,
  claimIdempotencyKey,
  completeIdempotencyKey,
  conflict,
  encodeId,
  type IdempotencyClaim,
  type IdempotencyRequest,
  isUniqueViolation,
  type Logger,
  purgeExpiredIdempotencyKeys,
  type RequestScope,
  releaseIdempotencyKey,
  requireCallerId,
  runSaga,
  SagaCompensationError,
  type SagaStep,
  type ServiceCallOptions,
  type SnowflakeGenerator,
  unavailable,
} from '@mall/platform';
import * as attempts from './data/attempts.ts';
import type { PrismaClient } from './data/generated/client.ts';
import * as peers from './data/peers.ts';
import { parseCheckoutInput, priceCart } from './domain/checkout.ts';

export type CheckoutScope = RequestScope;

/** What a completed key replays: the order's id (the router resolves the rest from the order subgraph). */
type CheckoutResult = { readonly orderId: string };

const OPERATION = 'checkout';
/** How long a request waits for another one with the same key to finish before answering CONFLICT. */
const PENDING_WAIT_MS = 10_000;
const PENDING_POLL_MS = 25;

export interface CheckoutServiceDeps {
  readonly prisma: PrismaClient;
  readonly peers: peers.Peers;
  readonly ids: SnowflakeGenerator;
  readonly logger: Logger;
  readonly abandonedAfterSeconds: number;
}

interface SagaContext {
  readonly call: ServiceCallOptions;
  readonly order: peers.OrderToPlace;
  /** Set once placeOrder may have taken effect: from then on the order is finished, never undone. */
  orderMayExist: boolean;
}

/** A refusal the peer made on purpose (it changed nothing), as opposed to a fault that leaves the effect unknown. */
const isRefusal = (error: unknown): boolean => error instanceof AppError && error.code !== 'UNAVAILABLE';

/**
 * The checkout use case: the caller's whole cart becomes one order, as a saga over the owners' APIs with an
 * idempotency key (see schema.graphql), and the repair of checkouts a crash left half done.
 */
export class CheckoutService {
  readonly #prisma: PrismaClient;
  readonly #peers: peers.Peers;
  readonly #ids: SnowflakeGenerator;
  readonly #logger: Logger;
  readonly #abandonedAfterMs: number;
  readonly #startedAt = new Date();

  constructor(deps: CheckoutServiceDeps) {
    this.#prisma = deps.prisma;
    this.#peers = deps.peers;
    this.#ids = deps.ids;
    this.#logger = deps.logger;
    this.#abandonedAfterMs = deps.abandonedAfterSeconds * 1000;
  }

  /** Returns the id of the order: the new one, or the one a first request with this key made. */
  async checkout(scope: CheckoutScope, input: unknown): Promise<string> {
    const userId = encodeId(requireCallerId(scope.identity));
    const { idempotencyKey, shippingAddress, note } = parseCheckoutInput(input);
    const key: IdempotencyRequest = {
      scope: `user:${userId}`,
      operation: OPERATION,
      key: idempotencyKey,
      input: { shippingAddress, note },
      pendingTimeoutSeconds: this.#abandonedAfterMs / 1000,
    };
    const claim = await this.#claim(key);
    if (claim.state === 'completed') return claim.result.orderId;

    const call = { requestId: scope.requestId, userId };
    const orderId = this.#ids.next();
    let order: peers.OrderToPlace;
    try {
      const lines = await peers.checkoutCart(this.#peers, call, userId);
      const products = lines.length
        ? await peers.productsByIds(
            this.#peers,
            call,
            lines.map((line) => line.productId),
          )
        : [];
      order = { orderId: encodeId(orderId), userId, lines: priceCart(lines, products), shippingAddress, note };
      await attempts.insert(
        this.#prisma,
        { orderId, scope: key.scope, operation: OPERATION, idempotencyKey, order },
        this.#ids.workerId,
      );
    } catch (error) {
      // A checkout of this key taken over from a crashed instance is still being finished by the repair.
      if (isUniqueViolation(error)) throw conflict('A checkout with this idempotency key is still in progress');
      await releaseIdempotencyKey(this.#prisma, key);
      throw error;
    }

    const context: SagaContext = { call, order, orderMayExist: false };
    try {
      await runSaga(this.#steps(orderId), context, { logger: scope.logger, name: 'checkout' });
    } catch (error) {
      // An order that may exist, or a reservation whose release failed, is left to the repair (it finishes the
      // one, releases the other); the key stays pending until then.
      if (context.orderMayExist || error instanceof SagaCompensationError)
        throw unavailable('Checkout is taking longer than expected; retry with the same key');
      await this.#settle(orderId, key, null);
      throw isRefusal(error) ? error : unavailable();
    }
    await this.#settle(orderId, key, { orderId: order.orderId });
    return order.orderId;
  }

  /**
   * Finishes or undoes the checkouts a crash left (this worker's from before it started, anyone's abandoned),
   * and purges expired idempotency keys. Returns how many checkouts it resolved.
   */
  async repair(): Promise<number> {
    const taken = await attempts.takeAbandoned(this.#prisma, {
      workerId: this.#ids.workerId,
      startedAt: this.#startedAt,
      staleBefore: new Date(Date.now() - this.#abandonedAfterMs),
      limit: 100,
    });
    let resolved = 0;
    for (const attempt of taken) {
      try {
        await this.#repairOne(attempt);
        resolved++;
      } catch (err) {
        // Left as it is: the next run tries again once it is abandoned again; the lease frees stock meanwhile.
        this.#logger.warn({ err, orderId: String(attempt.orderId) }, 'checkout repair failed; will retry');
      }
    }
    await purgeExpiredIdempotencyKeys(this.#prisma);
    return resolved;
  }

  async #repairOne(attempt: attempts.Attempt): Promise<void> {
    const { order } = attempt;
    const call = { requestId: `checkout-repair-${order.orderId}`, userId: order.userId };
    const key: IdempotencyRequest = {
      scope: attempt.scope,
      operation: attempt.operation,
      key: attempt.idempotencyKey,
      // The key's input is the request's address and note, which the attempt's order carries as parsed.
      input: { shippingAddress: order.shippingAddress, note: order.note },
    };
    if (attempt.stage === 'PLACING') {
      try {
        await peers.placeOrder(this.#peers, call, order);
        await this.#settle(attempt.orderId, key, { orderId: order.orderId });
        this.#logger.info({ orderId: order.orderId }, 'checkout repair: order finished');
        return;
      } catch (error) {
        if (!isRefusal(error)) throw error;
      }
    }
    await peers.releaseReservation(this.#peers, call, order.orderId);
    await this.#settle(attempt.orderId, key, null);
    this.#logger.info({ orderId: order.orderId }, 'checkout repair: reservation released');
  }

  /** Waits for a first request with the same key to finish (bounded), then answers what it did. */
  async #claim(key: IdempotencyRequest): Promise<IdempotencyClaim<CheckoutResult>> {
    const deadline = Date.now() + PENDING_WAIT_MS;
    for (;;) {
      const claim = await claimIdempotencyKey<CheckoutResult>(this.#prisma, key);
      if (claim.state !== 'pending') return claim;
      if (Date.now() >= deadline) throw conflict('A checkout with this idempotency key is still in progress');
      await delay(PENDING_POLL_MS);
    }
  }

  /**
   * Ends a checkout: the key completes with `result` (or is given up so a retry runs again), then the attempt
   * goes. Two statements, no transaction (a BEGIN/COMMIT pair per checkout costs more than it buys): a crash
   * between them leaves the attempt, and its repair settles the key again the same way (placeOrder and
   * releaseReservation are idempotent), so the key is never left pending without an attempt to finish it.
   */
  async #settle(orderId: bigint, key: IdempotencyRequest, result: CheckoutResult | null): Promise<void> {
    if (result) await completeIdempotencyKey(this.#prisma, key, result);
    else await releaseIdempotencyKey(this.#prisma, key);
    await attempts.remove(this.#prisma, orderId);
  }

  #steps(orderId: bigint): SagaStep<SagaContext>[] {
    return [
      {
        name: 'reserve stock',
        run: ({ call, order }) => peers.reserveStock(this.#peers, call, order.orderId, order.lines),
        // Releasing an order id that reserved nothing records a release, so a late reserve holds nothing.
        undo: async ({ call, order, orderMayExist }) => {
          if (!orderMayExist) await peers.releaseReservation(this.#peers, call, order.orderId);
        },
      },
      {
        name: 'place order',
        run: async (context) => {
          await attempts.setStage(this.#prisma, orderId, 'PLACING');
          context.orderMayExist = true;
          try {
            await peers.placeOrder(this.#peers, context.call, context.order);
          } catch (error) {
            // A refusal made no order; anything else (a timeout, a dropped connection) may have made one.
            if (isRefusal(error)) context.orderMayExist = false;
            throw error;
          }
        },
        // Nothing to undo: a refused placeOrder made nothing, and an order that may exist is finished instead.
        undo: async () => {},
      },
    ];
  }
}
