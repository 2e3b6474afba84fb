import { z } from 'zod';
import { uuidv7 } from './ids.ts';
import { EVENTS, type EventData, type EventDataInput, type EventType, isEventType } from './schemas/index.ts';
import type { TopicName } from './topics.ts';

const EventId = z.union([z.uuid({ version: 'v7' }), z.string().regex(/^\d{1,20}$/)]);

/** The envelope with `data` unchecked; parseEvent validates `data` against the registry afterwards. */
export const Envelope = z.object({
  id: EventId,
  type: z.string().min(1),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime({ offset: true }),
  aggregateId: z.string().min(1),
  data: z.unknown(),
  traceId: z.string().min(1),
});

export interface EventEnvelope<T extends EventType = EventType> {
  readonly id: string;
  readonly type: T;
  readonly version: number;
  readonly occurredAt: string;
  readonly aggregateId: string;
  readonly data: EventData<T>;
  readonly traceId: string;
}

/** Discriminated union of every event: narrowing on `type` narrows `data`. */
export type AnyEvent = { [T in EventType]: EventEnvelope<T> }[EventType];

export type EventErrorCode =
  | 'MALFORMED_JSON'
  | 'INVALID_ENVELOPE'
  | 'UNKNOWN_EVENT_TYPE'
  | 'UNSUPPORTED_VERSION'
  | 'INVALID_DATA';

export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
  readonly code: EventErrorCode;
  readonly eventType: string | undefined;
  readonly issues: z.core.$ZodIssue[] | undefined;

  constructor(
    code: EventErrorCode,
    message: string,
    options: { eventType?: string; issues?: z.core.$ZodIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.eventType = options.eventType;
    this.issues = options.issues;
  }
}

export interface CreateEventInput<T extends EventType> {
  aggregateId: string;
  data: EventDataInput<T>;
  /** The request id that caused the event; a fresh trace (the event id) when there is no request, e.g. a scheduler. */
  traceId?: string | undefined;
  /** Defaults to now. */
  occurredAt?: Date | string;
  /** Defaults to a fresh uuid v7; pass a snowflake string to reuse a domain id. */
  id?: string;
}

/** Builds a validated envelope; throws EventValidationError (INVALID_DATA) when `data` does not match the schema. */
export function createEvent<T extends EventType>(type: T, input: CreateEventInput<T>): EventEnvelope<T> {
  const def = EVENTS[type];
  if (def === undefined)
    throw new EventValidationError('UNKNOWN_EVENT_TYPE', `unknown event type ${String(type)}`, { eventType: type });
  const result = def.data.safeParse(input.data);
  if (!result.success) {
    throw new EventValidationError('INVALID_DATA', `invalid data for ${type}: ${z.prettifyError(result.error)}`, {
      eventType: type,
      issues: result.error.issues,
    });
  }
  const id = input.id ?? uuidv7();
  const occurredAt =
    input.occurredAt instanceof Date ? input.occurredAt.toISOString() : (input.occurredAt ?? new Date().toISOString());
  const envelope = {
    id,
    type,
    version: def.version,
    occurredAt,
    aggregateId: input.aggregateId,
    data: result.data,
    traceId: input.traceId ?? id,
  };
  const checked = Envelope.safeParse(envelope);
  if (!checked.success) {
    throw new EventValidationError(
      'INVALID_ENVELOPE',
      `invalid envelope for ${type}: ${z.prettifyError(checked.error)}`,
      { eventType: type, issues: checked.error.issues },
    );
  }
  return envelope as EventEnvelope<T>;
}

/** Parses and validates an event from the wire; every failure is an EventValidationError with a code. */
export function parseEvent(raw: Buffer | Uint8Array | string | null | undefined): AnyEvent {
  if (raw === null || raw === undefined) throw new EventValidationError('MALFORMED_JSON', 'empty message');
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EventValidationError('MALFORMED_JSON', `event is not JSON: ${(cause as Error).message}`, { cause });
  }
  return validateEvent(json);
}

/** Validates an already-decoded JSON value (e.g. a jsonb column). */
export function validateEvent(json: unknown): AnyEvent {
  const env = Envelope.safeParse(json);
  if (!env.success) {
    throw new EventValidationError('INVALID_ENVELOPE', `invalid event envelope: ${z.prettifyError(env.error)}`, {
      issues: env.error.issues,
    });
  }
  const { type, version } = env.data;
  if (!isEventType(type))
    throw new EventValidationError('UNKNOWN_EVENT_TYPE', `unknown event type ${type}`, { eventType: type });
  const def = EVENTS[type];
  if (version !== def.version) {
    throw new EventValidationError(
      'UNSUPPORTED_VERSION',
      `${type} v${version} is not supported (expected v${def.version})`,
      { eventType: type },
    );
  }
  const data = def.data.safeParse(env.data.data);
  if (!data.success) {
    throw new EventValidationError('INVALID_DATA', `invalid data for ${type}: ${z.prettifyError(data.error)}`, {
      eventType: type,
      issues: data.error.issues,
    });
  }
  return { ...env.data, type, data: data.data } as AnyEvent;
}

export function topicOf(type: EventType): TopicName {
  return EVENTS[type].topic;
}

export function serializeEvent(event: EventEnvelope): string {
  return JSON.stringify(event);
}

/** Kafka headers set on every published event, so tools can route and trace without parsing the value. */
export function eventHeaders(event: {
  id: string;
  type: string;
  version: number;
  traceId: string;
}): Record<string, string> {
  return {
    'event-id': event.id,
    'event-type': event.type,
    'event-version': String(event.version),
    'trace-id': event.traceId,
  };
}
