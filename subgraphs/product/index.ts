import { defineSubgraph } from '@mall/platform/kit';
import { type ProductConfig, productConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ProductCache } from './data/product-cache.ts';
import { findByIds } from './data/products.ts';
import { flashsaleEventsConsumer } from './events/flashsale-events.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { InventoryService, RESERVATION_WAIT_MS, STOCK_CALLERS } from './inventory.ts';
import { resolvers } from './resolvers/index.ts';
import { CATALOG_READERS, CatalogService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'product',
  module: import.meta.url,
  prisma: PrismaClient,
  poolWaitMs: RESERVATION_WAIT_MS,
  config: productConfig,
  trustedServices: [...STOCK_CALLERS, ...CATALOG_READERS],
  outbox: true,
  setup(kit, options: Partial<ProductConfig>) {
    const settings = { ...kit.settings, ...options };
    const nextId = () => kit.ids.next();
    const cache = new ProductCache({ ...kit, ...settings, load: (ids) => findByIds(kit.prisma, ids) });
    kit.onStop('product cache', () => cache.stop());
    const inventory = new InventoryService({ ...kit, ...settings, nextId });
    kit.every('reservation lease sweep', settings.sweepIntervalSeconds * 1000, () => inventory.releaseExpired());
    const context = createContext(new CatalogService({ prisma: kit.prisma, cache, nextId }), inventory);
    return { resolvers, context, consumers: [orderEventsConsumer(inventory), flashsaleEventsConsumer(inventory)] };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
