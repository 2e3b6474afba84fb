/**
 * Scenario 4: the older scenario scripts (catalog, checkout, payment, subscriptions), each in its
 * own process as before, started from the harness with the arguments of a full run (sized so the whole
 * `npm run bench` stays near 10 minutes) or of a smoke run. Each writes its markdown report itself
 * (bench/results/<name>.md, or BENCH_RESULTS_DIR); the harness records how it ended.
 */
import { spawn } from 'node:child_process';
import { BENCH_DIR } from './lib.ts';

export const SCRIPTS: Record<
  string,
  { full: readonly string[]; smoke: readonly string[]; execArgv?: readonly string[] }
> = {
  product: { full: ['--products', '1000', '--requests', '200'], smoke: ['--products', '50', '--requests', '20'] },
  checkout: { full: ['--users', '20', '--orders', '200'], smoke: ['--users', '4', '--orders', '10'] },
  payment: { full: ['--payments', '100'], smoke: ['--payments', '10'] },
  subscriptions: { full: ['--subscriptions', '200'], smoke: ['--subscriptions', '10'], execArgv: ['--expose-gc'] },
};

export async function scenarioScript(name: string, smoke: boolean) {
  const script = SCRIPTS[name]!;
  const args = smoke ? script.smoke : script.full;
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      ...(script.execArgv ?? []),
      new URL(`${name}.ts`, BENCH_DIR).pathname,
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  return {
    ok: exitCode === 0,
    exitCode,
    args,
    seconds: Math.round((performance.now() - started) / 1000),
    report: `results/${name}.md`,
  };
}
