import { randomBytes } from 'node:crypto';
import { devSecret } from '@mall/platform';
import type { SubgraphKit } from '@mall/platform/kit';
import type { PaymentConfig } from '../config.ts';
import type { PrismaClient } from '../data/generated/client.ts';
import type { PaymentMethod, ProviderName } from '../domain/payment.ts';
import type { Providers } from '../service.ts';
import { alipayProvider } from './alipay.ts';
import type { PaymentProvider } from './provider.ts';
import { sandboxProvider } from './sandbox.ts';
import { wechatPayProvider } from './wechatpay.ts';

type Kit = SubgraphKit<PrismaClient, PaymentConfig>;

/** What `npm start` prints: the sandbox signing secret, and whether it was generated for development. */
export interface PaymentInfo {
  readonly webhookSecret: string;
  readonly generated: boolean;
}

export interface PaymentSecrets extends PaymentInfo {
  /** The router's public base URL: the sandbox page and the providers' notify addresses hang off it. */
  readonly publicUrl: string;
}

/** PAYMENT_WEBHOOK_SECRET, or in development one generated once into MALL_DATA_DIR (like the admin password). */
export async function paymentSecrets(kit: Kit): Promise<PaymentSecrets> {
  const given = kit.settings.webhookSecret;
  const webhookSecret = await devSecret(kit.config, 'payment-webhook-secret', given, () =>
    randomBytes(32).toString('base64url'),
  );
  const publicUrl = (kit.settings.publicUrl ?? `http://127.0.0.1:${kit.config.port}`).replace(/\/$/, '');
  return { webhookSecret, generated: !given, publicUrl };
}

/**
 * The configured providers. The sandbox is always there and takes every method whose real provider has no
 * keys; Alipay takes ALIPAY and WeChat Pay takes WECHAT_PAY once configured.
 */
export function createProviders(kit: Kit, secrets: PaymentSecrets): Providers {
  const notifyUrl = (name: ProviderName) => `${secrets.publicUrl}/webhooks/payments/${name}`;
  const { alipay, wechatpay } = kit.settings;
  const byName = new Map<ProviderName, PaymentProvider>([
    ['sandbox', sandboxProvider({ secret: secrets.webhookSecret, publicUrl: secrets.publicUrl, prisma: kit.prisma })],
  ]);
  if (alipay) byName.set('alipay', alipayProvider(alipay, notifyUrl('alipay')));
  if (wechatpay) byName.set('wechatpay', wechatPayProvider(wechatpay, notifyUrl('wechatpay')));
  const sandbox = byName.get('sandbox') as PaymentProvider;
  const forMethod: Record<PaymentMethod, PaymentProvider> = {
    ALIPAY: byName.get('alipay') ?? sandbox,
    WECHAT_PAY: byName.get('wechatpay') ?? sandbox,
    CARD: sandbox,
  };
  return { forMethod: (method) => forMethod[method], byName: (name) => byName.get(name) };
}
