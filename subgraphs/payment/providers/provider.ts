import type { Money } from '@mall/platform/money';
import type { CallbackEvent, ProviderName } from '../domain/payment.ts';

/** A callback as it reached the payment subgraph: the raw bytes and the provider's headers, lower-cased. */
export interface RawCallback {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Buffer;
}

/** What the provider is answered. */
export interface CallbackReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** A callback that is not the provider's, or not understood: answered 400, nothing changes. */
export class CallbackRefused extends Error {
  override readonly name = 'CallbackRefused';
}

/** One payment provider: creates a charge, verifies its callbacks, refunds. One file each. */
export interface PaymentProvider {
  readonly name: ProviderName;
  /** Opens the charge with the provider: its reference for our payment, and where the customer pays. */
  createPayment(payment: {
    readonly paymentId: bigint;
    readonly amount: Money;
    readonly description: string;
  }): Promise<{ readonly providerReference: string; readonly checkoutUrl: string | null }>;
  /** Verifies and reads a callback; CallbackRefused when its signature, freshness or shape is wrong. */
  parseCallback(callback: RawCallback): CallbackEvent | { readonly eventId: string; readonly outcome: 'ignored' };
  /** Refunds in full. The provider deduplicates on `idempotencyKey`: a retry never refunds twice. */
  refund(refund: {
    readonly idempotencyKey: string;
    readonly providerReference: string;
    readonly amount: Money;
    readonly reason: string | null;
  }): Promise<void>;
  /** The answer the provider expects for a callback taken (or already taken). */
  readonly accepted: CallbackReply;
  /** The answer for a refused one. */
  refused(message: string): CallbackReply;
}

/** Parses JSON without throwing: a malformed body is a refusal, never a 500. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new CallbackRefused('Malformed JSON body');
  }
}

/** The one header value, or a refusal naming it. */
export function requireHeader(callback: RawCallback, name: string): string {
  const value = callback.headers[name];
  if (!value) throw new CallbackRefused(`Missing header ${name}`);
  return value;
}

export const jsonReply = (status: number, body: unknown): CallbackReply => ({
  status,
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify(body),
});
