import { createRedis } from '@mall/platform';
import { defineSubgraph } from '@mall/platform/kit';
import { flashsaleConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ProductClient } from './data/product-client.ts';
import { SaleStore } from './data/sale-store.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { resolvers } from './resolvers/index.ts';
import { FlashSaleService, GRANT_WAIT_MS } from './service.ts';
import { startSettlement } from './settlement.ts';

export type { FlashSaleService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'flashsale',
  module: import.meta.url,
  prisma: PrismaClient,
  poolWaitMs: GRANT_WAIT_MS,
  config: flashsaleConfig,
  outbox: true,
  async setup({ config, settings, logger, prisma, ids, internalSecret, onStop }, options: { now?: () => number }) {
    // Its own auto-pipelining client: a crowd's buy scripts go to Redis one write per turn of the event loop,
    // not one each (see `createRedis`'s `autoPipelining`; the store registers its scripts before any command).
    const storeRedis = createRedis(config, logger, { autoPipelining: true });
    onStop('flash-sale store redis', async () => {
      await storeRedis.quit();
    });
    const store = new SaleStore(storeRedis, settings.ipLimit);
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
