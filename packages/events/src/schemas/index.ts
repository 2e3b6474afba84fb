import type { z } from 'zod';
import type { TopicName } from '../topics.ts';
import { flashsaleEvents } from './flashsale.ts';
import { orderEvents } from './order.ts';
import { paymentEvents } from './payment.ts';
import { stockEvents } from './stock.ts';
import { userEvents } from './user.ts';

export { Id, Money, Quantity, StockLine, Timestamp } from './common.ts';
export { RejectReason } from './flashsale.ts';
export { CancelReason } from './order.ts';
export { StockChangeReason } from './stock.ts';

export interface EventDefinition {
  readonly topic: TopicName;
  /** Bumped on a breaking change to `data`; additive changes keep the version. */
  readonly version: number;
  readonly data: z.ZodType;
}

/** The one registry: event type → topic, version and data schema. */
export const EVENTS = {
  ...userEvents,
  ...orderEvents,
  ...paymentEvents,
  ...stockEvents,
  ...flashsaleEvents,
} as const satisfies Record<string, EventDefinition>;

export type EventType = keyof typeof EVENTS;
export type EventData<T extends EventType> = z.output<(typeof EVENTS)[T]['data']>;
/** What createEvent accepts (before defaults/transforms), which for our schemas equals the output. */
export type EventDataInput<T extends EventType> = z.input<(typeof EVENTS)[T]['data']>;

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENTS, type);
}

export function eventDefinition<T extends EventType>(type: T): (typeof EVENTS)[T] {
  return EVENTS[type];
}
