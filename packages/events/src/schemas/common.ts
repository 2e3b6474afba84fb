import { z } from 'zod';

/** Snowflake and other numeric ids travel as decimal strings: they exceed JS safe integers. */
export const Id = z.string().regex(/^\d{1,20}$/, 'expected a decimal id string');

export const Timestamp = z.iso.datetime({ offset: true });

/** Money in integer minor units (cents) with an ISO 4217 code; never floats. */
export const Money = z.object({
  amount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code'),
});
export type Money = z.infer<typeof Money>;

export const Quantity = z.number().int().positive();

export const StockLine = z.object({ productId: Id, quantity: Quantity });
