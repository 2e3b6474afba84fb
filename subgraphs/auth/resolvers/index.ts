import { DateTimeScalar } from '@mall/platform';
import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';

// AuthPayload and its provided User fields are plain objects from AuthService: default resolvers suffice.
export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Mutation,
};
