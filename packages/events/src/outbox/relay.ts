import type { Kafka, Message, Producer } from 'kafkajs';
import pg from 'pg';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import { eventHeaders } from '../envelope.ts';
import { createProducer } from '../kafka.ts';
import { type RelayMetrics, relayMetrics } from '../metrics.ts';
import { OUTBOX_CHANNEL } from './writer.ts';

export interface OutboxRelayOptions {
  /** The domain database whose `outbox` table this relay drains. */
  databaseUrl: string;
  /** A connected producer made with createProducer (idempotent, acks -1); the caller keeps ownership. */
  producer?: Pick<Producer, 'send'>;
  /** Or a Kafka client: the relay then creates, connects and finally disconnects its own producer. */
  kafka?: Kafka;
  logger?: Logger;
  /** Rows claimed per cycle. Default 100. */
  batchSize?: number;
  /** Safety-net poll for a missed NOTIFY (e.g. during a reconnect). Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * After a cycle that published something, how long to let further events gather before the next claim
   * (notifications meanwhile are kept, not lost). Default 10 ms; 0 turns it off. See the loop below.
   */
  coalesceMs?: number;
  /** Backoff of a row whose publish failed: initialMs · 2^attempts, capped at maxMs. Default 500 ms … 60 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Broker ack timeout per send. Default 10 s. */
  sendTimeoutMs?: number;
  /** Published rows older than this are deleted. Default 24 h; 0 keeps them. */
  retainPublishedMs?: number;
  /** Shown as application_name in pg_stat_activity. */
  name?: string;
  /**
   * Where to register outbox_events_published_total, outbox_publish_failures_total, outbox_pending_events and
   * outbox_oldest_pending_seconds (the service's /metrics registry). Without it the relay records nothing.
   */
  registry?: Registry;
  /** How often, at most, the backlog gauges are refreshed (one aggregate query). Default 5000 ms. */
  backlogCheckIntervalMs?: number;
  hooks?: {
    onPublished?(rows: readonly PublishedRow[]): void;
    onFailed?(topic: string, error: unknown, rows: readonly PublishedRow[]): void;
  };
}

export interface PublishedRow {
  id: string;
  topic: string;
  key: string;
  type: string;
}

export interface OutboxRelay {
  /** Runs cycles until nothing is due; resolves with the number of rows published. */
  drain(): Promise<number>;
  /** Stops the loop after the cycle in flight, then releases the connection (and its own producer). */
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  type: string;
  payload: { id: string; type: string; version: number; traceId: string };
  headers: Record<string, string> | null;
}

/*
 * Claim query. A row is publishable only if it is the oldest unpublished row of its (topic, key) segment
 * (pg-transactional-outbox's "one head per segment"). Heads are locked FOR UPDATE SKIP LOCKED, so another
 * relay skips the whole segment: it cannot take the head (locked) nor any later row (an older one is still
 * unpublished in every snapshot it can have until we commit). Having the head, this relay may also take the
 * segment's following rows and send them in order in the same produce request. A head that failed to
 * publish waits for its available_at; its segment waits with it, other segments carry on.
 */
const CLAIM_SQL = `
WITH heads AS (
  SELECT o.topic, o.key
  FROM "outbox" o
  WHERE o.published_at IS NULL
    AND o.available_at <= now()
    AND NOT EXISTS (
      SELECT 1 FROM "outbox" p
      WHERE p.topic = o.topic AND p.key = o.key AND p.published_at IS NULL
        AND (p.created_at, p.id) < (o.created_at, o.id)
    )
  ORDER BY o.created_at, o.id
  LIMIT $1
  FOR UPDATE OF o SKIP LOCKED
)
SELECT r.id, r.topic, r.key, r.type, r.payload, r.headers
FROM "outbox" r
JOIN heads h ON r.topic = h.topic AND r.key = h.key
WHERE r.published_at IS NULL
ORDER BY r.created_at, r.id
LIMIT $1`;

