import type { GraphQLResolverMap } from '@mall/platform';
import type { CartContext } from '../context.ts';
import { Cart, CartItem, CheckoutCart, CheckoutCartLine, User } from './Cart.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

const typed = { Query, Mutation, Cart, CartItem, User, CheckoutCart, CheckoutCartLine } satisfies Resolvers;

// @apollo/subgraph's map types every member as a field resolver (parent, args, context, info), yet calls
// __resolveReference as (reference, context, info): the signature the generated types check. Only the
// entities' entries need the cast; everything in them has been checked against the generated types above.
export const resolvers: GraphQLResolverMap<CartContext> = {
  ...typed,
  User: User as GraphQLResolverMap<CartContext>[string],
};
