import type { EventEnvelope } from '../envelope.ts';
import { EVENTS, type EventType } from '../schemas/index.ts';
import { currentTraceHeaders } from '../tracing.ts';

/**
 * The part of a Prisma interactive-transaction client the writer needs. Structural, so every domain's own
 * generated client fits without this package depending on any of them.
 */
export interface OutboxTx {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** The channel the relay LISTENs on. */
export const OUTBOX_CHANNEL = 'outbox';

/**
 * The outbox rows of `events` as the body of a `VALUES` list, with its parameters numbered from `offset + 1`
 * (columns: id, topic, key, type, payload, headers, created_at, available_at). For a state change written with
 * its events in ONE statement (a CTE), which is atomic without a transaction; everything else calls
 * `writeOutbox`. The statement must also `pg_notify(OUTBOX_CHANNEL, '')` when it wrote rows.
 */
export function outboxRows(
  events: readonly EventEnvelope<EventType>[],
  offset = 0,
): { readonly sql: string; readonly values: readonly unknown[] } {
  const values: unknown[] = [];
  const rows: string[] = [];
  // The caller's trace context (null when tracing is off) travels with the row: the relay publishes the row's
  // headers on the Kafka message, so the consumer's span joins the request that caused the event.
  const trace = currentTraceHeaders();
  const headers = trace ? JSON.stringify(trace) : null;
  for (const event of events) {
    const def = EVENTS[event.type];
    if (def === undefined) throw new Error(`writeOutbox: unknown event type ${event.type}`);
    const p = offset + values.length;
    // clock_timestamp(), not now(): now() is the transaction's start, so a transaction that began earlier but
    // waited on the aggregate's row lock would stamp its event before the one it waited for. The insert time of
    // a transaction holding the aggregate lock is ordered correctly. Rows of one statement tie-break on id (uuid v7).
    rows.push(
      `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::jsonb, $${p + 6}::jsonb, clock_timestamp(), clock_timestamp())`,
    );
    values.push(event.id, def.topic, event.aggregateId, event.type, JSON.stringify(event), headers);
  }
  return { sql: rows.join(', '), values };
}

/**
 * Appends events to the outbox inside the caller's transaction, so they exist iff the state change commits.
 * Call it with the `tx` of `prisma.$transaction(async (tx) => ...)`; never with the root client, which would
 * commit the row on its own.
 */
export async function writeOutbox(
  tx: OutboxTx,
  events: EventEnvelope<EventType> | readonly EventEnvelope<EventType>[],
): Promise<void> {
  const list = Array.isArray(events)
    ? (events as readonly EventEnvelope<EventType>[])
    : [events as EventEnvelope<EventType>];
  if (list.length === 0) return;
  const rows = outboxRows(list);
  // NOTIFY is queued and delivered only if this transaction commits, which is exactly when the relay should look.
  // One statement with the insert: a round trip less inside every transaction that writes an event (often one
  // holding a hot row's lock until COMMIT).
  await tx.$executeRawUnsafe(
    `WITH written AS (INSERT INTO "outbox" ("id", "topic", "key", "type", "payload", "headers", "created_at", "available_at") VALUES ${rows.sql})
     SELECT pg_notify('${OUTBOX_CHANNEL}', '')`,
    ...rows.values,
  );
}
