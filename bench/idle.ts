/**
 * Idle (`npm run bench -- idle`): what the router and the stack (all eight subgraphs, their consumers, outbox
 * relays and sweeps, the embedded broker) cost with no traffic at all, in CPU ms per second from
 * /proc/<pid>/stat, over three 10 s windows after the router is up. Background work every instance pays all
 * the time: polling, heartbeats, timers.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { startOurRouter, writeSupergraph } from './gateways.ts';
import { cpuMsOf, type Harness } from './lib.ts';

export async function scenarioIdle(h: Harness) {
  const windowMs = h.smoke ? 1_000 : 10_000;
  const router = await startOurRouter(h, writeSupergraph(h), {
    limits: 'production',
    env: { TRUSTED_DOCUMENTS: 'on' },
  });
  const rows: { window: number; routerMsPerSecond: number; stackMsPerSecond: number }[] = [];
  try {
    const pids = { router: router.child!.process.pid!, stack: h.stack.process.pid! };
    for (let window = 1; window <= 3; window++) {
      const before = { router: cpuMsOf(pids.router), stack: cpuMsOf(pids.stack) };
      await delay(windowMs);
      rows.push({
        window,
        routerMsPerSecond: ((cpuMsOf(pids.router) - before.router) * 1000) / windowMs,
        stackMsPerSecond: ((cpuMsOf(pids.stack) - before.stack) * 1000) / windowMs,
      });
    }
  } finally {
    await router.child?.stop();
  }
  return { windowMs, rows };
}
