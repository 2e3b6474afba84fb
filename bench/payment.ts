/**
 * Payment callback → order PAID, as a customer sees it: for each of N payments, the time from the provider's
 * signed callback leaving (POST /webhooks/payments/sandbox through the router) to `order(id) { status }`
 * answering PAID through the router. That path is: callback verified and stored, payment SUCCEEDED with
 * `payment.succeeded` in the outbox, the relay publishes it, the order subgraph's consumer pays the order.
 * The order is polled every `--poll` ms, so figures are rounded up to that. Orders and payments are opened
 * before the clock starts. Loopback only, bounded counts.
 *   node bench/payment.ts [--payments 1000] [--concurrency 8] [--poll 5]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startTestStack } from '@mall/stack/testing';
import { customer, orderInput, placeOrder } from '../subgraphs/order/test/helpers.ts';
import { deliver, paymentEnv, sandboxEvent, sandboxHeaders } from '../subgraphs/payment/test/helpers.ts';
import { fmt, measure, percentile, resultFile } from './lib.ts';

const { values } = parseArgs({
  options: {
    payments: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    poll: { type: 'string', default: '5' },
  },
});
const total = Number(values.payments);
const concurrency = Number(values.concurrency);
const pollMs = Number(values.poll);

const PAY = `mutation Pay($input: PayInput!) { pay(input: $input) { id providerReference } }`;
const ORDER = `query Order($id: ID!) { order(id: $id) { status } }`;

const stack = await startTestStack({
  env: { ...paymentEnv('http://127.0.0.1:9'), RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' },
});
try {
  const buyer = await customer(stack);
  const opened: { orderId: string; reference: string; amount: number }[] = [];
  await measure(total, concurrency, async (i) => {
    const order = await placeOrder(stack, orderInput(buyer.id));
    const reply = await stack.gql<{ pay: { id: string; providerReference: string } }>(
      PAY,
      { input: { orderId: order.id, method: 'CARD', idempotencyKey: `bench-${i}` } },
      { token: buyer.token },
    );
    const payment = reply.body.data?.pay;
    if (!payment) throw new Error(`pay failed: ${JSON.stringify(reply.body.errors)}`);
    opened.push({ orderId: order.id, reference: payment.providerReference, amount: order.total.amount });
  });

  const callbackMs: number[] = [];
  const summary = await measure(opened.length, concurrency, async (i) => {
    const { orderId, reference, amount } = opened[i]!;
    const body = sandboxEvent(reference, amount);
    const t0 = performance.now();
    const reply = await deliver(stack, 'sandbox', body, sandboxHeaders(body));
    callbackMs.push(performance.now() - t0);
    if (reply.status !== 200) throw new Error(`callback answered ${reply.status}: ${reply.body}`);
    for (;;) {
      const view = await stack.gql<{ order: { status: string } }>(ORDER, { id: orderId }, { token: buyer.token });
      if (view.body.data?.order.status === 'PAID') return;
      await delay(pollMs);
    }
  });
  callbackMs.sort((a, b) => a - b);
  const callback = {
    count: callbackMs.length,
    p50: percentile(callbackMs, 50),
    p99: percentile(callbackMs, 99),
    mean: callbackMs.reduce((a, b) => a + b, 0) / callbackMs.length,
  };
  const lines = [
    `# Payment callback → order PAID (${new Date().toISOString()})`,
    '',
    `Command: \`node bench/payment.ts --payments ${total} --concurrency ${concurrency} --poll ${pollMs}\` on ${process.version}, ${availableParallelism()} cores (embedded broker, one process).`,
    '',
    '| measured | payments | p50 | p99 | mean |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| callback answered (router → payment: verify, store, SUCCEEDED + outbox) | ${callback.count} | ${fmt(callback.p50)} | ${fmt(callback.p99)} | ${fmt(callback.mean)} |`,
    `| callback sent → order PAID visible through the router | ${summary.count} | ${fmt(summary.p50)} | ${fmt(summary.p99)} | ${fmt(summary.mean)} |`,
    '',
    `Throughput: ${summary.perSecond.toFixed(0)} payments/s settled end to end at concurrency ${concurrency}.`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  writeFileSync(resultFile('payment.md'), lines.join('\n'));
} finally {
  await stack.close();
}
