// `npm start`: from a fresh clone, install, generate the Prisma clients, then run the whole stack on Node 24.
import { ensureInstalled, execPinned, runPinnedSync } from './bootstrap.mjs';

ensureInstalled();
runPinnedSync(['scripts/prisma-generate.ts']);
// kafkajs 2.2.4 schedules a timer with a negative delay on Node >= 22 (its own throttle bookkeeping); harmless noise.
execPinned(['--disable-warning=TimeoutNegativeWarning', 'scripts/dev.ts', ...process.argv.slice(2)]);
