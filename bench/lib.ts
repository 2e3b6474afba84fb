/** Small helpers shared by the benchmarks: percentiles and a bounded closed-loop load driver. */
export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[index]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly perSecond: number;
  /** CPU time of this whole process (client and every in-process server) per task, in ms: steadier than latency on a busy host. */
  readonly cpuPerTask: number;
}

/** Runs `task` `total` times with `concurrency` workers (a bounded, loopback-only load) and summarises latencies. */
export async function measure(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<LatencySummary> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  latencies.sort((a, b) => a - b);
  return {
    count: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    perSecond: latencies.length / elapsed,
    cpuPerTask: (cpu.user + cpu.system) / 1000 / latencies.length,
  };
}

export const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
