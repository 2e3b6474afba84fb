/**
 * Money as integer minor units (fen, cents, yen) plus an ISO 4217 code: no floats anywhere, so totals add up
 * exactly. Pure (no I/O), and importable from `domain/` as `@mall/platform/money`. Used by product prices and
 * order, cart and payment totals; every subgraph that exposes a price declares `MONEY_SDL`.
 */
import { z } from 'zod';

/** Currencies the mall accepts, with the number of minor-unit digits ISO 4217 gives each. */
export const CURRENCIES = {
  CNY: 2,
  HKD: 2,
  TWD: 2,
  USD: 2,
  EUR: 2,
  GBP: 2,
  SGD: 2,
  AUD: 2,
  CAD: 2,
  KRW: 0,
  JPY: 0,
} as const satisfies Record<string, number>;

export type Currency = keyof typeof CURRENCIES;
const CURRENCY_CODES = Object.keys(CURRENCIES) as [Currency, ...Currency[]];
export const DEFAULT_CURRENCY: Currency = 'CNY';

export interface Money {
  /** Minor units: 1999 CNY is ¥19.99; 1999 JPY is ¥1999. A safe integer, never fractional. */
  readonly amount: number;
  readonly currency: Currency;
}

/**
 * The GraphQL type, the same in every subgraph that returns prices (product prices, order totals), hence
 * `@shareable`. Composition reads each subgraph's `schema.graphql`, so a subgraph copies this type there (and
 * imports `@shareable` in its `@link`); its schema test calls `assertMoneyType` from `@mall/platform/testing` so
 * the copies cannot drift apart.
 */
export const MONEY_SDL = `
"""An amount in the currency's minor units (fen for CNY, cents for USD, yen for JPY)."""
type Money @shareable {
  amount: Int!
  "ISO 4217 code, e.g. CNY."
  currency: String!
}
`;

export const isCurrency = (code: unknown): code is Currency =>
  typeof code === 'string' && Object.hasOwn(CURRENCIES, code);

/** A fault in our own arithmetic or data (not the caller's input), so it is not an AppError the client sees. */
export class MoneyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoneyError';
  }
}

function checkAmount(amount: number): number {
  if (!Number.isSafeInteger(amount)) throw new MoneyError(`Money amount must be a safe integer, got ${amount}`);
  return amount;
}

/** Validated money; throws MoneyError for a fractional or unsafe amount or an unknown currency. */
export function money(amount: number, currency: string = DEFAULT_CURRENCY): Money {
  if (!isCurrency(currency)) throw new MoneyError(`Unsupported currency ${currency}`);
  return { amount: checkAmount(amount), currency };
}

function sameCurrency(a: Money, b: Money): Currency {
  if (a.currency !== b.currency) throw new MoneyError(`Cannot combine ${a.currency} and ${b.currency}`);
  return a.currency;
}

export const add = (a: Money, b: Money): Money => ({
  currency: sameCurrency(a, b),
  amount: checkAmount(a.amount + b.amount),
});

export const subtract = (a: Money, b: Money): Money => ({
  currency: sameCurrency(a, b),
  amount: checkAmount(a.amount - b.amount),
});

/** A line total: unit price × quantity (an integer), refusing a result beyond Number.MAX_SAFE_INTEGER. */
export function multiply(price: Money, quantity: number): Money {
  if (!Number.isSafeInteger(quantity)) throw new MoneyError(`Quantity must be a safe integer, got ${quantity}`);
  return { currency: price.currency, amount: checkAmount(price.amount * quantity) };
}

/**
 * The total of `items`, all in one currency. An empty list has no currency of its own, so the caller names
 * it (an empty cart totals 0 in the shop's currency).
 */
export function sum(items: readonly Money[], currency: Currency = items[0]?.currency ?? DEFAULT_CURRENCY): Money {
  return items.reduce(add, money(0, currency));
}

/** For logs and messages, not for shoppers (no locale): `CNY 19.99`, `JPY 1999`, `USD -0.05`. */
export function formatMoney({ amount, currency }: Money): string {
  const digits = CURRENCIES[currency];
  if (digits === 0) return `${currency} ${amount}`;
  const abs = Math.abs(amount)
    .toString()
    .padStart(digits + 1, '0');
  return `${currency} ${amount < 0 ? '-' : ''}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

/**
 * A price a client or merchant sends: a non-negative safe integer in minor units and a supported currency
 * (CNY when omitted). Use inside the input's zod schema; failures become BAD_USER_INPUT via fromZodIssues.
 */
export const MoneyInput = z.object({
  // zod 4's int() accepts safe integers only, so an amount beyond 2^53 - 1 fails here too.
  amount: z.number().int('must be a safe integer number of minor units').min(0, 'must not be negative'),
  currency: z
    .enum(CURRENCY_CODES, `must be one of ${CURRENCY_CODES.join(', ')}`)
    .nullish()
    .transform((c) => c ?? DEFAULT_CURRENCY),
});
