import { defineSubgraph } from '@mall/platform/kit';
import { createContext } from './context.ts';
import { createProductClient } from './data/catalog.ts';
import { PrismaClient } from './data/generated/client.ts';
import { orderEventsConsumer } from './events/order-events.ts';
import { resolvers } from './resolvers/index.ts';
import { CART_READERS, CartService } from './service.ts';

const subgraph = defineSubgraph({
  name: 'cart',
  module: import.meta.url,
  prisma: PrismaClient,
  trustedServices: CART_READERS,
  setup({ config, internalSecret, prisma }) {
    const carts = new CartService({ prisma, products: createProductClient(config, internalSecret) });
    return { resolvers, context: createContext(carts), consumers: [orderEventsConsumer(carts)] };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
