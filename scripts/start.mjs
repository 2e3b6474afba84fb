// `npm start`: from a fresh clone, install, generate the Prisma clients, then run the whole stack on Node 24.
import { ensureInstalled, execPinned, runPinnedSync } from './bootstrap.mjs';

ensureInstalled();
runPinnedSync(['scripts/prisma-generate.ts']);
execPinned(['scripts/dev.ts', ...process.argv.slice(2)]);
