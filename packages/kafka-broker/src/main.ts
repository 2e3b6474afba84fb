// Standalone broker for `npm run broker`.
import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { DEFAULT_VISIBILITY, startBroker } from './index.ts';

const port = Number(process.env.KAFKA_BROKER_PORT ?? 9092);
const dataDir = process.env.MALL_DATA_DIR ?? '.data';
const metricsPort = Number(process.env.KAFKA_BROKER_METRICS_PORT ?? port + 1000);
const host = process.env.KAFKA_BROKER_HOST ?? '127.0.0.1';
const visibility = process.env.KAFKA_BROKER_VISIBILITY;
if (visibility !== undefined && visibility !== 'written' && visibility !== 'durable') {
  console.error(`KAFKA_BROKER_VISIBILITY must be 'written' or 'durable', got '${visibility}'`);
  process.exit(1);
}

const logger = pino({ name: 'kafka-broker', level: process.env.LOG_LEVEL ?? 'info' });
const registry = new Registry();
collectDefaultMetrics({ register: registry });

const broker = await startBroker({
  port,
  host,
  dataDir,
  logger,
  metrics: registry,
  ...(visibility ? { visibility } : {}),
  ...(process.env.KAFKA_BROKER_ADVERTISED_HOST ? { advertisedHost: process.env.KAFKA_BROKER_ADVERTISED_HOST } : {}),
});
logger.info(
  { brokers: broker.brokers, visibility: visibility ?? DEFAULT_VISIBILITY, dataDir: path.resolve(dataDir, 'kafka') },
  'broker ready',
);

let metricsServer: http.Server | undefined;
if (metricsPort > 0) {
  metricsServer = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  metricsServer.listen(metricsPort, host, () =>
    logger.info({ url: `http://${host}:${metricsPort}/metrics` }, 'metrics endpoint'),
  );
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  metricsServer?.close();
  await broker.close();
  logger.info('broker stopped');
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
