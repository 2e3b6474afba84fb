import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateResolverTypes, staleFiles } from '../codegen.ts';
import { subgraphSources } from '../compose.ts';

describe('generated resolver types', () => {
  it('exist for every subgraph and the checked-in files are fresh', async () => {
    const files = await generateResolverTypes();
    assert.deepEqual(
      files.map((file) => file.path),
      subgraphSources().map(({ name }) => `subgraphs/${name}/resolvers/generated/types.ts`),
    );
    assert.deepEqual(staleFiles(files), [], 'resolver types are stale: run `npm run codegen`');
  });

  it('reports a file whose content differs', async () => {
    const [first] = await generateResolverTypes();
    assert.ok(first);
    assert.deepEqual(staleFiles([{ ...first, content: `${first.content}// edited\n` }]), [first.path]);
  });
});
