/**
 * The operator's fault drill, replayed: a client sends `me` and `login` every 100 ms while Redis, then
 * Postgres, is cut off (through a fault proxy; the machine's own servers are never touched) and comes back.
 * Reports per phase: answers by code, slowest answer, HTTP 500s, and how long after the return `me` worked.
 *   node bench/faults.ts [--outage-ms 10000]
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { proxyServer, TEST_REDIS_URL, TEST_SERVER_URL } from '@mall/platform/testing';
import { type GraphQLResult, startTestStack } from '@mall/stack/testing';

const { values } = parseArgs({ options: { 'outage-ms': { type: 'string', default: '10000' } } });
const outageMs = Number(values['outage-ms']);

const redis = await proxyServer(TEST_REDIS_URL);
const postgres = await proxyServer(TEST_SERVER_URL);
const stack = await startTestStack({
  subgraphs: ['user', 'auth'],
  env: { REDIS_URL: redis.url, DATABASE_URL: postgres.url },
});

interface Phase {
  readonly name: string;
  readonly codes: Map<string, number>;
  slowestMs: number;
  status500: number;
}
const rows: string[] = [];
try {
  const email = `drill-${Date.now()}@mall.test`;
  const password = 'drill-password-1';
  const reg = await stack.gql<{ register: { accessToken: string } }>(
    'mutation R($input: RegisterInput!) { register(input: $input) { accessToken } }',
    { input: { email, password } },
  );
  const token = reg.body.data?.register.accessToken;
  if (!token) throw new Error(`register failed: ${JSON.stringify(reg.body)}`);

  let phase: Phase = newPhase('warm-up');
  function newPhase(name: string): Phase {
    return { name, codes: new Map(), slowestMs: 0, status500: 0 };
  }
  const record = async (label: string, request: Promise<GraphQLResult>) => {
    // Counted in the phase it was sent in.
    const p = phase;
    const started = performance.now();
    const result = await request.catch(() => null);
    const ms = performance.now() - started;
    p.slowestMs = Math.max(p.slowestMs, ms);
    if (result?.status === 500) p.status500++;
    const code = result === null ? 'network error' : (result.body.errors?.[0]?.extensions?.code ?? 'ok');
    const key = `${label} ${code}`;
    p.codes.set(key, (p.codes.get(key) ?? 0) + 1);
    return code;
  };
  let running = true;
  const client = (async () => {
    while (running) {
      void record('me', stack.gql('query { me { id } }', {}, { token }));
      void record(
        'login',
        stack.gql('mutation L($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }', {
          e: email,
          p: password,
        }),
      );
      await delay(100);
    }
  })();

  /** Milliseconds until `me` answers without an error again (polled every 10 ms), or null after 5 s. */
  const recovery = async (): Promise<number | null> => {
    const back = performance.now();
    while (performance.now() - back < 5_000) {
      if (!(await stack.gql('query { me { id } }', {}, { token })).body.errors) return performance.now() - back;
      await delay(10);
    }
    return null;
  };

  for (const [name, link] of [
    ['Redis', redis.proxy],
    ['Postgres', postgres.proxy],
  ] as const) {
    await delay(2_000);
    rows.push(report(phase));
    phase = newPhase(`${name} cut off (${outageMs / 1000} s)`);
    link.cut();
    await delay(outageMs);
    rows.push(report(phase));
    phase = newPhase(`${name} back (first 5 s)`);
    const started = performance.now();
    link.restore();
    const recovered = await recovery();
    await delay(Math.max(0, 5_000 - (performance.now() - started)));
    rows.push(report(phase));
    rows.push(
      `| ${name} back: \`me\` works again after | ${recovered === null ? 'not within 5 s' : `${Math.round(recovered)} ms`} | | |`,
    );
    phase = newPhase('steady');
  }
  running = false;
  await client;
} finally {
  redis.proxy.restore();
  postgres.proxy.restore();
  await stack.close();
  await Promise.all([redis.proxy.close(), postgres.proxy.close()]);
}

function report(p: Phase): string {
  const codes = [...p.codes]
    .sort()
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  return `| ${p.name} | ${codes} | ${Math.round(p.slowestMs)} ms | ${p.status500} |`;
}

const table = [
  '| phase | answers (me / login, by code) | slowest | HTTP 500 |',
  '| --- | --- | --- | --- |',
  ...rows,
].join('\n');
const out = `# Fault drill\n\n\`node bench/faults.ts --outage-ms ${outageMs}\`, ${new Date().toISOString().slice(0, 10)}: a client sends \`me\` and \`login\` every 100 ms.\n\n${table}\n`;
writeFileSync(new URL('./results/faults.md', import.meta.url), out);
process.stdout.write(out);
