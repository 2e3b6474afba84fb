import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { OrderContext } from '../context.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Order, OrderItem, User } from './Order.ts';
import { Query } from './Query.ts';

const typed = { DateTime: DateTimeScalar, Query, Mutation, Order, OrderItem, User } satisfies Resolvers;

// @apollo/subgraph's map types every member as a field resolver (parent, args, context, info), yet calls
// __resolveReference as (reference, context, info): the signature the generated types check. Only the
// entities' entries need the cast; everything in them has been checked against the generated types above.
export const resolvers: GraphQLResolverMap<OrderContext> = {
  ...typed,
  Order: Order as GraphQLResolverMap<OrderContext>[string],
  User: User as GraphQLResolverMap<OrderContext>[string],
};
