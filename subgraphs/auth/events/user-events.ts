import type { EventEnvelope, EventHandlers } from '@mall/events';
import { decodeId, type Logger } from '@mall/platform';
import type { ConsumerDefinition } from '@mall/platform/kit';
import { type RevocationMirror, recordUserRevocation } from '../data/access-revocations.ts';
import type { AuthTx } from '../data/prisma.ts';
import { revokeUserSessions } from '../data/session-store.ts';

/** The processed_events key and Kafka group: renaming either replays every retained user event. */
export const USER_EVENTS_CONSUMER = 'auth';

export interface UserEventDeps {
  readonly revocations: Pick<RevocationMirror, 'publish'>;
  readonly accessTokenTtlSeconds: number;
  readonly logger: Logger;
}

/**
 * A deleted account loses every session: its refresh families are revoked and the cut-off for its access
 * tokens is recorded in the consumer's transaction (committed with the processed_events mark, so a redelivery
 * changes nothing), with no network I/O inside it. After the commit the cut-off is copied to Redis for the
 * router; if Redis is away, the revocation mirror copies it when Redis is back.
 */
export async function onUserDeleted(
  event: EventEnvelope<'user.deleted'>,
  tx: AuthTx,
  deps: UserEventDeps,
): Promise<() => Promise<void>> {
  const { userId } = event.data;
  const id = decodeId(userId);
  // An id that is no snowflake cannot own a session here; its access tokens are still refused below.
  const families = id === null ? 0 : await revokeUserSessions(tx, id, 'account_deleted');
  const revocation = await recordUserRevocation(tx, userId, deps.accessTokenTtlSeconds);
  deps.logger.info({ userId, families, eventId: event.id }, 'revoked the sessions of a deleted user');
  return () => deps.revocations.publish([revocation]);
}

export function userEventHandlers(deps: UserEventDeps): EventHandlers<AuthTx> {
  return { 'user.deleted': (event, tx) => onUserDeleted(event, tx, deps) };
}

/** The consumer the kit runs: `user.events` into auth's database, deduplicated in its processed_events. */
export function userEventsConsumer(deps: UserEventDeps): ConsumerDefinition<AuthTx> {
  return { name: USER_EVENTS_CONSUMER, topics: ['user.events'], handlers: userEventHandlers(deps) };
}
