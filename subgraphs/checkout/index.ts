import { defineSubgraph } from '@mall/platform/kit';
import { checkoutConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { createPeers } from './data/peers.ts';
import { startRepair } from './repair.ts';
import { resolvers } from './resolvers/index.ts';
import { CheckoutService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'checkout',
  module: import.meta.url,
  prisma: PrismaClient,
  config: checkoutConfig,
  setup: async ({ config, settings, logger, prisma, ids, internalSecret, onStop }) => {
    const peers = createPeers(config, internalSecret);
    const checkouts = new CheckoutService({ prisma, peers, ids, logger, ...settings });
    const repair = await startRepair(checkouts, { logger, intervalSeconds: settings.repairIntervalSeconds });
    onStop('checkout repair', () => repair.stop());
    return { resolvers, context: createContext(checkouts) };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
