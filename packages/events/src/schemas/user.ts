import { z } from 'zod';
import { Id, Timestamp } from './common.ts';

const Role = z.string().min(1);
const UserStatus = z.enum(['ACTIVE', 'SUSPENDED']);

export const userEvents = {
  'user.registered': {
    topic: 'user.events',
    version: 1,
    data: z.object({ userId: Id, email: z.email(), name: z.string(), roles: z.array(Role) }),
  },
  'user.updated': {
    topic: 'user.events',
    version: 1,
    // Only the fields that changed are present.
    data: z.object({ userId: Id, email: z.email().optional(), name: z.string().optional(), status: UserStatus.optional() }),
  },
  'user.deleted': {
    topic: 'user.events',
    version: 1,
    data: z.object({ userId: Id, deletedAt: Timestamp }),
  },
  'user.roles_changed': {
    topic: 'user.events',
    version: 1,
    data: z.object({ userId: Id, roles: z.array(Role), previousRoles: z.array(Role) }),
  },
} as const;
