import type { Resolvers } from './generated/types.ts';
import { Mutation } from './Mutation.ts';

export const resolvers: Resolvers = { Mutation };
