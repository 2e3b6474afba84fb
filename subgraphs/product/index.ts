import { defineSubgraph } from '@mall/platform/kit';
import { type ProductConfig, productConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ProductCache } from './data/product-cache.ts';
import { findByIds } from './data/products.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { InventoryService, STOCK_CALLERS } from './inventory.ts';
import { startLeaseSweep } from './lease-sweep.ts';
import { resolvers } from './resolvers/index.ts';
import { CATALOG_READERS, CatalogService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'product',
  module: import.meta.url,
  prisma: PrismaClient,
  config: productConfig,
  trustedServices: [...new Set([...STOCK_CALLERS, ...CATALOG_READERS])],
  outbox: true,
  setup(kit, options: Partial<Pick<ProductConfig, 'reservationLeaseSeconds' | 'sweepIntervalSeconds'>>) {
    const settings = { ...kit.settings, ...options };
    const nextId = () => kit.ids.next();
    const load = (ids: readonly bigint[]) => findByIds(kit.prisma, ids);
    const cache = new ProductCache({
      ...kit,
      load,
      ttlSeconds: settings.cacheTtlSeconds,
      timeoutMs: settings.cacheTimeoutMs,
    });
    kit.onStop('product cache', () => cache.stop());
    const inventory = new InventoryService({ ...kit, ...settings, cache, nextId });
    const sweep = startLeaseSweep(inventory, { ...kit, intervalSeconds: settings.sweepIntervalSeconds });
    kit.onStop('reservation lease sweep', () => sweep.stop());
    const context = createContext(new CatalogService({ prisma: kit.prisma, cache, nextId }), inventory);
    return { resolvers, context, consumers: [orderEventsConsumer(inventory)] };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
