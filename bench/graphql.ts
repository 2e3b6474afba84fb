/**
 * `me` through the router vs. straight to the user subgraph (same process, same databases, measured side by
 * side in one run), and login latency (argon2id cost). Loopback only, bounded counts. CPU/req is this process's CPU
 * time (client, router and subgraphs all run here) per request: on a shared host it moves far less than latency.
 *   node bench/graphql.ts [--requests 2000] [--concurrency 8] [--logins 40]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IDENTITY_HEADER, IdentitySigner, resolveInternalSecret } from '@mall/platform';
import { postGraphQL, startTestStack } from '@mall/stack/testing';
import { fmt, type LatencySummary, measure } from './lib.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    logins: { type: 'string', default: '40' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const logins = Number(values.logins);

const ME = 'query Me { me { id email name roles createdAt } }';
const stack = await startTestStack({
  env: { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' },
});
try {
  const email = `bench-${Date.now()}@mall.test`;
  const password = 'bench-password-1';
  const reg = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(
    'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
    { input: { email, password, name: 'Bench' } },
  );
  const token = reg.body.data?.register.accessToken;
  const userId = reg.body.data?.register.user.id;
  if (!token || !userId) throw new Error(`register failed: ${JSON.stringify(reg.body.errors)}`);

  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), 'router');
  const userUrl = `${stack.subgraphUrls['user']}/graphql`;
  const direct = async () => {
    const identity = await signer.sign({ userId, roles: ['CUSTOMER'], requestId: 'bench', audience: 'user' });
    const r = await postGraphQL(userUrl, ME, {}, { headers: { [IDENTITY_HEADER]: identity } });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };
  const viaRouter = async () => {
    const r = await stack.gql(ME, {}, { token });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };

  // Warm both paths (JIT, connection pools, JWKS fetch) before measuring.
  await measure(200, concurrency, viaRouter);
  await measure(200, concurrency, direct);
  const results: [string, LatencySummary][] = [];
  // Interleave rounds so drift in machine load hits both sides alike.
  const rounds = 4;
  const router: LatencySummary[] = [];
  const subgraph: LatencySummary[] = [];
  for (let r = 0; r < rounds; r++) {
    router.push(await measure(Math.ceil(requests / rounds), concurrency, viaRouter));
    subgraph.push(await measure(Math.ceil(requests / rounds), concurrency, direct));
  }
  const merge = (xs: LatencySummary[]): LatencySummary => ({
    count: xs.reduce((a, x) => a + x.count, 0),
    p50: xs.map((x) => x.p50).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!,
    p99: Math.max(...xs.map((x) => x.p99)),
    mean: xs.reduce((a, x) => a + x.mean, 0) / xs.length,
    perSecond: xs.reduce((a, x) => a + x.perSecond, 0) / xs.length,
    cpuPerTask: xs.reduce((a, x) => a + x.cpuPerTask, 0) / xs.length,
  });
  results.push(['me via router', merge(router)], ['me direct to user subgraph', merge(subgraph)]);

  const login = await measure(logins, 1, async () => {
    const r = await stack.gql(
      'mutation Login($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }',
      { e: email, p: password },
    );
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  });
  results.push(['login (sequential)', login]);

  const [viaRouterSummary, directSummary] = [results[0]![1], results[1]![1]];
  const lines = [
    `# GraphQL latency (${new Date().toISOString()})`,
    '',
    `Command: \`node bench/graphql.ts --requests ${requests} --concurrency ${concurrency} --logins ${logins}\` on ${process.version}, ${(await import('node:os')).availableParallelism()} cores.`,
    '',
    '| scenario | requests | p50 | p99 | mean | req/s | CPU/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      ([name, s]) =>
        `| ${name} | ${s.count} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.mean)} | ${s.perSecond.toFixed(0)} | ${fmt(s.cpuPerTask)} |`,
    ),
    '',
    `Router overhead: p50 x${(viaRouterSummary.p50 / directSummary.p50).toFixed(2)}, p99 x${(viaRouterSummary.p99 / directSummary.p99).toFixed(2)}, CPU +${fmt(viaRouterSummary.cpuPerTask - directSummary.cpuPerTask)} per request (router adds JWT verification, the denylist lookup, query planning and one signed subgraph fetch; rate limits are off in this benchmark).`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  writeFileSync(new URL('results/graphql.md', import.meta.url), lines.join('\n'));
} finally {
  await stack.close();
}
