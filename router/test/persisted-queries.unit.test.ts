import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildManifest, loadTrustedDocuments } from '../src/persisted-queries.ts';

const CONTRACT = new URL('../../../shared/contract/operations.graphql', import.meta.url);

describe('trusted documents', () => {
  it('the checked-in manifest is the contract as generated (npm run trusted-documents)', () => {
    const generated = buildManifest(readFileSync(CONTRACT, 'utf8'));
    assert.deepEqual(
      new Map(generated.operations.map((o) => [o.id, o.body])),
      loadTrustedDocuments(),
      'router/trusted-documents.json is stale',
    );
    assert.ok(generated.operations.some((o) => o.name === 'OrderStatus' && o.type === 'subscription'));
  });

  it('ids are the sha256 of each body, which carries exactly the fragments its operation uses', () => {
    const manifest = buildManifest(`
      query A { me { ...U } }
      query B { me { id } }
      fragment U on User { id ...V }
      fragment V on User { email }
      fragment Unused on User { name }`);
    for (const o of manifest.operations) assert.equal(o.id, createHash('sha256').update(o.body).digest('hex'));
    const [a, b] = manifest.operations;
    assert.match(a?.body ?? '', /fragment U on User[\s\S]*fragment V on User/);
    assert.doesNotMatch(a?.body ?? '', /Unused/);
    assert.doesNotMatch(b?.body ?? '', /fragment/);
  });
});
