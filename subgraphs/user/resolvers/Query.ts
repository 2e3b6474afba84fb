import type { UserContext } from '../context.ts';

export const Query = {
  me: (_: unknown, __: unknown, ctx: UserContext) => ctx.users.me(ctx),
  user: (_: unknown, args: { id: string }, ctx: UserContext) => ctx.users.user(ctx, args.id),
  users: (_: unknown, args: { first?: number | null; after?: string | null }, ctx: UserContext) =>
    ctx.users.users(ctx, args),
  verifyCredentials: (_: unknown, args: { email: string; password: string }, ctx: UserContext) =>
    ctx.users.verifyCredentials(ctx, args.email, args.password),
  accountForSession: (_: unknown, args: { id: string }, ctx: UserContext) => ctx.users.accountForSession(ctx, args.id),
};
