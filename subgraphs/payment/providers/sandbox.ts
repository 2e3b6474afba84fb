import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { PrismaClient } from '../data/generated/client.ts';
import {
  CallbackRefused,
  jsonReply,
  type PaymentProvider,
  parseJson,
  type RawCallback,
  requireHeader,
} from './provider.ts';

/** The contract's signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. */
export const SIGNATURE_HEADER = 'mall-signature';
/** How far a callback's timestamp may be from now, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;
/** The sandbox checkout page, served by the payment subgraph through the router. */
export const SANDBOX_PAGE_PATH = '/payments/sandbox/';

const Body = z.object({
  id: z.string().min(1).max(200),
  type: z.enum(['payment.succeeded', 'payment.failed']),
  data: z.object({
    providerReference: z.string().min(1).max(200),
    amount: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
  }),
});
export type SandboxEvent = z.infer<typeof Body>;

const hmac = (secret: string, t: string, body: Buffer): Buffer =>
  createHmac('sha256', secret).update(`${t}.`).update(body).digest();

/** Signs a sandbox callback body as the sandbox provider (and the tests) do. */
export function signSandboxCallback(secret: string, body: Buffer | string, at = new Date()): string {
  const t = String(Math.floor(at.getTime() / 1000));
  return `t=${t},v1=${hmac(secret, t, Buffer.from(body)).toString('hex')}`;
}

/** Checks `Mall-Signature` against the raw body: any v1 may match (secret rotation), t within the window. */
export function verifySandboxSignature(secret: string, header: string, body: Buffer, now = Date.now()): void {
  const parts = header.split(',').map((part) => part.trim().split('=', 2) as [string, string | undefined]);
  const t = parts.find(([key]) => key === 't')?.[1];
  const signatures = parts.filter(([key, value]) => key === 'v1' && value).map(([, value]) => value as string);
  if (!t || !/^\d{1,12}$/.test(t) || signatures.length === 0) throw new CallbackRefused('Malformed signature header');
  if (Math.abs(now / 1000 - Number(t)) > SIGNATURE_TOLERANCE_SECONDS)
    throw new CallbackRefused('Signature timestamp outside the tolerance');
  const expected = hmac(secret, t, body);
  const matches = signatures.some((hex) => {
    const given = Buffer.from(hex, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new CallbackRefused('Signature does not match');
}

/**
 * The default provider: a checkout page on our own router where a person approves or declines, which then
 * sends the contract's signed callback. Its refunds are kept in `sandbox_refunds` by idempotency key, the way
 * a real provider keeps them, so a retried refund is one refund.
 */
export function sandboxProvider(options: {
  readonly secret: string;
  readonly publicUrl: string;
  readonly prisma: PrismaClient;
}): PaymentProvider {
  const { secret, publicUrl, prisma } = options;
  return {
    name: 'sandbox',
    async createPayment() {
      // Unguessable: the page needs no sign-in, so knowing the reference is what lets a person approve.
      const providerReference = `sbx_${randomBytes(12).toString('hex')}`;
      return { providerReference, checkoutUrl: `${publicUrl}${SANDBOX_PAGE_PATH}${providerReference}` };
    },
    parseCallback(callback: RawCallback) {
      verifySandboxSignature(secret, requireHeader(callback, SIGNATURE_HEADER), callback.body);
      const parsed = Body.safeParse(parseJson(callback.body));
      if (!parsed.success) throw new CallbackRefused('Malformed callback body');
      const { id, type, data } = parsed.data;
      return {
        eventId: id,
        providerReference: data.providerReference,
        outcome: type === 'payment.succeeded' ? 'succeeded' : 'failed',
        amount: { amount: data.amount, currency: data.currency },
        reason: type === 'payment.failed' ? 'DECLINED' : null,
      };
    },
    async refund({ idempotencyKey, providerReference, amount }) {
      await prisma.sandboxRefund.createMany({
        data: [
          { idempotencyKey, reference: providerReference, amount: BigInt(amount.amount), currency: amount.currency },
        ],
        skipDuplicates: true,
      });
    },
    accepted: jsonReply(200, { received: true }),
    refused: (message) => jsonReply(400, { error: message }),
  };
}
