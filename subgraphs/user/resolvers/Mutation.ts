import type { Role } from '@mall/platform';
import type { UserContext } from '../context.ts';

export const Mutation = {
  updateMe: (_: unknown, args: { input: unknown }, ctx: UserContext) => ctx.users.updateMe(ctx, args.input),
  updateUser: (_: unknown, args: { id: string; input: unknown }, ctx: UserContext) =>
    ctx.users.updateUser(ctx, args.id, args.input),
  deleteUser: (_: unknown, args: { id: string }, ctx: UserContext) => ctx.users.deleteUser(ctx, args.id),
  assignRole: (_: unknown, args: { userId: string; role: Role }, ctx: UserContext) =>
    ctx.users.assignRole(ctx, args.userId, args.role),
  revokeRole: (_: unknown, args: { userId: string; role: Role }, ctx: UserContext) =>
    ctx.users.revokeRole(ctx, args.userId, args.role),
  createAccount: (_: unknown, args: { input: unknown }, ctx: UserContext) => ctx.users.createAccount(ctx, args.input),
};
