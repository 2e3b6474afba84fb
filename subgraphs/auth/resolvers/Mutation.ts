import type { AuthContext } from '../context.ts';

export const Mutation = {
  register: (_: unknown, args: { input: unknown }, ctx: AuthContext) => ctx.auth.register(args.input, ctx),
  login: (_: unknown, args: { email: string; password: string }, ctx: AuthContext) => ctx.auth.login(args, ctx),
  refreshToken: (_: unknown, args: { refreshToken: string }, ctx: AuthContext) =>
    ctx.auth.refresh(args.refreshToken, ctx),
  logout: (_: unknown, _args: unknown, ctx: AuthContext) => ctx.auth.logout(ctx),
};
