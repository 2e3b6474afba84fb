import { AddressInput, optionalText, requiredText } from '@mall/platform/address';
import { fromZodIssues } from '@mall/platform/errors';
import { Id } from '@mall/platform/id';
import { type Currency, type Money, MoneyInput, money, multiply, sum } from '@mall/platform/money';
import { z } from 'zod';

export const ORDER_STATUSES = ['PENDING_PAYMENT', 'PAID', 'SHIPPED', 'COMPLETED', 'CANCELLED', 'REFUNDED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Why an unpaid order was cancelled: its owner, the payment deadline, or an administrator. */
export type CancelReason = 'USER' | 'TIMEOUT' | 'ADMIN';

export interface Address {
  readonly recipient: string;
  readonly phone: string;
  readonly line1: string;
  readonly line2: string | null;
  readonly city: string;
  readonly province: string | null;
  readonly postalCode: string | null;
  readonly country: string;
}

/** A line as checkout priced it: the product's name and unit price are kept as they were then. */
export interface OrderLine {
  readonly productId: bigint;
  readonly name: string;
  readonly quantity: number;
  readonly unitPrice: Money;
}

export interface StatusChange {
  readonly id: bigint;
  readonly status: OrderStatus;
  readonly previousStatus: OrderStatus | null;
  readonly reason: string | null;
  /** `user:<id>`, `admin:<id>`, `service:<name>` or `system:expiry`. */
  readonly actor: string;
  readonly at: Date;
}

export interface Order {
  readonly id: bigint;
  /** `20261124000042`: see orderNumber. */
  readonly number: string;
  readonly userId: bigint;
  readonly status: OrderStatus;
  readonly total: Money;
  readonly lines: readonly OrderLine[];
  readonly shippingAddress: Address;
  readonly note: string | null;
  readonly history: readonly StatusChange[];
  /** Set for an order made from a flash-sale purchase (its id). */
  readonly flashSalePurchaseId: bigint | null;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An order as checkout asks for it, validated and totalled. */
export interface NewOrder {
  readonly id: bigint;
  readonly flashSalePurchaseId?: bigint | null;
  readonly userId: bigint;
  readonly lines: readonly OrderLine[];
  readonly total: Money;
  readonly shippingAddress: Address;
  readonly note: string | null;
}

export const MAX_LINES = 100;
export const MAX_QUANTITY = 999;

const LineInput = z.object({
  productId: Id,
  quantity: z.number().int().min(1, 'must be at least 1').max(MAX_QUANTITY, `must be at most ${MAX_QUANTITY}`),
  unitPriceAmount: MoneyInput.shape.amount,
  currency: MoneyInput.shape.currency,
  name: requiredText(200),
});

const PlaceOrderInput = z.object({
  orderId: Id,
  userId: Id,
  lines: z.array(LineInput).min(1, 'must not be empty').max(MAX_LINES, `must have at most ${MAX_LINES} lines`),
  shippingAddress: AddressInput,
  note: optionalText(500),
});

/** Checkout's request to record an order: BAD_USER_INPUT naming every bad field; one currency per order. */
export function parseNewOrder(input: unknown): NewOrder {
  const parsed = PlaceOrderInput.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues);
  const { orderId, userId, lines, shippingAddress, note } = parsed.data;
  const currency: Currency = lines[0]!.currency;
  const mixed = lines.findIndex((line) => line.currency !== currency);
  if (mixed >= 0)
    throw fromZodIssues([{ path: ['lines', mixed, 'currency'], message: `must be ${currency} like the first line` }]);
  const orderLines = lines.map((line) => ({
    productId: line.productId,
    name: line.name,
    quantity: line.quantity,
    unitPrice: money(line.unitPriceAmount, currency),
  }));
  const total = sum(orderLines.map(lineTotal), currency);
  if (!Number.isSafeInteger(total.amount)) throw fromZodIssues([{ path: ['lines'], message: 'total is too large' }]);
  return { id: orderId, userId, lines: orderLines, total, shippingAddress, note };
}

export const lineTotal = (line: OrderLine): Money => multiply(line.unitPrice, line.quantity);

/** The UTC day an order number belongs to, as yyyymmdd. */
export function numberDay(at: Date): number {
  return at.getUTCFullYear() * 10_000 + (at.getUTCMonth() + 1) * 100 + at.getUTCDate();
}

/**
 * `20261124` and 42 → `20261124000042`. Past 999,999 orders a day the serial simply grows a digit: the day is
 * always 8 digits, so every (day, serial) still spells a different number.
 */
export const orderNumber = (day: number, serial: number): string => `${day}${String(serial).padStart(6, '0')}`;

export const paymentDeadline = (placedAt: Date, timeoutSeconds: number): Date =>
  new Date(placedAt.getTime() + timeoutSeconds * 1000);
