import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  me: (_, __, ctx) => ctx.users.me(ctx),
  user: (_, args, ctx) => ctx.users.user(ctx, args.id),
  // Spelled out, not passed whole: a renamed argument must fail tsc here, not become an ignored extra key.
  users: (_, { first, after }, ctx) => ctx.users.users(ctx, { first, after }),
  verifyCredentials: (_, args, ctx) => ctx.users.verifyCredentials(ctx, args.email, args.password),
  accountForSession: (_, args, ctx) => ctx.users.accountForSession(ctx, args.id),
};
