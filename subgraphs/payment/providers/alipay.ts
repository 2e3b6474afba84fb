import type { PaymentConfig } from '../config.ts';
import { fenToYuan, publicKeyOf, rsaSign, rsaVerify, yuanToFen } from './crypto.ts';
import { CallbackRefused, type CallbackReply, type PaymentProvider, type RawCallback } from './provider.ts';

export type AlipaySettings = NonNullable<PaymentConfig['alipay']>;

const SUCCESS_STATES = new Set(['TRADE_SUCCESS', 'TRADE_FINISHED']);

/** Alipay's string to sign: every parameter but `sign` (and `sign_type` for notifies), non-empty, sorted. */
export function alipaySigningString(params: Readonly<Record<string, string>>, exclude: readonly string[]): string {
  return Object.keys(params)
    .filter((key) => !exclude.includes(key) && params[key] !== '')
    .sort()
    .map((key) => `${key}=${params[key]}`)
    .join('&');
}

/** Alipay's timestamps are Beijing time, `yyyy-MM-dd HH:mm:ss`. */
const beijingTime = (at: Date): string =>
  new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');

const text = (status: number, body: string): CallbackReply => ({
  status,
  contentType: 'text/plain; charset=utf-8',
  body,
});

/**
 * Alipay (open platform, RSA2): the asynchronous notify is a form post signed with RSA-SHA256 over the sorted
 * `key=value` pairs without `sign`/`sign_type`, verified with Alipay's public key, and answered `success`.
 * `createPayment` builds the signed `alipay.trade.page.pay` address (no call); refunds call
 * `alipay.trade.refund` with `out_request_no` as the idempotency key, which only a configured deployment does.
 */
export function alipayProvider(settings: AlipaySettings, notifyUrl: string): PaymentProvider {
  const alipayKey = publicKeyOf(settings.publicKey);

  function signedParams(method: string, bizContent: object, extra: Record<string, string> = {}) {
    const params: Record<string, string> = {
      app_id: settings.appId,
      method,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: beijingTime(new Date()),
      version: '1.0',
      biz_content: JSON.stringify(bizContent),
      ...extra,
    };
    return { ...params, sign: rsaSign(settings.privateKey, alipaySigningString(params, ['sign'])) };
  }

  return {
    name: 'alipay',
    async createPayment({ paymentId, amount, description }) {
      const params = signedParams(
        'alipay.trade.page.pay',
        {
          out_trade_no: String(paymentId),
          total_amount: fenToYuan(amount.amount),
          subject: description,
          product_code: 'FAST_INSTANT_TRADE_PAY',
        },
        { notify_url: notifyUrl },
      );
      return {
        providerReference: String(paymentId),
        checkoutUrl: `${settings.gatewayUrl}?${new URLSearchParams(params)}`,
      };
    },
    parseCallback(callback: RawCallback) {
      const type = callback.headers['content-type'] ?? '';
      if (!/^application\/x-www-form-urlencoded/i.test(type)) throw new CallbackRefused('Expected a form post');
      const params: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(callback.body.toString('utf8'))) params[key] = value;
      const { sign, sign_type: signType, notify_id: notifyId, out_trade_no: reference } = params;
      if (!sign || signType !== 'RSA2' || !notifyId || !reference) throw new CallbackRefused('Malformed notify');
      if (!rsaVerify(alipayKey, alipaySigningString(params, ['sign', 'sign_type']), sign))
        throw new CallbackRefused('Signature does not match');
      if (params['app_id'] !== settings.appId) throw new CallbackRefused('Notify for another app');
      const status = params['trade_status'] ?? '';
      if (status === 'WAIT_BUYER_PAY') return { eventId: notifyId, outcome: 'ignored' };
      const fen = yuanToFen(params['total_amount'] ?? '');
      if (fen === null) throw new CallbackRefused('Malformed total_amount');
      return {
        eventId: notifyId,
        providerReference: reference,
        outcome: SUCCESS_STATES.has(status) ? 'succeeded' : 'failed',
        amount: { amount: fen, currency: 'CNY' },
        reason: SUCCESS_STATES.has(status) ? null : status,
      };
    },
    async refund({ idempotencyKey, providerReference, amount, reason }) {
      const params = signedParams('alipay.trade.refund', {
        out_trade_no: providerReference,
        refund_amount: fenToYuan(amount.amount),
        out_request_no: idempotencyKey,
        ...(reason ? { refund_reason: reason } : {}),
      });
      const response = await fetch(settings.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { alipay_trade_refund_response?: { code?: string; sub_msg?: string } };
      const reply = body.alipay_trade_refund_response;
      if (reply?.code !== '10000') throw new Error(`alipay refund failed: ${reply?.sub_msg ?? response.status}`);
    },
    accepted: text(200, 'success'),
    // Anything but `success` makes Alipay deliver again later.
    refused: () => text(400, 'failure'),
  };
}
