/**
 * A shipping address as GraphQL `AddressInput` carries it (order's placeOrder, checkout): one zod model, so
 * checkout refuses a bad address before it holds any stock with exactly the rules order applies. Pure (no I/O),
 * importable from `domain/` as `@mall/platform/address`.
 */
import { z } from 'zod';

/** Trimmed text of 1–`max` characters. */
export const requiredText = (max: number) =>
  z.string().trim().min(1, 'must not be blank').max(max, `must be at most ${max} characters`);
/** Trimmed text of at most `max` characters; blank or absent → null. */
export const optionalText = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((s) => (s ? s : null));

export const AddressInput = z.object({
  recipient: requiredText(100),
  phone: requiredText(30),
  line1: requiredText(200),
  line2: optionalText(200),
  city: requiredText(100),
  province: optionalText(100),
  postalCode: optionalText(20),
  country: requiredText(60),
});
