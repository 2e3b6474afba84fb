/**
 * What tracing costs per request: `me` through the router (router + user subgraph, one process) with tracing
 * off (no OTEL_EXPORTER_OTLP_ENDPOINT: the default) and on (every span recorded and handed to an exporter that
 * drops it, so the figure is the SDK's and the instrumentation's cost, not a collector's). Tracing is
 * process-wide, so each mode runs in its own child process; modes alternate to spread machine-load drift.
 *   node bench/tracing.ts [--requests 2000] [--concurrency 8] [--rounds 2]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, type LatencySummary, measure } from './lib.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    mode: { type: 'string' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

if (values.mode) {
  // Child: one mode, prints its summary as JSON on the last line.
  if (values.mode === 'on') {
    const { startTracing } = await import('@mall/platform/tracing');
    await startTracing({
      serviceName: 'bench',
      exporter: { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} },
    });
  }
  const { startTestStack } = await import('@mall/stack/testing');
  const stack = await startTestStack({
    subgraphs: ['user', 'auth'],
    env: { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' },
  });
  try {
    const reg = await stack.gql<{ register: { accessToken: string } }>(
      'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken } }',
      { input: { email: `bench-${Date.now()}@mall.test`, password: 'bench-password-1', name: 'Bench' } },
    );
    const token = reg.body.data?.register.accessToken;
    if (!token) throw new Error(`register failed: ${JSON.stringify(reg.body.errors)}`);
    const me = async () => {
      const r = await stack.gql('query Me { me { id email name roles createdAt } }', {}, { token });
      if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
    };
    await measure(300, concurrency, me);
    const summary = await measure(requests, concurrency, me);
    process.stdout.write(`\n${JSON.stringify(summary)}\n`);
  } finally {
    await stack.close();
  }
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
const runs: Record<'off' | 'on', LatencySummary[]> = { off: [], on: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const mode of ['off', 'on'] as const) {
    const out = execFileSync(
      process.execPath,
      [
        '--disable-warning=TimeoutNegativeWarning',
        self,
        '--mode',
        mode,
        '--requests',
        String(requests),
        '--concurrency',
        String(concurrency),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const last = out.trim().split('\n').at(-1) ?? '{}';
    runs[mode].push(JSON.parse(last) as LatencySummary);
  }
}
const avg = (xs: LatencySummary[], f: (s: LatencySummary) => number) => xs.reduce((a, s) => a + f(s), 0) / xs.length;
const lines = [
  '| tracing | requests | p50 | p99 | req/s | CPU/req |',
  '| --- | --- | --- | --- | --- | --- |',
  ...(['off', 'on'] as const).map((mode) => {
    const xs = runs[mode];
    return `| ${mode} | ${avg(xs, (s) => s.count) * xs.length} | ${fmt(avg(xs, (s) => s.p50))} | ${fmt(avg(xs, (s) => s.p99))} | ${avg(xs, (s) => s.perSecond).toFixed(0)} | ${fmt(avg(xs, (s) => s.cpuPerTask))} |`;
  }),
];
const report = [
  '# Tracing: CPU per request, off vs on',
  '',
  `\`npm run bench:tracing -- --requests ${requests} --concurrency ${concurrency} --rounds ${values.rounds}\` on ${new Date().toISOString().slice(0, 10)}:`,
  '`me` through the router to the user subgraph, all in one process (client included), each mode in its own',
  'process, modes alternated. "on" records every span (sampling 1) into an exporter that drops them.',
  '',
  ...lines,
  '',
].join('\n');
process.stdout.write(report);
writeFileSync(new URL('./results/tracing.md', import.meta.url), report);
