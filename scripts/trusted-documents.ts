/**
 * Writes `router/trusted-documents.json` (Apollo's persisted query manifest) from the public contract's
 * operations, `../shared/contract/operations.graphql`: what the router runs when TRUSTED_DOCUMENTS=on.
 *   node scripts/trusted-documents.ts           write the manifest
 *   node scripts/trusted-documents.ts --check   exit 1 when the checked-in file is stale (CI)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildManifest, TRUSTED_DOCUMENTS_PATH } from '../router/src/persisted-queries.ts';

const CONTRACT = new URL('../../shared/contract/operations.graphql', import.meta.url);

const text = `${JSON.stringify(buildManifest(readFileSync(CONTRACT, 'utf8')), null, 2)}\n`;
const path = fileURLToPath(TRUSTED_DOCUMENTS_PATH);
if (process.argv.includes('--check')) {
  if ((existsSync(path) ? readFileSync(path, 'utf8') : '') !== text) {
    process.stderr.write('router/trusted-documents.json is stale: run `npm run trusted-documents` and commit it.\n');
    process.exit(1);
  }
  process.stderr.write('router/trusted-documents.json is up to date.\n');
} else {
  writeFileSync(path, text);
  process.stderr.write(`wrote ${path}\n`);
}
