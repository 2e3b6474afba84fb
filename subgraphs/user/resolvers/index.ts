import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { UserContext } from '../context.ts';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { User } from './User.ts';

const typed = { DateTime: DateTimeScalar, Query, Mutation, User } satisfies Resolvers;

// @apollo/subgraph's map types every member as a field resolver (parent, args, context, info), yet calls
// __resolveReference as (reference, context, info): the signature the generated UserResolvers checks. Only the
// entity's entry needs the cast; everything in it has been checked against the generated types above.
export const resolvers: GraphQLResolverMap<UserContext> = {
  ...typed,
  User: User as GraphQLResolverMap<UserContext>[string],
};
