import { defineSubgraph } from '@mall/platform/kit';
import { checkoutConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { createPeers } from './data/peers.ts';
import { resolvers } from './resolvers/index.ts';
import { CheckoutService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'checkout',
  module: import.meta.url,
  prisma: PrismaClient,
  config: checkoutConfig,
  setup: async ({ config, settings, logger, prisma, ids, internalSecret, every }) => {
    const checkouts = new CheckoutService({
      prisma,
      peers: createPeers(config, internalSecret),
      ids,
      logger,
      ...settings,
    });
    // Before serving: finish or undo what this instance's crash left; then, any instance's abandoned ones.
    await checkouts.repair();
    every('checkout repair', settings.repairIntervalSeconds * 1000, () => checkouts.repair());
    return { resolvers, context: createContext(checkouts) };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
