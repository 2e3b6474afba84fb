import type { AuthContext } from '../context.ts';

export const Mutation = {
  register: (_: unknown, args: { input: unknown }, ctx: AuthContext) => ctx.auth.register(ctx, args.input),
  login: (_: unknown, args: { email: string; password: string }, ctx: AuthContext) => ctx.auth.login(ctx, args),
  refreshToken: (_: unknown, args: { refreshToken: string }, ctx: AuthContext) =>
    ctx.auth.refresh(ctx, args.refreshToken),
  logout: (_: unknown, _args: unknown, ctx: AuthContext) => ctx.auth.logout(ctx),
};
