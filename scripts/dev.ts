/** `npm start` after bootstrap: the whole stack in one process, on Node 24. */
import { performance } from 'node:perf_hooks';
import type { RunningSubgraph } from '@mall/platform/kit';
import { startStack } from '@mall/stack';
import type { PaymentInfo } from '@mall/subgraph-payment';
import type { BootstrapAdmin } from '@mall/subgraph-user';

const startedAt = performance.now();
const stack = await startStack({ pretty: Boolean(process.stdout.isTTY) });
stack.lifecycle.installSignalHandlers();

// The user subgraph hands back its bootstrap admin as the kit's `info`.
const admin = (stack.services.get('user') as RunningSubgraph<BootstrapAdmin> | undefined)?.info;
// And the payment subgraph its sandbox signing secret, when it generated one for development.
const payment = (stack.services.get('payment') as RunningSubgraph<PaymentInfo> | undefined)?.info;
const lines = [
  '',
  `  Mall Supergraph is up in ${((performance.now() - startedAt) / 1000).toFixed(1)}s`,
  `  GraphQL endpoint  ${stack.url?.replace('127.0.0.1', 'localhost')}`,
  `  Kafka brokers     ${stack.config.kafka.brokers?.join(', ')}${stack.embeddedBroker ? ' (embedded)' : ''}`,
  ...(admin ? [`  Admin             ${admin.email} / ${admin.password}${admin.created ? ' (created)' : ''}`] : []),
  ...(payment?.generated ? [`  Payment webhooks  PAYMENT_WEBHOOK_SECRET=${payment.webhookSecret}`] : []),
  '  Ctrl-C stops everything.',
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
