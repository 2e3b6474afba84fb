import {
  createByIdLoader,
  decodeIdOrNotFound,
  notFound,
  type RequestScope,
  requireCallerId,
  requireOwnerOrAdmin,
  requireService,
  type ServiceClient,
  withTransaction,
} from '@mall/platform';
import type DataLoader from 'dataloader';
import * as carts from './data/carts.ts';
import { fetchProducts } from './data/catalog.ts';
import type { PrismaClient } from './data/generated/client.ts';
import {
  addedQuantity,
  type Cart,
  type CatalogProduct,
  checkLine,
  checkQuantity,
  checkRoom,
  LINES_MAX,
  orderedQuantities,
  type PricedCart,
  priceCart,
} from './domain/cart.ts';

/** Peers that may read a user's cart lines: the checkout saga. */
export const CART_READERS = ['checkout'] as const;

export type ProductLoader = DataLoader<bigint, CatalogProduct | null>;

/** What a use case needs from the request: the platform's scope and the request's catalog loader. */
export interface CartScope extends RequestScope {
  /** Products from the catalog, batched: every line of every cart a request prices costs one call together. */
  readonly productById: ProductLoader;
}

/** A user as other subgraphs reference it: `User.cart` needs only the id. */
export interface UserReference {
  readonly id: string;
}

export interface CheckoutCartLine {
  readonly productId: bigint;
  readonly quantity: number;
}

export interface CheckoutCart {
  readonly userId: bigint;
  readonly lines: readonly CheckoutCartLine[];
}

export interface CartServiceDeps {
  readonly prisma: PrismaClient;
  /** The product subgraph, signed as `cart`. */
  readonly products: ServiceClient;
}

/**
 * The cart's use cases. Every change locks the user's cart row first (so the limits hold under concurrency);
 * the catalog is asked before the transaction, never inside it. Prices are read live, never stored.
 */
export class CartService {
  readonly #prisma: PrismaClient;
  readonly #products: ServiceClient;

  constructor(deps: CartServiceDeps) {
    this.#prisma = deps.prisma;
    this.#products = deps.products;
  }

