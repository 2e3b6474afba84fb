import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  register: (_, args, ctx) => ctx.auth.register(args.input, ctx),
  // Spelled out, not passed whole: login takes `unknown` (it validates), so only this makes a rename fail tsc.
  login: (_, { email, password }, ctx) => ctx.auth.login({ email, password }, ctx),
  refreshToken: (_, args, ctx) => ctx.auth.refresh(args.refreshToken, ctx),
  logout: (_, __, ctx) => ctx.auth.logout(ctx),
};
