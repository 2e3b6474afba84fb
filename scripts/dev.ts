/** `npm start` after bootstrap: the whole stack in one process, on Node 24. */
import { performance } from 'node:perf_hooks';
import { startStack } from '@mall/stack';

const startedAt = performance.now();
const stack = await startStack({ pretty: Boolean(process.stdout.isTTY) });
stack.lifecycle.installSignalHandlers();

const user = stack.services.get('user') as
  | { admin?: { email: string; password: string; created: boolean } }
  | undefined;
const lines = [
  '',
  `  Mall Supergraph is up in ${((performance.now() - startedAt) / 1000).toFixed(1)}s`,
  `  GraphQL endpoint  ${stack.url?.replace('127.0.0.1', 'localhost')}`,
  `  Kafka brokers     ${stack.config.kafka.brokers?.join(', ')}${stack.embeddedBroker ? ' (embedded)' : ''}`,
  ...(user?.admin
    ? [`  Admin             ${user.admin.email} / ${user.admin.password}${user.admin.created ? ' (created)' : ''}`]
    : []),
  '  Ctrl-C stops everything.',
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
