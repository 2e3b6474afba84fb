import { defineSubgraph } from '@mall/platform/kit';
import { paymentConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { createOrderClient } from './data/orders.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { createProviders, type PaymentInfo, paymentSecrets } from './providers/index.ts';
import { resolvers } from './resolvers/index.ts';
import { paymentRoutes } from './routes.ts';
import { PaymentService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'payment',
  module: import.meta.url,
  prisma: PrismaClient,
  config: paymentConfig,
  outbox: true,
  async setup(kit) {
    const secrets = await paymentSecrets(kit);
    const { prisma, ids, logger } = kit;
    const providers = createProviders(kit, secrets);
    const orders = createOrderClient(kit.config, kit.internalSecret);
    const payments = new PaymentService({ prisma, ids, providers, orders, logger });
    const retry = () => payments.finishRefunds().catch((err: unknown) => logger.warn({ err }, 'refund retry failed'));
    const refunds = setInterval(retry, kit.settings.refundRetrySeconds * 1000);
    kit.onStop('refund retries', () => clearInterval(refunds));
    const routes = paymentRoutes({ ...kit, ...secrets, service: payments });
    const info: PaymentInfo = { webhookSecret: secrets.webhookSecret, generated: secrets.generated };
    return { resolvers, context: createContext(payments), consumers: [orderEventsConsumer(payments)], routes, info };
  },
});
export default subgraph;
export type { PaymentInfo } from './providers/index.ts';

if (import.meta.main) await subgraph.main();
