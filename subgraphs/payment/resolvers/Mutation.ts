import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  pay: (_, args, ctx) => ctx.payments.pay(ctx, args.input),
  refundPayment: (_, args, ctx) => ctx.payments.refundPayment(ctx, args.paymentId, args.reason),
};
