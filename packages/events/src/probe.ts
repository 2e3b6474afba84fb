import { Kafka, logLevel } from 'kafkajs';

/** Readiness asks often; the answer (good or bad) is reused this long so a probe never costs a broker round trip each time. */
const CACHE_MS = 5_000;

/**
 * Whether Kafka answers: a short-lived admin connection and one `describeCluster`, cached for a few
 * seconds. Every service's readiness includes it (the router's too: it neither produces nor consumes, but a
 * stack without Kafka cannot take orders, and the load balancer should know).
 */
export class KafkaProbe {
  readonly #kafka: Kafka;
  #last: { at: number; error: Error | undefined } | undefined;
  #pending: Promise<Error | undefined> | undefined;

  constructor(brokers: readonly string[], clientId: string) {
    this.#kafka = new Kafka({
      clientId: `${clientId}-readiness`,
      brokers: [...brokers],
      connectionTimeout: 1_000,
      requestTimeout: 1_500,
      retry: { retries: 0 },
      // Failures are reported through readiness; kafkajs's own logging would repeat them on every probe.
      logLevel: logLevel.NOTHING,
    });
  }

  async check(): Promise<void> {
    if (!this.#last || Date.now() - this.#last.at >= CACHE_MS) {
      this.#pending ??= this.#probe().finally(() => {
        this.#pending = undefined;
      });
      const error = await this.#pending;
      this.#last = { at: Date.now(), error };
    }
    if (this.#last.error) throw this.#last.error;
  }

  async #probe(): Promise<Error | undefined> {
    const admin = this.#kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 ? undefined : new Error('no brokers in cluster metadata');
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
