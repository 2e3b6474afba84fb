// Plain JavaScript on purpose: this runs on whatever Node the machine has (>= 20) before the pinned Node 24
// and the TypeScript sources are usable. It installs dependencies on a fresh clone, then hands over.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const PINNED_NODE = join(ROOT, 'node_modules', '.bin', 'node');

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

/** Installs (npm ci) when node_modules is missing or older than the lockfile. */
export function ensureInstalled() {
  const lock = join(ROOT, 'package-lock.json');
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  if (existsSync(PINNED_NODE) && mtime(installed) >= mtime(lock)) return;
  console.error('[mall] installing dependencies (npm ci)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[mall] npm ci failed');
    process.exit(result.status ?? 1);
  }
}

/** Runs a script on the pinned Node 24 and blocks until it finishes; exits on failure. */
export function runPinnedSync(args) {
  const result = spawnSync(PINNED_NODE, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/**
 * Hands the terminal to a child on the pinned Node 24 and mirrors its exit. Ctrl-C reaches the child through
 * the process group; a SIGTERM sent to this wrapper alone is forwarded so the child can shut down cleanly.
 */
export function execPinned(args) {
  // kafkajs 2.2.4 schedules a timer with a negative delay on Node >= 22 (its own throttle bookkeeping); the
  // warning is harmless noise in every process we start (test files inherit the flag from the runner).
  const child = spawn(PINNED_NODE, ['--disable-warning=TimeoutNegativeWarning', ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
