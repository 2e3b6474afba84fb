// The providers' verification, without a network or a database: the signatures, freshness, amounts and shapes
// each provider documents.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@mall/platform';
import { paymentMachine } from '../domain/state-machine.ts';
import { alipayProvider } from '../providers/alipay.ts';
import { fenToYuan, yuanToFen } from '../providers/crypto.ts';
import { CallbackRefused, type PaymentProvider } from '../providers/provider.ts';
import { signSandboxCallback, verifySandboxSignature } from '../providers/sandbox.ts';
import { decryptResource, wechatPayProvider } from '../providers/wechatpay.ts';
import {
  ALIPAY_APP_ID,
  alipayNotify,
  keys,
  WECHAT_API_V3_KEY,
  WECHAT_PLATFORM_SERIAL,
  wechatNotification,
} from './helpers.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const alipay = alipayProvider(
  {
    appId: ALIPAY_APP_ID,
    privateKey: keys.merchant.privateKey,
    publicKey: keys.alipay.publicKey,
    gatewayUrl: 'https://openapi.alipay.com/gateway.do',
  },
  'http://mall.test/webhooks/payments/alipay',
);
const wechat = wechatPayProvider(
  {
    appId: 'wx8888888888888888',
    mchId: '1230000109',
    mchSerial: 'serial',
    privateKey: keys.merchant.privateKey,
    apiV3Key: WECHAT_API_V3_KEY,
    platformPublicKey: keys.wechatPlatform.publicKey,
    platformSerial: WECHAT_PLATFORM_SERIAL,
    apiUrl: 'http://127.0.0.1:9',
  },
  'http://mall.test/webhooks/payments/wechatpay',
);

const parse = (provider: PaymentProvider, body: string, headers: Record<string, string>) =>
  provider.parseCallback({ headers, body: Buffer.from(body) });

describe('sandbox signature', () => {
  const secret = 'test-secret';
  const body = Buffer.from('{"id":"evt_1"}');

  test('accepts its own signature, and any matching v1 among several (secret rotation)', () => {
    verifySandboxSignature(secret, signSandboxCallback(secret, body), body);
    const other = signSandboxCallback('old-secret', body).split(',')[1];
    verifySandboxSignature(secret, `${signSandboxCallback(secret, body)},${other}`, body);
  });

  test('refuses another secret, another body, a stale or future timestamp, a malformed header', () => {
    const now = Date.now();
    const refusals = [
      () => verifySandboxSignature(secret, signSandboxCallback('other', body), body),
      () => verifySandboxSignature(secret, signSandboxCallback(secret, body), Buffer.from('{"id":"evt_2"}')),
      () => verifySandboxSignature(secret, signSandboxCallback(secret, body, new Date(now - 301_000)), body, now),
      () => verifySandboxSignature(secret, signSandboxCallback(secret, body, new Date(now + 301_000)), body, now),
      () => verifySandboxSignature(secret, 'v1=abc', body),
      () => verifySandboxSignature(secret, 't=1,v1=', body),
    ];
    for (const refusal of refusals) assert.throws(refusal, CallbackRefused);
  });
});

describe('amounts', () => {
  test('yuan ↔ fen, exactly', () => {
    assert.equal(yuanToFen('44.98'), 4498);
    assert.equal(yuanToFen('1'), 100);
    assert.equal(yuanToFen('0.5'), 50);
    for (const bad of ['1.234', '-1', '1e3', '', ' 1', '1.']) assert.equal(yuanToFen(bad), null, bad);
    assert.equal(fenToYuan(4498), '44.98');
    assert.equal(fenToYuan(5), '0.05');
  });
});

