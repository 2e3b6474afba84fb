import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  payment: (_, args, ctx) => ctx.payments.payment(ctx, args.id),
};
