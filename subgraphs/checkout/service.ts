import { setTimeout as delay } from 'node:timers/promises';
import {
  AppError,
  claimIdempotencyKey,
  completeIdempotencyKey,
  conflict,
  encodeId,
  type IdempotencyClaim,
  type IdempotencyCompanion,
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
import { type CartLine, parseCheckoutInput, priceCart, requireLines } from './domain/checkout.ts';

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
  readonly cart: readonly CartLine[];
  /** Priced once the reservation answered the products' prices; the lines are empty until then. */
  order: peers.OrderToPlace;
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
    const orderId = this.#ids.next();
    // The attempt is recorded by the claim itself, before the cart is read: a crash from here on leaves a row the
    // repair undoes. Its order gets its lines once they are priced.
    const unpriced: peers.OrderToPlace = { orderId: encodeId(orderId), userId, lines: [], shippingAddress, note };
    const attempt = { orderId, scope: key.scope, operation: OPERATION, idempotencyKey, order: unpriced };
    const claim = await this.#claim(key, attempts.recordWithClaim(attempt, this.#ids.workerId));
    if (claim.state === 'completed') return claim.result.orderId;

    const call = { requestId: scope.requestId, userId };
    let cart: CartLine[];
    try {
      cart = await peers.checkoutCart(this.#peers, call, userId);
      requireLines(cart);
    } catch (error) {
      // Nothing was held yet: the key is given up (a retry runs again) and the attempt goes with it.
      await this.#settle(orderId, key, null);
      throw error;
    }

    const context: SagaContext = { call, cart, order: unpriced, orderMayExist: false };
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
    await this.#settle(orderId, key, { orderId: context.order.orderId });
    return context.order.orderId;
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

  /**
   * Claims the key with the attempt riding in the claim's statement, or waits for a first request with the same
   * key to finish (bounded), then answers what it did.
   */
  async #claim(key: IdempotencyRequest, companion: IdempotencyCompanion): Promise<IdempotencyClaim<CheckoutResult>> {
    const deadline = Date.now() + PENDING_WAIT_MS;
    for (;;) {
      let claim: IdempotencyClaim<CheckoutResult>;
      try {
        claim = await claimIdempotencyKey<CheckoutResult>(this.#prisma, key, { companion });
      } catch (error) {
        // The key was abandoned and could be claimed again, but the crashed checkout's attempt is still there:
        // the repair is finishing it (the failed statement claimed nothing).
        if (isUniqueViolation(error)) throw conflict('A checkout with this idempotency key is still in progress');
        throw error;
      }
      if (claim.state !== 'pending') return claim;
      if (Date.now() >= deadline) throw conflict('A checkout with this idempotency key is still in progress');
      await delay(PENDING_POLL_MS);
    }
  }

  /**
   * Ends a checkout: the key completes with `result` (or is given up so a retry runs again) and the attempt goes,
   * in one statement (the attempt's delete rides in the key's), so they never part: no window leaves a key
   * pending without an attempt to finish it, nor an attempt of a settled key.
   */
  async #settle(orderId: bigint, key: IdempotencyRequest, result: CheckoutResult | null): Promise<void> {
    const options = { companion: attempts.removeWithKey(orderId) };
    if (result) await completeIdempotencyKey(this.#prisma, key, result, options);
    else await releaseIdempotencyKey(this.#prisma, key, options);
  }

  /**
   * A product out of stock may be one no longer for sale (reserveStock counts it as having none left): that is
   * the refusal to give, as when the cart was priced before reserving. Only on this rare path is the catalog
   * asked; if it cannot answer, the OUT_OF_STOCK stands.
   */
  async #whyShort({ call, cart }: SagaContext): Promise<void> {
    const ids = cart.map((line) => line.productId);
    const products = await peers.productsByIds(this.#peers, call, ids).catch(() => null);
    if (products) priceCart(cart, products);
  }

  #steps(orderId: bigint): SagaStep<SagaContext>[] {
    return [
      {
        // Reserving answers the products as the catalog shows them, so the order is priced from that answer (one
        // call to product instead of a productsByIds before it); a pricing refusal undoes the reservation.
        name: 'reserve stock',
        run: async (context) => {
          const { call, cart, order } = context;
          let products: Awaited<ReturnType<typeof peers.reserveStock>>;
          try {
            products = await peers.reserveStock(this.#peers, call, order.orderId, cart);
          } catch (error) {
            if (error instanceof AppError && error.code === 'OUT_OF_STOCK') await this.#whyShort(context);
            throw error;
          }
          context.order = { ...order, lines: priceCart(cart, products) };
        },
        // Releasing an order id that reserved nothing records a release, so a late reserve holds nothing.
        undo: async ({ call, order, orderMayExist }) => {
          if (!orderMayExist) await peers.releaseReservation(this.#peers, call, order.orderId);
        },
      },
      {
        name: 'place order',
        run: async (context) => {
          await attempts.placing(this.#prisma, orderId, context.order);
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
