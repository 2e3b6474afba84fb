import { DateTimeScalar, type GraphQLResolverMap } from '@mall/platform';
import type { UserContext } from '../context.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { User } from './User.ts';

export const resolvers = { DateTime: DateTimeScalar, Query, Mutation, User } satisfies GraphQLResolverMap<UserContext>;
