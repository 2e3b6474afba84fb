import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  register: (_, args, ctx) => ctx.auth.register(ctx, args.input),
  // Spelled out, not passed whole: login takes `unknown` (it validates), so only this makes a rename fail tsc.
  login: (_, { email, password }, ctx) => ctx.auth.login(ctx, { email, password }),
  refreshToken: (_, args, ctx) => ctx.auth.refresh(ctx, args.refreshToken),
  logout: (_, __, ctx) => ctx.auth.logout(ctx),
};
