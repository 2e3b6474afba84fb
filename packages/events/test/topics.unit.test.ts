import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { allTopics, dlqTopic, EVENTS, TOPICS } from '../src/index.ts';
import { OUTBOX_PRISMA_PATH } from '../src/testing/index.ts';

/** Reads the `topics:` list of infra/kafka/topics.yaml (name and partitions of each entry). */
function parseTopicsYaml(text: string): { name: string; partitions: number }[] {
  const out: { name: string; partitions: number }[] = [];
  let inTopics = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    if (!line) continue;
    if (/^\S/.test(line)) {
      inTopics = line === 'topics:';
      continue;
    }
    if (!inTopics) continue;
    const name = /^ {2}- name: (\S+)$/.exec(line);
    if (name) {
      out.push({ name: name[1]!, partitions: Number.NaN });
      continue;
    }
    const partitions = /^ {4}partitions: (\d+)$/.exec(line);
    if (partitions && out.length > 0) out[out.length - 1]!.partitions = Number(partitions[1]);
  }
  return out;
}

test('infra/kafka/topics.yaml lists exactly the registry topics and DLQs with the same partitions', async () => {
  const yaml = await readFile(new URL('../../../infra/kafka/topics.yaml', import.meta.url), 'utf8');
  const fromYaml = parseTopicsYaml(yaml).sort((a, b) => a.name.localeCompare(b.name));
  const fromRegistry = allTopics().sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(fromYaml, fromRegistry);
});

test('every event type publishes to a registered topic that has a DLQ', () => {
  for (const [type, def] of Object.entries(EVENTS)) {
    assert.ok(def.topic in TOPICS, `${type} → ${def.topic}`);
    assert.ok(type.startsWith(def.topic.replace(/\.events$/, '.')), `${type} is named after its topic ${def.topic}`);
  }
  for (const t of Object.values(TOPICS)) assert.equal(t.dlq, dlqTopic(t.name));
});

test('the canonical snippet maps the outbox and processed_events tables', async () => {
  const canonical = await readFile(OUTBOX_PRISMA_PATH, 'utf8');
  assert.match(canonical, /@@map\("outbox"\)/);
  assert.match(canonical, /@@map\("processed_events"\)/);
});

test('events.sql creates every column the snippet declares', async () => {
  const prisma = await readFile(OUTBOX_PRISMA_PATH, 'utf8');
  const sql = await readFile(new URL('../prisma/events.sql', import.meta.url), 'utf8');
  for (const model of prisma.matchAll(/model \w+ \{([\s\S]*?)\n\}/g)) {
    for (const line of model[1]!.split('\n')) {
      const field = /^ {2}(\w+)\s+\w+/.exec(line);
      if (!field) continue;
      const column = /@map\("(\w+)"\)/.exec(line)?.[1] ?? field[1]!;
      assert.match(sql, new RegExp(`"${column}" `), `column ${column}`);
    }
  }
});
