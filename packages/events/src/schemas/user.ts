import { z } from 'zod';
import { Id, Timestamp } from './common.ts';

const Role = z.enum(['CUSTOMER', 'MERCHANT', 'ADMIN']);
/** A name is optional on an account; null means none (never the empty string). */
const Name = z.string().min(1).max(100).nullable();

export const userEvents = {
  'user.registered': {
    topic: 'user.events',
    version: 1,
    data: z.object({ userId: Id, email: z.email(), name: Name, roles: z.array(Role) }),
  },
  'user.updated': {
    topic: 'user.events',
    version: 1,
    // Only the fields that changed are present.
    data: z.object({ userId: Id, email: z.email().optional(), name: Name.optional() }),
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
