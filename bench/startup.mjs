// How long `npm start` takes from a fresh clone (cold: npm ci, Prisma generate, database creation and
// migrations) and again in the same clone (warm), until the router answers a query. Loopback only.
//   node bench/startup.mjs            (any Node >= 20; clones this repository's HEAD into a temp dir)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mall-startup-'));
const port = 4600 + Math.floor(Math.random() * 200);
const prefix = `bench_${Date.now().toString(36)}_`;
const env = {
  ...process.env,
  PORT: String(port),
  KAFKA_BROKER_PORT: String(port + 50),
  MALL_DB_PREFIX: prefix,
  MALL_REDIS_PREFIX: `${prefix}:`,
  LOG_LEVEL: 'warn',
};

async function ready(deadline) {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('stack did not become ready in time');
}

async function run(label) {
  const started = Date.now();
  const child = spawn('npm', ['start'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  try {
    await ready(started + 300_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`${label}: ${seconds.toFixed(1)} s`);
    return seconds;
  } finally {
    const exited = new Promise((r) => child.on('exit', r));
    process.kill(-child.pid, 'SIGINT');
    await exited;
  }
}

try {
  spawnSync('git', ['clone', '--quiet', repo, dir], { stdio: 'inherit' });
  const cold = await run('cold (fresh clone: npm ci + generate + create databases + migrate + start)');
  const warm = await run('warm (same clone, databases exist)');
  const out = `# npm start timing (${new Date().toISOString()})\n\nCommand: \`node bench/startup.mjs\`\n\n| run | seconds to first answer |\n| --- | ---: |\n| cold | ${cold.toFixed(1)} |\n| warm | ${warm.toFixed(1)} |\n`;
  writeFileSync(new URL('results/startup.md', import.meta.url), out);
} finally {
  spawnSync(
    join(dir, 'node_modules/.bin/node'),
    [
      '-e',
      `
    const pg = require('pg'); const c = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
    c.connect().then(async () => { const { rows } = await c.query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", ['${prefix}']);
      for (const r of rows) await c.query('DROP DATABASE "' + r.datname + '" WITH (FORCE)'); await c.end(); });
    const { Redis } = require('ioredis'); const r = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0');
    (async () => { let cur = '0'; do { const [n, keys] = await r.scan(cur, 'MATCH', '${prefix}:*', 'COUNT', 500); cur = n;
      if (keys.length) await r.unlink(...keys); } while (cur !== '0'); r.disconnect(); })();`,
    ],
    { cwd: dir, stdio: 'inherit' },
  );
  rmSync(dir, { recursive: true, force: true });
}
