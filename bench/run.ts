/**
 * The benchmark harness: `npm run bench` runs every scenario (about 10 minutes on 2 cores, loopback only);
 * `npm run bench -- <scenario>…` runs some; `--smoke` runs each for a second or so (the test suite does, so the
 * harness cannot rot) and writes to BENCH_RESULTS_DIR instead of bench/results.
 *   direct    scenario 1: our router vs straight to the subgraph
 *   gateways  scenario 2: our router vs Apollo Gateway vs Hive Gateway (defaults, and dedupe off)
 *   profile   scenario 2's load on our router under node --cpu-prof (bench/profiles/)
 *   queries   scenario 3: SQL statements per request of cross-subgraph lists, for list sizes 5, 20, 50
 *   flashsale scenario 5: a flash-sale crowd through our router, open loop and closed loop (bench/flashsale-harness.ts)
 *   flashsale-profile   scenario 5 under CPU profiles of the router, the stack and the load generator
 *   flashsale-floor     scenario 5's crowds against the least two bare Node processes do for a buy (the floor)
 *   idle      CPU per second of the router and the stack with no traffic (background work)
 *   product, checkout, payment, subscriptions   scenario 4: the older scenario scripts
 * JSON results go to bench/results/<scenario>.json and the tables into bench/README.md.
 */
import { parseArgs } from 'node:util';
import { scenarioFlashSale, scenarioFlashSaleFloor, scenarioFlashSaleProfile } from './flashsale-harness.ts';
import { scenarioDirect, scenarioGateways, scenarioProfile } from './gateways.ts';
import { scenarioIdle } from './idle.ts';
import { type Harness, resultFile, startHarness, writeResult } from './lib.ts';
import { scenarioQueries } from './queries.ts';
import { renderReadme } from './report.ts';
import { SCRIPTS, scenarioScript } from './scripts.ts';

const HARNESS_SCENARIOS = {
  direct: scenarioDirect,
  gateways: scenarioGateways,
  queries: scenarioQueries,
  profile: scenarioProfile,
  flashsale: scenarioFlashSale,
  'flashsale-profile': scenarioFlashSaleProfile,
  'flashsale-floor': scenarioFlashSaleFloor,
  idle: scenarioIdle,
} as const satisfies Record<string, (h: Harness) => Promise<unknown>>;
const ALL = ['direct', 'gateways', 'queries', 'flashsale', 'flashsale-floor', 'idle', ...Object.keys(SCRIPTS)];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { smoke: { type: 'boolean', default: false } },
});
const smoke = values.smoke;
const chosen = positionals.length ? positionals : ALL;
for (const name of chosen)
  if (!(name in HARNESS_SCENARIOS) && !(name in SCRIPTS))
    throw new Error(
      `unknown scenario ${name}; one of: ${[...Object.keys(HARNESS_SCENARIOS), ...Object.keys(SCRIPTS)].join(', ')}`,
    );
const command = `npm run bench${positionals.length || smoke ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const failures: string[] = [];
const harnessed = chosen.filter((name) => name in HARNESS_SCENARIOS) as (keyof typeof HARNESS_SCENARIOS)[];
if (harnessed.length) {
  const h = await startHarness(smoke);
  try {
    for (const name of harnessed) {
      process.stderr.write(`[bench] ${name}…\n`);
      const started = performance.now();
      const result = await HARNESS_SCENARIOS[name](h);
      const file = writeResult(name, command, { seconds: Math.round((performance.now() - started) / 1000), ...result });
      process.stderr.write(`[bench] ${name} → ${file}\n`);
      const errors = (result as { rows?: { errors: number }[] }).rows?.reduce((a, r) => a + r.errors, 0) ?? 0;
      if (errors) failures.push(`${name}: ${errors} requests failed or answered a wrong body`);
    }
  } finally {
    await h.close();
  }
}
for (const name of chosen.filter((n) => n in SCRIPTS)) {
  process.stderr.write(`[bench] ${name}…\n`);
  const result = await scenarioScript(name, smoke);
  writeResult(name, command, result);
  if (!result.ok) failures.push(`${name}: exited ${result.exitCode}`);
}
if (!smoke) renderReadme();
else process.stderr.write(`[bench] smoke results in ${resultFile('').pathname}\n`);
if (failures.length) {
  process.stderr.write(`[bench] FAILED\n  ${failures.join('\n  ')}\n`);
  process.exit(1);
}
