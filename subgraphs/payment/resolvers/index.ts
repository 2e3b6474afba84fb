import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { PaymentContext } from '../context.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Order, Payment } from './Payment.ts';
import { Query } from './Query.ts';

const typed = { DateTime: DateTimeScalar, Query, Mutation, Payment, Order } satisfies Resolvers;

// As in the order subgraph: @apollo/subgraph types __resolveReference as a field resolver; only the entities'
// entries need the cast, everything in them has been checked against the generated types above.
export const resolvers: GraphQLResolverMap<PaymentContext> = {
  ...typed,
  Payment: Payment as GraphQLResolverMap<PaymentContext>[string],
  Order: Order as GraphQLResolverMap<PaymentContext>[string],
};
