import { defineSubgraph } from '@mall/platform/kit';
import { flashsaleConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ProductClient } from './data/product-client.ts';
import { SaleStore } from './data/sale-store.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { resolvers } from './resolvers/index.ts';
import { FlashSaleService } from './service.ts';
import { startSettlement } from './settlement.ts';

export type { FlashSaleService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'flashsale',
  module: import.meta.url,
  prisma: PrismaClient,
  config: flashsaleConfig,
  outbox: true,
  async setup(
    { config, settings, logger, prisma, redis, ids, internalSecret, onStop },
    options: { now?: () => number },
  ) {
    // The crowd's buys on their own connection, auto-pipelined: the scripts (and rejection records) of every
    // buy that reaches Redis in one turn of the event loop leave in one write instead of a syscall each — the
    // largest cost of a rejected buy in this subgraph. Same options as the shared client (prefix, time-outs).
    const crowd = redis.duplicate({ enableAutoPipelining: true, enableOfflineQueue: true });
    crowd.once('ready', () => {
      crowd.options.enableOfflineQueue = false;
    });
    // The shared client on the same server already logs an outage, once.
    crowd.on('error', () => {});
    onStop('flash-sale redis', async () => {
      await crowd.quit().catch(() => crowd.disconnect());
    });
    const store = new SaleStore(crowd, settings.ipLimit);
    const products = new ProductClient(config, internalSecret);
    const flashSales = new FlashSaleService({ prisma, store, products, ids, logger, ...options });
    await flashSales.warm();
    const settlement = startSettlement(flashSales, settings.settleSweepSeconds, logger);
    onStop('flash-sale settlement', settlement);
    return {
      resolvers,
      context: createContext(flashSales),
      consumers: [orderEventsConsumer(flashSales)],
      info: flashSales,
    };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
