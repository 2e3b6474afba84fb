// What the payment tests need: provider keys they generate, callbacks signed as each provider signs them, and
// the payment database through the subgraph's own client.
import { createCipheriv, createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createPrismaClient, domainDatabaseUrl } from '@mall/platform';
import type { TestStack } from '@mall/stack/testing';
import { PrismaClient } from '../data/generated/client.ts';
import { alipaySigningString } from '../providers/alipay.ts';
import { SIGNATURE_HEADER, signSandboxCallback } from '../providers/sandbox.ts';

export const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('hex')}`;
export const ALIPAY_APP_ID = '2021000000000001';
export const WECHAT_API_V3_KEY = randomBytes(16).toString('hex'); // 32 characters, as WeChat issues them
export const WECHAT_PLATFORM_SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';

const rsaPair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

/** The providers' keys, generated per test run: ours (merchant) and theirs (Alipay's, WeChat's platform). */
export const keys = { alipay: rsaPair(), merchant: rsaPair(), wechatPlatform: rsaPair() };

/** A stand-in for WeChat Pay's API, only for the native order `pay` opens (the real one is not reachable). */
export async function startWechatApiStub(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const ok =
        req.url === '/v3/pay/transactions/native' &&
        /^WECHATPAY2-SHA256-RSA2048 /.test(req.headers.authorization ?? '');
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(ok ? { code_url: `weixin://wxpay/bizpayurl?pr=${randomUUID()}` } : { code: 'SIGN_ERROR' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The payment subgraph's variables for a test stack: the sandbox secret, Alipay and WeChat Pay configured. */
export function paymentEnv(wechatApiUrl: string): Record<string, string> {
  return {
    PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PAYMENT_REFUND_RETRY_SECONDS: '1',
    ALIPAY_APP_ID,
    ALIPAY_PRIVATE_KEY: keys.merchant.privateKey,
    ALIPAY_PUBLIC_KEY: keys.alipay.publicKey,
    WECHATPAY_APP_ID: 'wx8888888888888888',
    WECHATPAY_MCH_ID: '1230000109',
    WECHATPAY_MCH_SERIAL: '444F4864EA9B34415...',
    WECHATPAY_PRIVATE_KEY: keys.merchant.privateKey,
    WECHATPAY_API_V3_KEY: WECHAT_API_V3_KEY,
    WECHATPAY_PLATFORM_PUBLIC_KEY: keys.wechatPlatform.publicKey,
    WECHATPAY_PLATFORM_SERIAL: WECHAT_PLATFORM_SERIAL,
    WECHATPAY_API_URL: wechatApiUrl,
  };
}

/** The router's base URL (the stack's `url` is its /graphql endpoint). */
export const routerBase = (stack: TestStack): string => stack.url.replace(/\/graphql$/, '');

export interface Delivery {
  readonly status: number;
  readonly body: string;
}

/** POSTs a callback to the router's webhook route, as a provider does. */
export async function deliver(
  stack: TestStack,
  provider: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<Delivery> {
  const response = await fetch(`${routerBase(stack)}/webhooks/payments/${provider}`, {
    method: 'POST',
    headers,
    body,
  });
  return { status: response.status, body: await response.text() };
}

export function sandboxEvent(
  providerReference: string,
  amount: number,
  options: { type?: string; id?: string; currency?: string } = {},
): string {
  return JSON.stringify({
    id: options.id ?? `evt_${randomUUID()}`,
    type: options.type ?? 'payment.succeeded',
    data: { providerReference, amount, currency: options.currency ?? 'CNY' },
  });
}

/** A sandbox callback signed with the contract's `Mall-Signature` (at `at`, default now). */
export function sandboxHeaders(body: string, at = new Date(), secret = WEBHOOK_SECRET): Record<string, string> {
  return { 'content-type': 'application/json', [SIGNATURE_HEADER]: signSandboxCallback(secret, body, at) };
}

/** An Alipay asynchronous notify for a trade, signed with "Alipay's" key as Alipay documents it. */
export function alipayNotify(
  outTradeNo: string,
  totalAmount: string,
  options: { tradeStatus?: string; notifyId?: string; signWith?: string } = {},
): string {
  const params: Record<string, string> = {
    notify_time: '2026-11-29 10:00:00',
    notify_type: 'trade_status_sync',
    notify_id: options.notifyId ?? `ac05099524730693a8b330c5ecf72da${randomBytes(4).toString('hex')}`,
    app_id: ALIPAY_APP_ID,
    charset: 'utf-8',
    version: '1.0',
    trade_no: `2026112922001${randomBytes(6).toString('hex')}`,
    out_trade_no: outTradeNo,
    trade_status: options.tradeStatus ?? 'TRADE_SUCCESS',
    total_amount: totalAmount,
    subject: '订单 支付',
  };
  const sign = createSign('RSA-SHA256')
    .update(alipaySigningString(params, []))
    .sign(options.signWith ?? keys.alipay.privateKey, 'base64');
  return new URLSearchParams({ ...params, sign_type: 'RSA2', sign }).toString();
}

/** A WeChat Pay v3 notification: resource encrypted with the APIv3 key, signed with the platform key. */
export function wechatNotification(
  outTradeNo: string,
  total: number,
  options: { tradeState?: string; id?: string; timestamp?: number; signWith?: string } = {},
): { body: string; headers: Record<string, string> } {
  const transaction = JSON.stringify({
    mchid: '1230000109',
    appid: 'wx8888888888888888',
    out_trade_no: outTradeNo,
    transaction_id: `42000${randomBytes(8).toString('hex')}`,
    trade_state: options.tradeState ?? 'SUCCESS',
    amount: { total, payer_total: total, currency: 'CNY', payer_currency: 'CNY' },
  });
  const nonce = randomBytes(6).toString('hex');
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(WECHAT_API_V3_KEY, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from('transaction', 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(transaction, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const body = JSON.stringify({
    id: options.id ?? randomUUID(),
    create_time: '2026-11-29T10:00:00+08:00',
    resource_type: 'encrypt-resource',
    event_type: 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: {
      original_type: 'transaction',
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext: ciphertext.toString('base64'),
      associated_data: 'transaction',
      nonce,
    },
  });
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signNonce = randomBytes(16).toString('hex');
  const signature = createSign('RSA-SHA256')
    .update(`${timestamp}\n${signNonce}\n${body}\n`)
    .sign(options.signWith ?? keys.wechatPlatform.privateKey, 'base64');
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': signNonce,
      'wechatpay-signature': signature,
      'wechatpay-serial': WECHAT_PLATFORM_SERIAL,
    },
  };
}

/** The stack's payment database through the subgraph's own client. */
export function paymentDb(stack: TestStack): PrismaClient {
  return createPrismaClient(PrismaClient, {
    url: domainDatabaseUrl(stack.config, 'payment'),
    poolSize: 2,
    logger: createLogger({ service: 'payment-test', level: 'silent' }),
    applicationName: 'payment-test',
  });
}
