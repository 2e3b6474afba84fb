export {
  type AfterCommit,
  type ConsumeOutcome,
  type ConsumerHandle,
  type ConsumerTx,
  type ConsumeStatus,
  type EventHandler,
  type EventHandlers,
  NonRetryableError,
  type StartConsumerOptions,
  startConsumer,
  type TransactionalClient,
} from './consumer.ts';
export {
  type AnyEvent,
  type CreateEventInput,
  createEvent,
  Envelope,
  type EventEnvelope,
  type EventErrorCode,
  EventValidationError,
  eventHeaders,
  parseEvent,
  serializeEvent,
  topicOf,
  validateEvent,
} from './envelope.ts';
export { uuidv7 } from './ids.ts';
export { type CreateKafkaOptions, createKafka, createProducer, FETCH_MAX_WAIT_MS } from './kafka.ts';
export { type OutboxRelay, type OutboxRelayOptions, type PublishedRow, startOutboxRelay } from './outbox/relay.ts';
export { OUTBOX_CHANNEL, type OutboxTx, outboxRows, writeOutbox } from './outbox/writer.ts';
export { KafkaProbe } from './probe.ts';
export {
  CancelReason,
  EVENTS,
  type EventData,
  type EventDataInput,
  type EventDefinition,
  type EventType,
  eventDefinition,
  Id,
  isEventType,
  Money,
  Quantity,
  RejectReason,
  StockChangeReason,
  StockLine,
  Timestamp,
} from './schemas/index.ts';
export { allTopics, DLQ_PARTITIONS, dlqTopic, ensureTopics, TOPICS, type TopicName, type TopicSpec } from './topics.ts';
export { currentTraceHeaders, setEventTracer, withConsumerSpan } from './tracing.ts';
