import { createRequire } from 'node:module';

/**
 * Stops kafkajs 2.2.4's busy timer on idle connections (upstream issues tulios/kafkajs#1556 and #1704, fix
 * proposed in #1667 and #1768, never released: kafkajs has had no release since 2.2.4).
 *
 * Every broker connection has a request queue whose `scheduleCheckPendingRequests` re-arms itself after each
 * check. With nothing queued and no throttling its delay is `throttledUntil - now`, negative, which Node runs
 * as 1 ms (Node 24 warns: TimeoutNegativeWarning). So each connection of every producer, consumer and admin
 * checks its empty queue about a thousand times a second for as long as it is open (532 checks in 300 ms over
 * one admin's and one producer's connections, test/kafkajs-idle.int.test.ts). With no traffic at all
 * (`npm run bench -- idle`) the router used 33–37 ms of CPU per second before this and 13–15 after; the
 * process with all eight subgraphs 74–79 and 33–54.
 *
 * The fix is the upstream one: with nothing queued there is nothing to check, so nothing is scheduled. That
 * changes no request's fate: a request that cannot be sent at once is queued by `push`, which schedules the
 * check itself (after the throttle, or every 10 ms while in-flight limits hold it back), and a response
 * checks the queue on arrival (`fulfillRequest`).
 */
interface RequestQueue {
  readonly pending: readonly unknown[];
  scheduleCheckPendingRequests(): void;
}
type Patched = RequestQueue & { [PATCHED]?: true };
const PATCHED = Symbol.for('mall.kafkajs.idle-queue');

const require = createRequire(import.meta.url);
const KAFKAJS_VERSION = '2.2.4';

export function stopIdleQueueTimers(): void {
  const { version } = require('kafkajs/package.json') as { version: string };
  // A later kafkajs may have fixed it (or changed the queue): then this is not applied, and the test says so.
  if (version !== KAFKAJS_VERSION) return;
  const { prototype } = require('kafkajs/src/network/requestQueue/index.js') as { prototype: Patched };
  if (prototype[PATCHED]) return;
  const schedule = prototype.scheduleCheckPendingRequests;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0) return;
    schedule.call(this);
  };
  prototype[PATCHED] = true;
}

stopIdleQueueTimers();
