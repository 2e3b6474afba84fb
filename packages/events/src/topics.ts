import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Where a consumer parks events it gave up on. */
  readonly dlq: string;
}

// Partition counts bound consumer parallelism per group; order events carry most traffic.
const spec = <N extends string>(name: N, partitions: number) =>
  ({ name, partitions, dlq: `${name}.dlq` as `${N}.dlq` }) as const;

export const TOPICS = {
  'user.events': spec('user.events', 3),
  'order.events': spec('order.events', 6),
  'payment.events': spec('payment.events', 3),
  'stock.events': spec('stock.events', 3),
  'flashsale.events': spec('flashsale.events', 6),
} as const satisfies Record<string, TopicSpec>;

export type TopicName = keyof typeof TOPICS;

/** DLQs have one partition: they are low-volume and read by humans and replay tools in order. */
export const DLQ_PARTITIONS = 1;

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Every topic the system needs, DLQs included, as created by ensureTopics and listed in infra/kafka/topics.yaml. */
export function allTopics(): { name: string; partitions: number }[] {
  return Object.values(TOPICS).flatMap((t) => [
    { name: t.name, partitions: t.partitions },
    { name: t.dlq, partitions: DLQ_PARTITIONS },
  ]);
}

/**
 * Creates missing topics (and their DLQs). Existing topics are left alone: changing partition counts
 * re-shuffles keys across partitions and breaks per-aggregate order, so that is a deliberate ops step.
 */
export async function ensureTopics(
  kafka: Kafka,
  options: { replicationFactor?: number; timeoutMs?: number } = {},
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = allTopics().filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        timeout: options.timeoutMs ?? 10_000,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: options.replicationFactor ?? 1,
        })),
      });
    }
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}
