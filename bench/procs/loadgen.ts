/**
 * The load generator, in its own process so it never shares an event loop with a gateway under test. The
 * harness sends jobs over IPC: `autocannon` (N connections for a duration, every body compared with the
 * expected one) or `sequential` (one client, one request after another, timed with performance.now(): finer
 * than autocannon's whole-millisecond histogram, which matters for a 1–2 ms round trip); and the flash-sale
 * crowd's jobs (bench/procs/flash-buyers.ts).
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { type LoadRequest, type LoadResult, type Message, percentile, serveParent } from '../lib.ts';
import { closedLoop, openLoop, prepare } from './flash-buyers.ts';
import { selfProfiler } from './self-profile.ts';

interface Job extends Message {
  readonly request: LoadRequest;
  readonly connections: number;
  readonly seconds: number;
}

async function cannon(job: Job): Promise<LoadResult> {
  const { url, headers, body, expectBody } = job.request;
  let wrongBody: string | undefined;
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    // As `expectBody`, but keeping the first wrong body so a failed run says what went wrong.
    verifyBody: (received) => {
      const text = String(received);
      if (text === expectBody) return true;
      wrongBody ??= text.slice(0, 500);
      return false;
    },
    connections: job.connections,
    duration: job.seconds,
  });
  const errors = result.errors + result.timeouts + result.non2xx + result.mismatches;
  return {
    requests: result.requests.total,
    errors,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ...(errors
      ? {
          failures: {
            socket: result.errors,
            timeouts: result.timeouts,
            non2xx: result.non2xx,
            mismatches: result.mismatches,
            ...(wrongBody ? { wrongBody } : {}),
          },
        }
      : {}),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function once(url: URL, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function sequential(job: Job): Promise<LoadResult> {
  const { headers, body, expectBody } = job.request;
  const url = new URL(job.request.url);
  const latencies: number[] = [];
  let errors = 0;
  let wrongBody: string | undefined;
  const started = performance.now();
  const until = started + job.seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    try {
      const r = await once(url, headers, body);
      if (r.status !== 200 || r.text !== expectBody) {
        errors++;
        wrongBody ??= `${r.status} ${r.text.slice(0, 500)}`;
      }
    } catch (err) {
      errors++;
      wrongBody ??= String(err);
    }
    latencies.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...(wrongBody ? { failures: { wrongBody } } : {}),
  };
}

const profiler = selfProfiler('loadgen');
const FLASHSALE: Record<string, (message: Message) => Promise<Message>> = {
  'flashsale:prepare': prepare,
  'flashsale:open': openLoop,
  'flashsale:closed': closedLoop,
};

serveParent(async (message) => {
  if (message.type === 'stop') process.exit(0);
  const flashsale = FLASHSALE[message.type];
  if (flashsale) return flashsale(message);
  if (message.type.startsWith('profile:')) return profiler(message);
  const job = message as Job;
  const result = message.type === 'sequential' ? await sequential(job) : await cannon(job);
  return { type: 'result', ...result };
});
process.on('SIGTERM', () => process.exit(0));
process.send?.({ type: 'ready' });
