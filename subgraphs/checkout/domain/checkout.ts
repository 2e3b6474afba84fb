import { AddressInput, optionalText } from '@mall/platform/address';
import { fromZodIssues, invalidState } from '@mall/platform/errors';
import { z } from 'zod';

/** The checkout request; the idempotency key's length is checked by the idempotency helper. */
const CheckoutInput = z.object({
  idempotencyKey: z.string(),
  shippingAddress: AddressInput,
  note: optionalText(500),
});
export type CheckoutRequest = z.output<typeof CheckoutInput>;

/** BAD_USER_INPUT naming every bad field, before anything is read or held. */
export function parseCheckoutInput(input: unknown): CheckoutRequest {
  const parsed = CheckoutInput.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues);
  return parsed.data;
}

export interface CartLine {
  readonly productId: string;
  readonly quantity: number;
}

/** What the catalog says about a product at checkout (product's internal productsByIds). */
export interface CatalogProduct {
  readonly id: string;
  readonly name: string;
  readonly active: boolean;
  readonly deleted: boolean;
  readonly price: { readonly amount: number; readonly currency: string };
}

/** One line as order's placeOrder takes it: priced from the catalog now, not from the cart. */
export interface PricedLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPriceAmount: number;
  readonly currency: string;
  readonly name: string;
}

/**
 * Prices the cart's lines at the catalog's current prices. INVALID_STATE for an empty cart, for products that
 * are unknown, deleted or inactive (all of them, in `productIds`), and for a cart mixing currencies (an order
 * has one).
 */
/** INVALID_STATE for an empty cart: refused before anything is held. */
export function requireLines(lines: readonly CartLine[]): void {
  if (lines.length === 0) throw invalidState('Your cart is empty');
}

export function priceCart(lines: readonly CartLine[], products: readonly (CatalogProduct | null)[]): PricedLine[] {
  requireLines(lines);
  const unavailable = lines.flatMap((line, i) => {
    const product = products[i];
    return product?.active && !product.deleted ? [] : [line.productId];
  });
  if (unavailable.length > 0)
    throw invalidState('Some products in your cart are no longer available', { productIds: unavailable });
  const priced = lines.map((line, i) => {
    const product = products[i] as CatalogProduct;
    return {
      productId: line.productId,
      quantity: line.quantity,
      unitPriceAmount: product.price.amount,
      currency: product.price.currency,
      name: product.name,
    };
  });
  const currency = priced[0]?.currency;
  const mixed = priced.filter((line) => line.currency !== currency).map((line) => line.productId);
  if (mixed.length > 0)
    throw invalidState(`Products priced in another currency than ${currency} cannot be ordered together`, {
      productIds: mixed,
    });
  return priced;
}
