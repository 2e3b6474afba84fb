import { defineSubgraph } from '@mall/platform/kit';
import { orderConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ORDER_CREATORS } from './domain/access.ts';
import { paymentEventsConsumer } from './events/payment-events.ts';
import { OrderExpiryQueue } from './expiry.ts';
import { resolvers } from './resolvers/index.ts';
import { OrderService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'order',
  module: import.meta.url,
  prisma: PrismaClient,
  config: orderConfig,
  trustedServices: ORDER_CREATORS,
  outbox: true,
  setup({ config, settings, logger, prisma, redis, ids, onStop, every }) {
    const expiry = new OrderExpiryQueue(config.redis, logger);
    onStop('order expiry', () => expiry.close());
    const orders = new OrderService({ prisma, redis, ids, expiry, settings, logger });
    expiry.start(orders);
    // The safety net for jobs Redis lost: overdue unpaid orders, cancelled through the same transition.
    every('order expiry sweep', settings.sweepIntervalSeconds * 1000, () => orders.sweepExpired());
    return { resolvers, context: createContext(orders), consumers: [paymentEventsConsumer(orders)] };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
