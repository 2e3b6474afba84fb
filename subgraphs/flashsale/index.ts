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
  async setup(
    { config, settings, logger, prisma, redis, ids, internalSecret, onStop },
    options: { now?: () => number },
  ) {
    // Not ioredis auto-pipelining, measured here: under a saturated loop its batch callback crashed the process
    // (`results[i] is not iterable`, ioredis issue #1931); each buy's script is its own write.
    const store = new SaleStore(redis, settings.ipLimit);
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
