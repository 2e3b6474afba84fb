import { defineSubgraph } from '@mall/platform/kit';
import { productConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { ProductCache } from './data/product-cache.ts';
import { findByIds } from './data/products.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { InventoryService } from './inventory.ts';
import { startLeaseSweep } from './lease-sweep.ts';
import { resolvers } from './resolvers/index.ts';
import { CatalogService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'product',
  module: import.meta.url,
  prisma: PrismaClient,
  config: productConfig,
  trustedServices: ['checkout', 'order', 'flashsale'],
  outbox: true,
  setup(kit, options: { reservationLeaseSeconds?: number; sweepIntervalSeconds?: number }) {
    const settings = { ...kit.settings, ...options };
    const { prisma, redis, registry, logger } = kit;
    const nextId = () => kit.ids.next();
    const cache = new ProductCache({
      redis,
      registry,
      logger,
      load: (ids) => findByIds(prisma, ids),
      ttlSeconds: settings.cacheTtlSeconds,
      timeoutMs: settings.cacheTimeoutMs,
    });
    kit.onStop('product cache', () => cache.stop());
    const catalog = new CatalogService({ prisma, cache, nextId });
    const inventory = new InventoryService({ ...settings, prisma, cache, nextId, registry, logger });
    const sweep = startLeaseSweep(inventory, { intervalSeconds: settings.sweepIntervalSeconds, logger, registry });
    kit.onStop('reservation lease sweep', () => sweep.stop());
    return { resolvers, context: createContext(catalog, inventory), consumers: [orderEventsConsumer(inventory)] };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
