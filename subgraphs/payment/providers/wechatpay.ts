import { createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { PaymentConfig } from '../config.ts';
import { publicKeyOf, rsaSign, rsaVerify } from './crypto.ts';
import {
  CallbackRefused,
  jsonReply,
  type PaymentProvider,
  parseJson,
  type RawCallback,
  requireHeader,
} from './provider.ts';
import { SIGNATURE_TOLERANCE_SECONDS } from './sandbox.ts';

export type WechatPaySettings = NonNullable<PaymentConfig['wechatpay']>;

const Notification = z.object({
  id: z.string().min(1).max(200),
  resource: z.object({
    algorithm: z.literal('AEAD_AES_256_GCM'),
    ciphertext: z.string().min(1),
    nonce: z.string().min(1),
    associated_data: z.string().optional(),
  }),
});

const Transaction = z.object({
  out_trade_no: z.string().min(1),
  trade_state: z.string().min(1),
  amount: z.object({ total: z.number().int().min(0), currency: z.string().default('CNY') }),
});

const FAILED_STATES = new Set(['CLOSED', 'REVOKED', 'PAYERROR']);

/** AEAD_AES_256_GCM with the APIv3 key: the tag is the ciphertext's last 16 bytes. Null when it does not open. */
export function decryptResource(
  apiV3Key: string,
  resource: { ciphertext: string; nonce: string; associated_data?: string | undefined },
): string | null {
  try {
    const data = Buffer.from(resource.ciphertext, 'base64');
    const decipher = createDecipheriv(
      'aes-256-gcm',
      Buffer.from(apiV3Key, 'utf8'),
      Buffer.from(resource.nonce, 'utf8'),
    );
    decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * WeChat Pay API v3: a notification is verified with the platform public key (SHA256withRSA over
 * `timestamp\nnonce\nbody\n`, headers `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`), its `resource` opened
 * with the APIv3 key, and answered 204 (any 4xx/5xx with `{code: "FAIL"}` makes WeChat deliver again).
 * Orders and refunds are v3 API calls signed with the merchant key: only a configured deployment makes them.
 */
export function wechatPayProvider(settings: WechatPaySettings, notifyUrl: string): PaymentProvider {
  const platformKey = publicKeyOf(settings.platformPublicKey);

  async function call<T>(path: string, body: object): Promise<T> {
    const text = JSON.stringify(body);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString('hex');
    const signature = rsaSign(settings.privateKey, `POST\n${path}\n${timestamp}\n${nonce}\n${text}\n`);
    const response = await fetch(`${settings.apiUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization:
          `WECHATPAY2-SHA256-RSA2048 mchid="${settings.mchId}",nonce_str="${nonce}",signature="${signature}",` +
          `timestamp="${timestamp}",serial_no="${settings.mchSerial}"`,
      },
      body: text,
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`wechatpay ${path} failed with HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  return {
    name: 'wechatpay',
    async createPayment({ paymentId, amount, description }) {
      const reply = await call<{ code_url?: string }>('/v3/pay/transactions/native', {
        appid: settings.appId,
        mchid: settings.mchId,
        description,
        out_trade_no: String(paymentId),
        notify_url: notifyUrl,
        amount: { total: amount.amount, currency: amount.currency },
      });
      if (!reply.code_url) throw new Error('wechatpay answered a native order without code_url');
      return { providerReference: String(paymentId), checkoutUrl: reply.code_url };
    },
    parseCallback(callback: RawCallback) {
      const timestamp = requireHeader(callback, 'wechatpay-timestamp');
      const nonce = requireHeader(callback, 'wechatpay-nonce');
      const signature = requireHeader(callback, 'wechatpay-signature');
      const serial = requireHeader(callback, 'wechatpay-serial');
      if (settings.platformSerial && serial !== settings.platformSerial)
        throw new CallbackRefused('Unknown platform certificate serial');
      if (
        !/^\d{1,12}$/.test(timestamp) ||
        Math.abs(Date.now() / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS
      )
        throw new CallbackRefused('Timestamp outside the tolerance');
      const message = Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), callback.body, Buffer.from('\n')]);
      if (!rsaVerify(platformKey, message, signature)) throw new CallbackRefused('Signature does not match');
      const notification = Notification.safeParse(parseJson(callback.body));
      if (!notification.success) throw new CallbackRefused('Malformed notification');
      const plain = decryptResource(settings.apiV3Key, notification.data.resource);
      if (plain === null) throw new CallbackRefused('Resource does not decrypt');
      const transaction = Transaction.safeParse(parseJson(Buffer.from(plain)));
      if (!transaction.success) throw new CallbackRefused('Malformed transaction');
      const { out_trade_no: reference, trade_state: state, amount } = transaction.data;
      const eventId = notification.data.id;
      if (state !== 'SUCCESS' && !FAILED_STATES.has(state)) return { eventId, outcome: 'ignored' };
      return {
        eventId,
        providerReference: reference,
        outcome: state === 'SUCCESS' ? 'succeeded' : 'failed',
        amount: { amount: amount.total, currency: amount.currency },
        reason: state === 'SUCCESS' ? null : state,
      };
    },
    async refund({ idempotencyKey, providerReference, amount, reason }) {
      await call('/v3/refund/domestic/refunds', {
        out_trade_no: providerReference,
        out_refund_no: idempotencyKey,
        ...(reason ? { reason } : {}),
        amount: { refund: amount.amount, total: amount.amount, currency: amount.currency },
      });
    },
    accepted: { status: 204, contentType: 'application/json; charset=utf-8', body: '' },
    refused: (message) => jsonReply(400, { code: 'FAIL', message }),
  };
}