describe('Alipay notify', () => {
  test('a success, a close and a wait are read as Alipay documents them', () => {
    assert.deepEqual(parse(alipay, alipayNotify('42', '44.98', { notifyId: 'n1' }), FORM), {
      eventId: 'n1',
      providerReference: '42',
      outcome: 'succeeded',
      amount: { amount: 4498, currency: 'CNY' },
      reason: null,
    });
    assert.equal(
      parse(alipay, alipayNotify('42', '1.00', { tradeStatus: 'TRADE_FINISHED' }), FORM).outcome,
      'succeeded',
    );
    assert.equal(parse(alipay, alipayNotify('42', '1.00', { tradeStatus: 'TRADE_CLOSED' }), FORM).outcome, 'failed');
    assert.equal(parse(alipay, alipayNotify('42', '1.00', { tradeStatus: 'WAIT_BUYER_PAY' }), FORM).outcome, 'ignored');
  });

  test('refuses another key, a changed field, RSA1, another app, JSON', () => {
    const good = alipayNotify('42', '44.98');
    const refusals = [
      alipayNotify('42', '44.98', { signWith: keys.merchant.privateKey }),
      good.replace('total_amount=44.98', 'total_amount=0.01'),
      good.replace('sign_type=RSA2', 'sign_type=RSA'),
      good.replace(`app_id=${ALIPAY_APP_ID}`, 'app_id=2021000000000002'),
    ];
    for (const body of refusals) assert.throws(() => parse(alipay, body, FORM), CallbackRefused, body.slice(0, 40));
    assert.throws(() => parse(alipay, good, { 'content-type': 'application/json' }), CallbackRefused);
  });

  test('the page-pay address carries a signature Alipay can verify', async () => {
    const { checkoutUrl, providerReference } = await alipay.createPayment({
      paymentId: 7n,
      amount: { amount: 4498, currency: 'CNY' },
      description: 'Order 7',
    });
    assert.equal(providerReference, '7');
    const params = new URL(checkoutUrl ?? '').searchParams;
    assert.equal(JSON.parse(params.get('biz_content') ?? '{}').total_amount, '44.98');
    assert.equal(params.get('sign_type'), 'RSA2');
  });
});

describe('WeChat Pay v3 notification', () => {
  test('a success is verified, decrypted and read', () => {
    const { body, headers } = wechatNotification('42', 4498, { id: 'w1' });
    assert.deepEqual(parse(wechat, body, headers), {
      eventId: 'w1',
      providerReference: '42',
      outcome: 'succeeded',
      amount: { amount: 4498, currency: 'CNY' },
      reason: null,
    });
    const closed = wechatNotification('42', 4498, { tradeState: 'CLOSED' });
    assert.equal(parse(wechat, closed.body, closed.headers).outcome, 'failed');
    const waiting = wechatNotification('42', 4498, { tradeState: 'USERPAYING' });
    assert.equal(parse(wechat, waiting.body, waiting.headers).outcome, 'ignored');
  });

  test('refuses another key, another serial, a stale timestamp, a changed body, missing headers', () => {
    const good = wechatNotification('42', 4498);
    const cases: [string, Record<string, string>][] = [
      [wechatNotification('42', 4498, { signWith: keys.merchant.privateKey }).body, good.headers],
      [good.body, { ...good.headers, 'wechatpay-serial': 'another' }],
      [good.body.replace('"id":"', '"id":"x'), good.headers],
      [good.body, { 'content-type': 'application/json' }],
    ];
    const stale = wechatNotification('42', 4498, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    cases.push([stale.body, stale.headers]);
    for (const [body, headers] of cases) assert.throws(() => parse(wechat, body, headers), CallbackRefused);
  });

  test('a resource sealed with another APIv3 key does not open', () => {
    const { body } = wechatNotification('42', 4498);
    const { resource } = JSON.parse(body) as { resource: { ciphertext: string; nonce: string } };
    assert.equal(decryptResource('0'.repeat(32), resource), null);
    assert.match(decryptResource(WECHAT_API_V3_KEY, { ...resource, associated_data: 'transaction' }) ?? '', /"42"/);
  });
});

describe('payment state machine', () => {
  test('PENDING → SUCCEEDED → REFUNDED, PENDING → FAILED, nothing else', () => {
    assert.equal(paymentMachine.plan('succeed', 'PENDING', undefined).to, 'SUCCEEDED');
    assert.equal(paymentMachine.plan('fail', 'PENDING', undefined).to, 'FAILED');
    assert.equal(paymentMachine.plan('refund', 'SUCCEEDED', undefined).to, 'REFUNDED');
    for (const [command, from] of [
      ['succeed', 'FAILED'],
      ['succeed', 'REFUNDED'],
      ['fail', 'SUCCEEDED'],
      ['refund', 'PENDING'],
      ['refund', 'FAILED'],
    ] as const)
      assert.throws(
        () => paymentMachine.plan(command, from, undefined),
        (error: unknown) => error instanceof AppError && error.code === 'INVALID_STATE',
      );
  });
});
