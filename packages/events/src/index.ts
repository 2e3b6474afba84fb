export {
  Envelope,
  EventValidationError,
  createEvent,
  eventHeaders,
  parseEvent,
  serializeEvent,
  topicOf,
  validateEvent,
  type AnyEvent,
  type CreateEventInput,
  type EventEnvelope,
  type EventErrorCode,
} from './envelope.ts';
export {
  CancelReason,
  EVENTS,
  Id,
  Money,
  Quantity,
  RejectReason,
  StockLine,
  Timestamp,
  eventDefinition,
  isEventType,
  type EventData,
  type EventDataInput,
  type EventDefinition,
  type EventType,
} from './schemas/index.ts';
export { DLQ_PARTITIONS, TOPICS, allTopics, dlqTopic, ensureTopics, type TopicName, type TopicSpec } from './topics.ts';
export { createKafka, createProducer, type CreateKafkaOptions } from './kafka.ts';
export { OUTBOX_CHANNEL, writeOutbox, type OutboxTx } from './outbox/writer.ts';
export { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions, type PublishedRow } from './outbox/relay.ts';
export {
  NonRetryableError,
  startConsumer,
  type ConsumeOutcome,
  type ConsumeStatus,
  type ConsumerHandle,
  type ConsumerTx,
  type EventHandler,
  type EventHandlers,
  type StartConsumerOptions,
  type TransactionalClient,
} from './consumer.ts';
export { uuidv7 } from './ids.ts';
