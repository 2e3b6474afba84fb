import { createEvent, type EventEnvelope } from '@mall/events';
import type { Role } from '@mall/platform';
import type { ProfileChanges, User } from '../domain/user.ts';

// The user.events envelopes this subgraph writes to its outbox, always in the transaction of the change they
// describe. Keyed by user id, so one user's events stay in order on one partition.

export function userRegistered(user: User, traceId: string): EventEnvelope<'user.registered'> {
  return createEvent('user.registered', {
    aggregateId: String(user.id),
    traceId,
    data: { userId: String(user.id), email: user.email, name: user.name, roles: [...user.roles] },
  });
}

export function userUpdated(user: User, changes: ProfileChanges, traceId: string): EventEnvelope<'user.updated'> {
  return createEvent('user.updated', {
    aggregateId: String(user.id),
    traceId,
    data: {
      userId: String(user.id),
      ...(changes.email !== undefined ? { email: changes.email } : {}),
      ...(changes.name !== undefined ? { name: changes.name } : {}),
    },
  });
}

export function userRolesChanged(
  user: User,
  previousRoles: readonly Role[],
  traceId: string,
): EventEnvelope<'user.roles_changed'> {
  return createEvent('user.roles_changed', {
    aggregateId: String(user.id),
    traceId,
    data: { userId: String(user.id), roles: [...user.roles], previousRoles: [...previousRoles] },
  });
}

export function userDeleted(userId: bigint, deletedAt: Date, traceId: string): EventEnvelope<'user.deleted'> {
  return createEvent('user.deleted', {
    aggregateId: String(userId),
    traceId,
    data: { userId: String(userId), deletedAt: deletedAt.toISOString() },
  });
}
