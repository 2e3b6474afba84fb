import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  checkout: async (_, { input }, ctx) => ({ id: await ctx.checkouts.checkout(ctx, input) }),
};
