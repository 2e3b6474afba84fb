import { encodeId } from '@mall/platform';
import type { UserContext } from '../context.ts';
import type { User as DomainUser } from '../domain/user.ts';

export const User = {
  // Called by the router's query plan with the caller's identity: batched, and access-checked like user(id).
  __resolveReference: (reference: { id: string }, ctx: UserContext) => ctx.users.reference(ctx, reference.id),
  id: (user: DomainUser) => encodeId(user.id),
};
