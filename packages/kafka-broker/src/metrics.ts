import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface BrokerMetrics {
  bytesIn(n: number): void;
  bytesOut(n: number): void;
  request(api: string, seconds: number): void;
  messagesIn(topic: string, n: number): void;
}

export const noMetrics: BrokerMetrics = {
  bytesIn() {},
  bytesOut() {},
  request() {},
  messagesIn() {},
};

export function promMetrics(
  registry: Registry,
  gauges: { groupMembers: () => number; topics: () => number; partitions: () => number; connections: () => number },
): BrokerMetrics {
  const registers = [registry];
  const bytesIn = new Counter({ name: 'kafka_broker_bytes_in_total', help: 'Bytes received from clients', registers });
  const bytesOut = new Counter({ name: 'kafka_broker_bytes_out_total', help: 'Bytes sent to clients', registers });
  const requests = new Counter({
    name: 'kafka_broker_requests_total',
    help: 'Requests handled, by API',
    labelNames: ['api'],
    registers,
  });
  const latency = new Histogram({
    name: 'kafka_broker_request_duration_seconds',
    help: 'Request handling time including long-poll and fsync waits, by API',
    labelNames: ['api'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const messages = new Counter({
    name: 'kafka_broker_messages_in_total',
    help: 'Records appended, by topic',
    labelNames: ['topic'],
    registers,
  });
  new Gauge({
    name: 'kafka_broker_group_members',
    help: 'Live consumer group members',
    registers,
    collect() {
      this.set(gauges.groupMembers());
    },
  });
  new Gauge({
    name: 'kafka_broker_topics',
    help: 'Topics',
    registers,
    collect() {
      this.set(gauges.topics());
    },
  });
  new Gauge({
    name: 'kafka_broker_partitions',
    help: 'Partitions',
    registers,
    collect() {
      this.set(gauges.partitions());
    },
  });
  new Gauge({
    name: 'kafka_broker_connections',
    help: 'Open client connections',
    registers,
    collect() {
      this.set(gauges.connections());
    },
  });
  return {
    bytesIn: (n) => bytesIn.inc(n),
    bytesOut: (n) => bytesOut.inc(n),
    request(api, seconds) {
      requests.inc({ api });
      latency.observe({ api }, seconds);
    },
    messagesIn: (topic, n) => messages.inc({ topic }, n),
  };
}