/**
 * Publishes the outbox to Kafka.
 *
 * Each cycle is one short transaction on the relay's own connection: claim (lock heads), publish, mark,
 * commit. The transaction spans the produce request on purpose, rather than leasing rows with a
 * locked_until and publishing outside it:
 * - a relay that dies mid-cycle loses its connection and Postgres releases its locks at once, where a lease
 *   blocks the segment until it expires, and a lease that expires under a slow publish lets a second relay
 *   publish the same rows concurrently;
 * - the locks are on outbox rows only, which domain transactions never update (they only INSERT), so no
 *   business transaction ever waits on the relay;
 * - the time is bounded: sends have a timeout, and idle_in_transaction_session_timeout makes Postgres end
 *   the session (releasing the rows) if a send ever hangs beyond it.
 * This is not the Prisma interactive transaction anti-pattern (P2028): no pool connection or client-side
 * transaction timer is involved. A crash after the send and before the commit republishes the rows, which
 * the idempotent consumers absorb: delivery is at-least-once.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const logger = (options.logger ?? pino({ name: 'outbox-relay' })).child({ component: 'outbox-relay' });
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const coalesceMs = options.coalesceMs ?? 10;
  const initialBackoffMs = options.backoff?.initialMs ?? 500;
  const maxBackoffMs = options.backoff?.maxMs ?? 60_000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
  const retainPublishedMs = options.retainPublishedMs ?? 24 * 3600_000;
  const applicationName = options.name ?? 'outbox-relay';
  const metrics: RelayMetrics | undefined = options.registry ? relayMetrics(options.registry) : undefined;
  const backlogCheckIntervalMs = options.backlogCheckIntervalMs ?? 5_000;

  let ownProducer: Producer | undefined;
  let producer: Pick<Producer, 'send'>;
  if (options.producer) {
    producer = options.producer;
  } else if (options.kafka) {
    ownProducer = createProducer(options.kafka);
    await ownProducer.connect();
    producer = ownProducer;
  } else {
    throw new TypeError('startOutboxRelay: pass a producer or a kafka client');
  }

  let client: pg.Client | undefined;
  let stopping = false;
  let wakePending = true;
  let wakeUp: (() => void) | undefined;
  let lastPurge = 0;
  let lastBacklogCheck = 0;

  const wake = () => {
    wakePending = true;
    wakeUp?.();
  };

  async function connection(): Promise<pg.Client> {
    if (client) return client;
    const c = new pg.Client({ connectionString: options.databaseUrl, application_name: applicationName });
    c.on('notification', wake);
    c.on('error', (err) => {
      logger.warn({ err }, 'outbox relay connection error; reconnecting');
      if (client === c) client = undefined;
      c.end().catch(() => {});
    });
    c.on('end', () => {
      if (client === c) client = undefined;
    });
    await c.connect();
    try {
      // Well above a send's timeout (kafkajs retries included): only a hung publish ever reaches it.
      await c.query(`SET idle_in_transaction_session_timeout = ${Math.max(60_000, sendTimeoutMs * 6)}`);
      await c.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
    client = c;
    // Notifications sent while we were not listening are lost; look once now.
    wakePending = true;
    return c;
  }

  /**
   * After a failed send the idempotent producer may hold sequence numbers the broker never saw (kafkajs
   * rolls them back only partly), and every later send to that partition would fail with
   * OUT_OF_ORDER_SEQUENCE_NUMBER. A fresh producer gets a new producer id and starts clean; the rows are
   * still in the outbox, so nothing is lost and the consumer's dedup absorbs any copy.
   */
  async function replaceOwnProducer(): Promise<void> {
    if (!ownProducer || !options.kafka) return;
    const old = ownProducer;
    await old.disconnect().catch(() => {});
    const fresh = createProducer(options.kafka);
    try {
      await fresh.connect();
    } catch (err) {
      logger.warn({ err }, 'could not reconnect the outbox producer; the next cycle retries');
    }
    ownProducer = fresh;
    producer = fresh;
  }

  async function publishTopic(topic: string, rows: OutboxRow[]): Promise<void> {
    const messages: Message[] = rows.map((row) => ({
      key: row.key,
      value: JSON.stringify(row.payload),
      headers: { ...row.headers, ...eventHeaders(row.payload) },
    }));
    await producer.send({ topic, acks: -1, timeout: sendTimeoutMs, messages });
  }

  /** One claim → publish → mark → commit; returns rows published and whether the claim was full. */
  async function cycle(): Promise<{ published: number; claimed: number }> {
    const c = await connection();
    await c.query('BEGIN');
    try {
      // Named: prepared once on the relay's connection, so Postgres plans the claim once rather than every cycle
      // (a cycle per committed event under load; planning cost about as much as running it).
      const { rows } = await c.query<OutboxRow>({ name: 'mall_outbox_claim', text: CLAIM_SQL, values: [batchSize] });
      if (rows.length === 0) {
        await c.query('COMMIT');
        return { published: 0, claimed: 0 };
      }
      const byTopic = new Map<string, OutboxRow[]>();
      for (const row of rows) {
        const list = byTopic.get(row.topic);
        if (list) list.push(row);
        else byTopic.set(row.topic, [row]);
      }
      const published: OutboxRow[] = [];
      const publishedPerTopic: [topic: string, count: number][] = [];
      // Topics one after another, not concurrently: the idempotent producer tracks sequence numbers per
      // partition, and a failure of one topic must not hold back the rows of another.
      for (const [topic, topicRows] of byTopic) {
        try {
          await publishTopic(topic, topicRows);
          published.push(...topicRows);
          publishedPerTopic.push([topic, topicRows.length]);
        } catch (err) {
          const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
          logger.error({ err, topic, rows: topicRows.length }, 'outbox publish failed; backing off');
          await c.query(
            `UPDATE "outbox" SET attempts = attempts + 1, last_error = $2,
               available_at = now() + make_interval(secs => LEAST($3::float8 * power(2, attempts), $4::float8) / 1000)
             WHERE id = ANY($1::text[])`,
            [topicRows.map((r) => r.id), message.slice(0, 2000), initialBackoffMs, maxBackoffMs],
          );
          metrics?.failures.inc({ topic }, topicRows.length);
          options.hooks?.onFailed?.(topic, err, topicRows.map(toPublished));
          await replaceOwnProducer();
        }
      }
      if (published.length > 0) {
        await c.query({
          name: 'mall_outbox_published',
          text: `UPDATE "outbox" SET published_at = now() WHERE id = ANY($1::text[])`,
          values: [published.map((r) => r.id)],
        });
      }
      await c.query('COMMIT');
      // Counted only after the commit: a cycle rolled back is republished and would otherwise count twice.
      for (const [topic, count] of publishedPerTopic) metrics?.published.inc({ topic }, count);
      if (published.length > 0) options.hooks?.onPublished?.(published.map(toPublished));
      return { published: published.length, claimed: rows.length };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async function purge(): Promise<void> {
    if (retainPublishedMs <= 0 || Date.now() - lastPurge < 60_000) return;
    lastPurge = Date.now();
    const c = await connection();
    // Bounded batches keep the delete short; the next purge continues.
    await c.query(
      `DELETE FROM "outbox" WHERE id IN (
         SELECT id FROM "outbox" WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1::float8 / 1000) LIMIT 5000)`,
      [retainPublishedMs],
    );
  }

  /*
   * Refreshed from the relay's loop rather than at scrape time: a scrape then never waits behind a cycle
   * holding the connection, and the query runs at a fixed low rate however often Prometheus asks or the
   * outbox is notified. The published_at index finds the pending rows; normally there are few.
   */
  async function checkBacklog(): Promise<void> {
    if (!metrics || Date.now() - lastBacklogCheck < backlogCheckIntervalMs) return;
    lastBacklogCheck = Date.now();
    const c = await connection();
    const { rows } = await c.query<{ pending: string; oldest: string | null }>(
      `SELECT count(*) AS pending, extract(epoch FROM now() - min(created_at)) AS oldest FROM "outbox" WHERE published_at IS NULL`,
    );
    metrics.pending.set(Number(rows[0]?.pending ?? 0));
    metrics.oldestPendingSeconds.set(Math.max(0, Number(rows[0]?.oldest ?? 0)));
  }

  // Cycles run strictly one at a time on the single connection; drain() queues behind the loop.
  let chain: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  }

  async function drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const { published, claimed } = await exclusive(cycle);
      total += published;
      // A full claim means more may be due; a claim that published nothing (all failed) must not spin.
      if (claimed < batchSize || published === 0) return total;
    }
  }

  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      if (wakePending) {
        wakePending = false;
        try {
          const published = await drainOnce();
          await exclusive(purge);
          await exclusive(checkBacklog);
          failures = 0;
          // Under load every commit notifies, and claiming at once after each cycle publishes one or two rows
          // per cycle: four statements and a produce request each. Having just published, more events are
          // probably on their way, so a short pause lets them gather into one claim, one produce request and
          // one mark. It costs an event at most coalesceMs of latency; the first event after a quiet spell
          // (a cycle that published nothing before it) goes out at once.
          if (published > 0 && coalesceMs > 0) await idle(coalesceMs, { wakeable: false });
        } catch (err) {
          failures++;
          logger.error({ err }, 'outbox relay cycle failed');
          wakePending = true;
          await idle(Math.min(pollIntervalMs * 2 ** Math.min(failures, 5), 30_000));
          continue;
        }
      }
      if (!wakePending) await idle(pollIntervalMs);
      // The poll is the safety net for a lost notification: treat its expiry as a wake-up.
      wakePending = true;
    }
  })();

  /** Waits `ms`; a notification ends the wait early unless `wakeable` is false (stopping always does). */
  function idle(ms: number, { wakeable = true } = {}): Promise<void> {
    if (stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = wakeable
        ? done
        : () => {
            if (stopping) done();
          };
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    drain: () => drainOnce(),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        wake();
        await loop;
        await chain;
        const c = client;
        client = undefined;
        await c?.end().catch(() => {});
        await ownProducer?.disconnect();
      })();
      return stopped;
    },
  };
}

function toPublished(row: OutboxRow): PublishedRow {
  return { id: row.id, topic: row.topic, key: row.key, type: row.type };
}
