import { badUserInput } from '@mall/platform/errors';
import { DEFAULT_CURRENCY, type Money, multiply, sum } from '@mall/platform/money';

/** Units of one product a line may hold. */
export const QUANTITY_MAX = 99;
/** Lines a cart may hold (also the most ids one productsByIds call takes). */
export const LINES_MAX = 100;
/** GraphQL `Int` is 32-bit: a line total or subtotal beyond it could not be returned. */
export const AMOUNT_MAX = 2_147_483_647;

export interface CartLine {
  readonly productId: bigint;
  readonly quantity: number;
  readonly addedAt: Date;
}

/** A user's cart; a user who never added anything has one with no lines. */
export interface Cart {
  readonly userId: bigint;
  /** Oldest first. */
  readonly lines: readonly CartLine[];
}

/** A product as the catalog reports it now (the product subgraph's productsByIds). */
export interface CatalogProduct {
  readonly id: bigint;
  readonly name: string;
  readonly price: Money;
  readonly active: boolean;
  readonly deleted: boolean;
  readonly stock: number;
}

export interface CartItem {
  readonly productId: bigint;
  readonly quantity: number;
  readonly lineTotal: Money;
  readonly available: boolean;
}

export interface PricedCart {
  /** Newest line first. */
  readonly items: CartItem[];
  readonly subtotal: Money;
}

const quantityProblem = (message: string) =>
  badUserInput(`Invalid input: quantity: ${message}`, [{ field: 'quantity', message }]);

/** A quantity the client sent: an integer 1–99, or 0 too where 0 means "remove". */
export function checkQuantity(quantity: number, allowZero: boolean): void {
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(quantity) || quantity < min || quantity > QUANTITY_MAX)
    throw quantityProblem(`must be an integer between ${min} and ${QUANTITY_MAX}`);
}

export const itemCount = (cart: Cart): number => cart.lines.reduce((n, line) => n + line.quantity, 0);

/** The cart's currency: its first available line's (the shop's default when there is none). */
function cartCurrency(cart: Cart, products: ReadonlyMap<bigint, CatalogProduct>) {
  for (const line of cart.lines) {
    const product = products.get(line.productId);
    if (product?.active && !product.deleted) return product.price.currency;
  }
  return DEFAULT_CURRENCY;
}

/**
 * Prices the cart from the catalog's current answer. A line whose product the catalog no longer knows at all is
 * left out (it cannot be shown or bought); a deleted, inactive or other-currency one is shown but unavailable.
 */
export function priceCart(cart: Cart, products: ReadonlyMap<bigint, CatalogProduct>): PricedCart {
  const currency = cartCurrency(cart, products);
  const items: CartItem[] = [];
  for (const line of cart.lines) {
    const product = products.get(line.productId);
    if (!product) continue;
    const available = product.active && !product.deleted && product.price.currency === currency;
    items.push({
      productId: line.productId,
      quantity: line.quantity,
      lineTotal: multiply(product.price, line.quantity),
      available,
    });
  }
  const subtotal = sum(
    items.filter((item) => item.available).map((item) => item.lineTotal),
    currency,
  );
  return { items: items.reverse(), subtotal };
}

/**
 * Refuses a change that would leave the cart with an unbuyable product, another currency or a total the API
 * cannot return. `cart` is the cart after the change.
 */
export function checkLine(cart: Cart, productId: bigint, products: ReadonlyMap<bigint, CatalogProduct>): void {
  const product = products.get(productId);
  if (!product || product.deleted)
    throw badUserInput('Invalid input: productId: no such product', [
      { field: 'productId', message: 'no such product' },
    ]);
  if (!product.active)
    throw badUserInput('Invalid input: productId: not for sale', [{ field: 'productId', message: 'not for sale' }]);
  const priced = priceCart(cart, products);
  const item = priced.items.find((i) => i.productId === productId);
  if (item && !item.available)
    throw badUserInput('Invalid input: productId: priced in another currency than the cart', [
      { field: 'productId', message: `priced in ${product.price.currency}, the cart in ${priced.subtotal.currency}` },
    ]);
  if (priced.subtotal.amount > AMOUNT_MAX) throw quantityProblem('the cart total would be too large');
}

/** The line's quantity after adding `adding` to `current`, refused beyond 99. */
export function addedQuantity(current: number, adding: number): number {
  const total = current + adding;
  if (total > QUANTITY_MAX)
    throw quantityProblem(`a line holds at most ${QUANTITY_MAX}; the cart already has ${current}`);
  return total;
}

/** Refuses a new line in a full cart. */
export function checkRoom(lineCount: number): void {
  if (lineCount >= LINES_MAX)
    throw badUserInput(`Invalid input: productId: the cart already has ${LINES_MAX} lines`, [
      { field: 'productId', message: `a cart holds at most ${LINES_MAX} lines` },
    ]);
}

/** The ordered quantity per product of an order's items (a product may appear on more than one line). */
export function orderedQuantities(items: readonly { productId: bigint; quantity: number }[]): Map<bigint, number> {
  const ordered = new Map<bigint, number>();
  for (const item of items) ordered.set(item.productId, (ordered.get(item.productId) ?? 0) + item.quantity);
  return ordered;
}
