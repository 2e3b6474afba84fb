import { encodeId } from '@mall/platform';
import type { UserResolvers } from './generated/types.ts';

export const User: UserResolvers = {
  // Called by the router's query plan with the caller's identity: batched, and access-checked like user(id).
  __resolveReference: (reference, ctx) => ctx.users.reference(ctx, reference.id),
  id: (user) => encodeId(user.id),
};
