import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { domainSchemaDirs } from '../../../scripts/lib/prisma-env.ts';
import { assertOutboxSnippet, OUTBOX_PRISMA_PATH } from '../src/testing/index.ts';

describe('the outbox snippet', () => {
  it('is linked, not copied, into every domain schema folder and the test fixture', async () => {
    const dirs = await domainSchemaDirs(fileURLToPath(new URL('../../../prisma/', import.meta.url)));
    assert.ok(dirs.length >= 2, 'finds the domain schema folders');
    for (const dir of [...dirs, fileURLToPath(new URL('./fixtures/prisma', import.meta.url))])
      await assertOutboxSnippet(dir);
  });

  it('refuses a copy and a missing link', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snippet-'));
    try {
      await assert.rejects(assertOutboxSnippet(dir), /is missing: ln -sf/);
      await writeFile(join(dir, 'events.prisma'), 'model OutboxEvent {}');
      await assert.rejects(assertOutboxSnippet(dir), /must be a link/);
      await rm(join(dir, 'events.prisma'));
      await symlink(OUTBOX_PRISMA_PATH, join(dir, 'events.prisma'));
      await assertOutboxSnippet(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
