// `npm test`: the whole suite on Node 24 against the local Postgres and Redis. Extra arguments (files or
// node --test flags) replace the default file set, e.g. `npm test -- subgraphs/user/test/`.
import { ensureInstalled, execPinned, runPinnedSync } from './bootstrap.mjs';

const SUITES = [
  'packages/*/test/**/*.test.ts',
  'schema/test/**/*.test.ts',
  'router/test/**/*.test.ts',
  'subgraphs/*/test/**/*.test.ts',
  'bench/test/**/*.test.ts',
];

ensureInstalled();
runPinnedSync(['scripts/prisma-generate.ts']);
const args = process.argv.slice(2);
execPinned([
  '--test',
  // Integration tests wait on Postgres, Redis and sockets much of the time; three files at once keep both
  // cores busy without starving argon2-heavy suites.
  '--test-concurrency=3',
  '--test-timeout=180000',
  // A file whose tests are done exits even if a client it abandoned (a kafkajs consumer whose bounded stop gave
  // up on a dead broker) still holds a timer: a leaked handle must fail loudly in its own test, never hang CI.
  '--test-force-exit',
  ...(args.length ? args : SUITES),
]);
