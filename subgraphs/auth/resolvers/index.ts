import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { AuthContext } from '../context.ts';
import { Mutation } from './Mutation.ts';

// AuthPayload and its provided User fields are plain objects from AuthService: default resolvers suffice.
export const resolvers: GraphQLResolverMap<AuthContext> = {
  DateTime: DateTimeScalar,
  Mutation,
};
