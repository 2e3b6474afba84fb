import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { ProductContext } from '../context.ts';
import { Category } from './Category.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Product, ProductSnapshot } from './Product.ts';
import { Query } from './Query.ts';
import { Reservation, ReservationLine } from './Reservation.ts';

const typed = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Product,
  ProductSnapshot,
  Category,
  Reservation,
  ReservationLine,
} satisfies Resolvers;

// @apollo/subgraph's map types every member as a field resolver (parent, args, context, info), yet calls
// __resolveReference as (reference, context, info): the signature the generated resolvers check. Only the
// entities' entries need the cast; everything in them has been checked against the generated types above.
export const resolvers: GraphQLResolverMap<ProductContext> = {
  ...typed,
  Product: Product as GraphQLResolverMap<ProductContext>[string],
  Category: Category as GraphQLResolverMap<ProductContext>[string],
};
