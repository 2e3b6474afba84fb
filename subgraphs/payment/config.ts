import { configFields, defineConfig } from '@mall/platform';
import { z } from 'zod';

/**
 * payment's own variables: the sandbox provider's signing secret (generated in development), where the public
 * entry point is (the sandbox page's address), how often unfinished refunds are retried, and the keys of the
 * real providers. Alipay and WeChat Pay take over their methods only when their keys are all given; until
 * then every method is paid through the sandbox.
 */
export const paymentConfig = defineConfig(
  'payment',
  z
    .object({
      PAYMENT_WEBHOOK_SECRET: configFields.optionalString,
      // The router's public base URL, for the sandbox checkout page; defaults to the local router.
      PAYMENT_PUBLIC_URL: z.url().optional(),
      PAYMENT_REFUND_RETRY_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
      ALIPAY_APP_ID: configFields.optionalString,
      ALIPAY_PRIVATE_KEY: configFields.optionalString,
      ALIPAY_PUBLIC_KEY: configFields.optionalString,
      ALIPAY_GATEWAY_URL: z.url().default('https://openapi.alipay.com/gateway.do'),
      WECHATPAY_APP_ID: configFields.optionalString,
      WECHATPAY_MCH_ID: configFields.optionalString,
      WECHATPAY_MCH_SERIAL: configFields.optionalString,
      WECHATPAY_PRIVATE_KEY: configFields.optionalString,
      WECHATPAY_API_V3_KEY: configFields.optionalString,
      WECHATPAY_PLATFORM_PUBLIC_KEY: configFields.optionalString,
      WECHATPAY_PLATFORM_SERIAL: configFields.optionalString,
      WECHATPAY_API_URL: z.url().default('https://api.mch.weixin.qq.com'),
    })
    .transform((e) => ({
      webhookSecret: e.PAYMENT_WEBHOOK_SECRET,
      publicUrl: e.PAYMENT_PUBLIC_URL,
      refundRetrySeconds: e.PAYMENT_REFUND_RETRY_SECONDS,
      alipay:
        e.ALIPAY_APP_ID && e.ALIPAY_PRIVATE_KEY && e.ALIPAY_PUBLIC_KEY
          ? {
              appId: e.ALIPAY_APP_ID,
              privateKey: e.ALIPAY_PRIVATE_KEY,
              publicKey: e.ALIPAY_PUBLIC_KEY,
              gatewayUrl: e.ALIPAY_GATEWAY_URL,
            }
          : null,
      wechatpay:
        e.WECHATPAY_APP_ID &&
        e.WECHATPAY_MCH_ID &&
        e.WECHATPAY_MCH_SERIAL &&
        e.WECHATPAY_PRIVATE_KEY &&
        e.WECHATPAY_API_V3_KEY &&
        e.WECHATPAY_PLATFORM_PUBLIC_KEY
          ? {
              appId: e.WECHATPAY_APP_ID,
              mchId: e.WECHATPAY_MCH_ID,
              mchSerial: e.WECHATPAY_MCH_SERIAL,
              privateKey: e.WECHATPAY_PRIVATE_KEY,
              apiV3Key: e.WECHATPAY_API_V3_KEY,
              platformPublicKey: e.WECHATPAY_PLATFORM_PUBLIC_KEY,
              platformSerial: e.WECHATPAY_PLATFORM_SERIAL ?? null,
              apiUrl: e.WECHATPAY_API_URL,
            }
          : null,
    })),
);
export type PaymentConfig = z.infer<typeof paymentConfig.schema>;