  /** Fresh per request: the products of every cart the request prices, fetched in one batched call. */
  createLoader(scope: RequestScope): ProductLoader {
    return createByIdLoader(
      (ids) => fetchProducts(this.#products, { requestId: scope.requestId, userId: scope.identity.userId }, ids),
      (product) => product.id,
      // productsByIds takes at most a cart's worth of ids.
      { maxBatchSize: LINES_MAX },
    );
  }

  // ---------- reads ----------

  cart(scope: CartScope): Promise<Cart> {
    return carts.findCart(this.#prisma, requireCallerId(scope.identity));
  }

  /** `User.cart`: the owner's or, for an ADMIN, anyone's; NOT_FOUND to everyone else. */
  userCart(scope: CartScope, user: UserReference): Promise<Cart> {
    const userId = decodeIdOrNotFound(user.id, 'Cart');
    requireOwnerOrAdmin(scope.identity, userId, 'Cart');
    return carts.findCart(this.#prisma, userId);
  }

  /** The cart priced from the catalog now (one batched call for all its lines). */
  async priced(scope: CartScope, cart: Cart): Promise<PricedCart> {
    return priceCart(cart, await this.#catalog(scope, productIds(cart)));
  }

  /** Internal (checkout): the user's lines, oldest first. */
  async checkoutCart(scope: CartScope, userId: string): Promise<CheckoutCart> {
    requireService(scope.identity, ...CART_READERS);
    return carts.findCart(this.#prisma, decodeIdOrNotFound(userId, 'Cart'));
  }

  // ---------- changes ----------

  async addToCart(scope: CartScope, productId: string, quantity: number): Promise<Cart> {
    const userId = requireCallerId(scope.identity);
    checkQuantity(quantity, false);
    const id = decodeIdOrNotFound(productId, 'Product');
    // The catalog is asked first, outside the transaction: the added product and the cart's others (for the
    // currency and the total), in one call; the same answers price the cart this request returns.
    const before = await carts.findCart(this.#prisma, userId);
    const products = await this.#catalog(scope, [id, ...productIds(before)]);
    return this.#change(userId, async (tx, cart) => {
      const line = cart.lines.find((l) => l.productId === id);
      if (!line) checkRoom(cart.lines.length);
      const next = addedQuantity(line?.quantity ?? 0, quantity);
      checkLine(withLine(cart, id, next), id, products);
      await carts.saveLine(tx, userId, { productId: id, quantity: next });
    });
  }

  async updateCartItem(scope: CartScope, productId: string, quantity: number): Promise<Cart> {
    const userId = requireCallerId(scope.identity);
    checkQuantity(quantity, true);
    const id = decodeIdOrNotFound(productId, 'Cart item');
    if (quantity === 0) return this.removeFromCart(scope, productId);
    // Only more units need the catalog's word (still for sale, same currency, a total the API can return):
    // fewer units of a product that went off sale must stay possible.
    const before = await carts.findCart(this.#prisma, userId);
    const current = before.lines.find((l) => l.productId === id)?.quantity ?? 0;
    const products = quantity > current ? await this.#catalog(scope, productIds(before)) : null;
    return this.#change(userId, async (tx, cart) => {
      const line = cart.lines.find((l) => l.productId === id);
      if (!line) throw notFound('Cart item');
      // Without the catalog's answer the line held at least `quantity` when this request began.
      if (products && quantity > line.quantity) checkLine(withLine(cart, id, quantity), id, products);
      await carts.saveLine(tx, userId, { productId: id, quantity });
    });
  }

  async removeFromCart(scope: CartScope, productId: string): Promise<Cart> {
    const userId = requireCallerId(scope.identity);
    const id = decodeIdOrNotFound(productId, 'Cart item');
    return this.#change(userId, (tx) => carts.deleteLine(tx, userId, id));
  }

  async clearCart(scope: CartScope): Promise<Cart> {
    const userId = requireCallerId(scope.identity);
    return this.#change(userId, (tx) => carts.deleteLines(tx, userId));
  }

  /** order.created, in the consumer's transaction: takes exactly the ordered quantities off the user's cart. */
  async orderCreated(
    tx: carts.Tx,
    userId: bigint,
    items: readonly { productId: bigint; quantity: number }[],
  ): Promise<void> {
    await carts.lockCart(tx, userId);
    for (const [productId, quantity] of orderedQuantities(items))
      await carts.takeFromLine(tx, userId, productId, quantity);
  }

  /** Runs `apply` on the locked cart as it is now, then returns the cart as it is after. */
  async #change(userId: bigint, apply: (tx: carts.Tx, cart: Cart) => Promise<void>): Promise<Cart> {
    return withTransaction(this.#prisma, async (tx) => {
      await carts.lockCart(tx, userId);
      await apply(tx, await carts.findCart(tx, userId));
      return carts.findCart(tx, userId);
    });
  }

  async #catalog(scope: CartScope, ids: readonly bigint[]): Promise<Map<bigint, CatalogProduct>> {
    const found = await scope.productById.loadMany(ids);
    const products = new Map<bigint, CatalogProduct>();
    for (const product of found) if (product && !(product instanceof Error)) products.set(product.id, product);
    // A failed catalog call must reach the client as what it is, not as "no such product".
    const failure = found.find((p) => p instanceof Error);
    if (failure) throw failure;
    return products;
  }
}

const productIds = (cart: Cart): bigint[] => cart.lines.map((line) => line.productId);

/** The cart with the product's line at `quantity` (appended when new). */
function withLine(cart: Cart, productId: bigint, quantity: number): Cart {
  const exists = cart.lines.some((l) => l.productId === productId);
  const lines = exists
    ? cart.lines.map((l) => (l.productId === productId ? { ...l, quantity } : l))
    : [...cart.lines, { productId, quantity, addedAt: new Date() }];
  return { ...cart, lines };
}
