import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  updateMe: (_, args, ctx) => ctx.users.updateMe(ctx, args.input),
  updateUser: (_, args, ctx) => ctx.users.updateUser(ctx, args.id, args.input),
  deleteUser: (_, args, ctx) => ctx.users.deleteUser(ctx, args.id),
  assignRole: (_, args, ctx) => ctx.users.assignRole(ctx, args.userId, args.role),
  revokeRole: (_, args, ctx) => ctx.users.revokeRole(ctx, args.userId, args.role),
  createAccount: (_, args, ctx) => ctx.users.createAccount(ctx, args.input),
};
