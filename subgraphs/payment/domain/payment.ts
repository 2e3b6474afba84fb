import { badUserInput } from '@mall/platform/errors';
import type { Money } from '@mall/platform/money';
import { z } from 'zod';

export const PAYMENT_METHODS = ['ALIPAY', 'WECHAT_PAY', 'CARD'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export type PaymentStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'REFUNDED';

/** The providers the callback route accepts, by their path segment. */
export const PROVIDERS = ['sandbox', 'alipay', 'wechatpay'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const isProviderName = (name: string): name is ProviderName => (PROVIDERS as readonly string[]).includes(name);

export interface Payment {
  readonly id: bigint;
  readonly orderId: bigint;
  readonly userId: bigint;
  readonly method: PaymentMethod;
  readonly provider: ProviderName;
  readonly providerReference: string;
  readonly checkoutUrl: string | null;
  /** Copied from the order when the payment was created; never from the client. */
  readonly amount: Money;
  readonly status: PaymentStatus;
  readonly failureReason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** ORDER refunds the order the payment paid; UNAPPLIED returns a success that never paid its order. */
export type RefundKind = 'ORDER' | 'UNAPPLIED';

export interface Refund {
  readonly id: bigint;
  readonly paymentId: bigint;
  readonly amount: Money;
  readonly reason: string | null;
  readonly kind: RefundKind;
  readonly status: 'REQUESTED' | 'SUCCEEDED';
}

const PayInput = z.object({
  orderId: z.string().min(1),
  method: z.enum(PAYMENT_METHODS),
  idempotencyKey: z.string().min(1).max(200),
});
export type PayInput = z.infer<typeof PayInput>;

export function parsePayInput(input: unknown): PayInput {
  const parsed = PayInput.safeParse(input);
  if (parsed.success) return parsed.data;
  throw badUserInput(
    'Invalid input',
    parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })),
  );
}

/** What a verified callback says happened, in the payment's terms. */
export interface CallbackEvent {
  /** The provider's event (or notify) id: deduplicates redeliveries. */
  readonly eventId: string;
  readonly providerReference: string;
  readonly outcome: 'succeeded' | 'failed';
  /** In minor units, as the provider reports it (the currency unchecked: it is only compared). */
  readonly amount: Amount;
  readonly reason: string | null;
}

export interface Amount {
  readonly amount: number;
  readonly currency: string;
}

/** Whether a callback's amount is the payment's: same minor units, same currency. */
export const sameAmount = (a: Amount, b: Money): boolean => a.amount === b.amount && a.currency === b.currency;
