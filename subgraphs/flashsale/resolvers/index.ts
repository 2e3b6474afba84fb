import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { FlashSaleContext } from '../context.ts';
import { FlashSale, FlashSalePurchase } from './FlashSale.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

const typed = { DateTime: DateTimeScalar, Query, Mutation, FlashSale, FlashSalePurchase } satisfies Resolvers;

// As in the other subgraphs: only the entities' entries need the cast (their __resolveReference signature).
export const resolvers: GraphQLResolverMap<FlashSaleContext> = {
  ...typed,
  FlashSale: FlashSale as GraphQLResolverMap<FlashSaleContext>[string],
  FlashSalePurchase: FlashSalePurchase as GraphQLResolverMap<FlashSaleContext>[string],
};
