import { AddressInput } from '@mall/platform/address';
import { fromZodIssues } from '@mall/platform/errors';
import { decodeId, Id } from '@mall/platform/id';
import type { Money } from '@mall/platform/money';
import { z } from 'zod';

export type PurchaseStatus = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'RELEASED';
export type RejectReason = 'SOLD_OUT' | 'LIMIT_EXCEEDED' | 'NOT_ACTIVE' | 'ORDER_FAILED';

export interface FlashSale {
  readonly id: bigint;
  readonly productId: bigint;
  readonly productName: string;
  readonly createdBy: bigint;
  readonly price: Money;
  readonly quantity: number;
  /** Units granted and not given back (the database's count; Redis answers `remaining` live). */
  readonly sold: number;
  readonly perUserLimit: number;
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly settledAt: Date | null;
}

export interface Purchase {
  readonly id: bigint;
  readonly flashSaleId: bigint;
  readonly userId: bigint;
  readonly quantity: number;
  readonly status: PurchaseStatus;
  readonly reason: RejectReason | null;
  readonly orderId: bigint | null;
}

export const MAX_SALE_QUANTITY = 100_000;
export const MAX_PER_USER = 100;
export const MAX_SALE_DAYS = 31;

// The DateTime scalar has parsed the wire's ISO-8601 text already.
const instant = z.date({ message: 'must be a date-time' });

const CreateInput = z
  .object({
    productId: Id,
    priceAmount: z.number().int().min(0, 'must not be negative').max(Number.MAX_SAFE_INTEGER),
    quantity: z
      .number()
      .int()
      .min(1, 'must be at least 1')
      .max(MAX_SALE_QUANTITY, `must be at most ${MAX_SALE_QUANTITY}`),
    perUserLimit: z
      .number()
      .int()
      .min(1, 'must be at least 1')
      .max(MAX_PER_USER, `must be at most ${MAX_PER_USER}`)
      .nullish()
      .transform((n) => n ?? 1),
    startsAt: instant,
    endsAt: instant,
  })
  .superRefine((input, ctx) => {
    if (input.endsAt <= input.startsAt)
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    if (input.endsAt.getTime() - input.startsAt.getTime() > MAX_SALE_DAYS * 86_400_000)
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: `must be within ${MAX_SALE_DAYS} days of startsAt` });
    if (input.endsAt.getTime() <= Date.now())
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be in the future' });
  });
export type NewFlashSale = z.output<typeof CreateInput>;

/** The order's address: the platform's model, so the order subgraph applies the very rules checked here. */
export type Address = z.output<typeof AddressInput>;

const BuyInput = z.object({
  flashSaleId: Id,
  quantity: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(MAX_PER_USER, `must be at most ${MAX_PER_USER}`)
    .nullish()
    .transform((n) => n ?? 1),
  idempotencyKey: z.string().min(1, 'must be 1–200 characters').max(200, 'must be 1–200 characters'),
  shippingAddress: AddressInput.nullish().transform((a) => a ?? null),
});
export type BuyRequest = z.output<typeof BuyInput>;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw fromZodIssues(parsed.error.issues);
  return parsed.data;
}

/** A merchant's new sale: BAD_USER_INPUT naming every bad field. */
export const parseNewFlashSale = (input: unknown): NewFlashSale => parse(CreateInput, input);
/**
 * A buy request: BAD_USER_INPUT naming every bad field. The crowd's usual request (an id, a key, no address,
 * at most a quantity) is checked by hand, by the very rules of `BuyInput`: zod's parse was a measurable part
 * of a rejected buy's own cost. Anything else (an address, or anything wrong) goes through zod for its answer.
 */
export function parseBuyRequest(input: unknown): BuyRequest {
  const fast = plainBuy(input);
  return fast ?? parse(BuyInput, input);
}

function plainBuy(input: unknown): BuyRequest | null {
  if (typeof input !== 'object' || input === null) return null;
  const { flashSaleId, quantity, idempotencyKey, shippingAddress } = input as Record<string, unknown>;
  if (shippingAddress != null || typeof flashSaleId !== 'string' || typeof idempotencyKey !== 'string') return null;
  if (idempotencyKey.length < 1 || idempotencyKey.length > 200) return null;
  const units = quantity ?? 1;
  if (typeof units !== 'number' || !Number.isInteger(units) || units < 1 || units > MAX_PER_USER) return null;
  const id = decodeId(flashSaleId);
  return id === null ? null : { flashSaleId: id, quantity: units, idempotencyKey, shippingAddress: null };
}

export type Window = 'UPCOMING' | 'ACTIVE' | 'ENDED';
export function windowAt(sale: Pick<FlashSale, 'startsAt' | 'endsAt'>, now: Date): Window {
  if (now < sale.startsAt) return 'UPCOMING';
  return now < sale.endsAt ? 'ACTIVE' : 'ENDED';
}
