import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { GroupRecord } from '../group/coordinator.ts';
import type { Flusher } from './flusher.ts';
import { type LogConfig, type Logger, PartitionLog } from './log.ts';

interface Meta {
  clusterId: string;
  nextProducerId: number;
  topics: Record<string, { partitions: number; createdAt: number }>;
}

export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

/**
 * Topic registry, partition logs and committed offsets under <dataDir>/kafka:
 *   meta.json              cluster id, topics, producer id high-water (rewritten atomically)
 *   offsets.jsonl          committed offsets, append-only, compacted on open
 *   groups.json            consumer-group metadata (members, generation, assignments), rewritten atomically
 *   logs/<topic>-<p>/      segments <baseOffset>.log + sparse <baseOffset>.index
 */
export class Store {
  readonly root: string;
  private cfg: LogConfig;
  private flusher: Flusher;
  private log: Logger;
  private meta: Meta;
  private logs = new Map<string, PartitionLog[]>();
  private offsets = new Map<string, Map<string, Map<number, CommittedOffset>>>();
  private offsetsFd: number;
  private offsetsPos: number;

  constructor(root: string, cfg: LogConfig, flusher: Flusher, log: Logger) {
    this.root = root;
    this.cfg = cfg;
    this.flusher = flusher;
    this.log = log;
    fs.mkdirSync(path.join(root, 'logs'), { recursive: true });
    const metaPath = path.join(root, 'meta.json');
    if (fs.existsSync(metaPath)) {
      this.meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as Meta;
    } else {
      this.meta = {
        clusterId: crypto.randomBytes(16).toString('base64url').slice(0, 22),
        nextProducerId: 1000,
        topics: {},
      };
      this.saveMeta();
    }
    for (const [name, t] of Object.entries(this.meta.topics)) this.openTopic(name, t.partitions);
    const offsetsPath = path.join(root, 'offsets.jsonl');
    this.loadOffsets(offsetsPath);
    // Compact: rewrite the current state and continue appending to it.
    const tmp = `${offsetsPath}.tmp`;
    const lines: string[] = [];
    for (const [g, topics] of this.offsets)
      for (const [t, parts] of topics)
        for (const [p, c] of parts) lines.push(JSON.stringify({ g, t, p, o: c.offset, m: c.metadata }));
    const body = lines.length ? `${lines.join('\n')}\n` : '';
    fs.writeFileSync(tmp, body);
    const tfd = fs.openSync(tmp, 'r');
    fs.fsyncSync(tfd);
    fs.closeSync(tfd);
    fs.renameSync(tmp, offsetsPath);
    this.syncDir();
    this.offsetsFd = fs.openSync(offsetsPath, 'r+');
    this.offsetsPos = Buffer.byteLength(body);
  }

  /** The committed-offsets log, for waiting on its fsync alone. */
  get offsetsFile(): number {
    return this.offsetsFd;
  }

  get clusterId(): string {
    return this.meta.clusterId;
  }

  private syncDir(): void {
    const dfd = fs.openSync(this.root, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }

  /** tmp + fsync + rename + directory fsync: a crash at any point leaves the old file or the new one. */
  private replaceFile(name: string, body: string): void {
    const p = path.join(this.root, name);
    const tmp = `${p}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, body);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, p);
    this.syncDir();
  }

  private saveMeta(): void {
    this.replaceFile('meta.json', JSON.stringify(this.meta, null, 1));
  }

  /**
   * The consumer groups as last written. A file that does not parse (it cannot be torn, see replaceFile, so
   * only outside damage does this) is moved aside and the broker starts without group metadata: members
   * then rejoin, as they would on a new coordinator; committed offsets are kept separately and unaffected.
   */
  readGroups(): GroupRecord[] {
    const p = path.join(this.root, 'groups.json');
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    try {
      return parseGroups(text);
    } catch (e) {
      const aside = `${p}.corrupt-${Date.now()}`;
      fs.renameSync(p, aside);
      this.log.error({ err: e, movedTo: aside }, 'unreadable group metadata moved aside; groups start empty');
      return [];
    }
  }

  /** Replaces the whole group snapshot durably before returning (group changes are rare: rebalances). */
  writeGroups(groups: GroupRecord[]): void {
    const file: GroupsFile = {
      version: 1,
      groups: groups.map((g) => ({
        ...g,
        members: g.members.map((m) => ({
          ...m,
          protocols: m.protocols.map((pr) => ({ name: pr.name, metadata: pr.metadata.toString('base64') })),
          assignment: m.assignment.toString('base64'),
        })),
      })),
    };
    this.replaceFile('groups.json', JSON.stringify(file));
  }

  private loadOffsets(p: string): void {
    if (!fs.existsSync(p)) return;
    for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
      if (!line) continue;
      let e: { g?: string; t: string; p?: number; o?: number; m?: string | null; del?: boolean };
      try {
        e = JSON.parse(line);
      } catch {
        continue; // torn last line from a crash mid-append: never acknowledged
      }
      if (e.del) {
        for (const topics of this.offsets.values()) topics.delete(e.t);
      } else if (e.g !== undefined && e.p !== undefined && e.o !== undefined) {
        this.setOffset(e.g, e.t, e.p, { offset: e.o, metadata: e.m ?? null });
      }
    }
  }

  private setOffset(g: string, t: string, p: number, c: CommittedOffset): void {
    let topics = this.offsets.get(g);
    if (!topics) {
      topics = new Map();
      this.offsets.set(g, topics);
    }
    let parts = topics.get(t);
    if (!parts) {
      parts = new Map();
      topics.set(t, parts);
    }
    parts.set(p, c);
  }

  private appendOffsetsLine(s: string): void {
    const b = Buffer.from(s);
    fs.writeSync(this.offsetsFd, b, 0, b.length, this.offsetsPos);
    this.offsetsPos += b.length;
    this.flusher.markDirty(this.offsetsFd);
  }

  private openTopic(name: string, partitions: number): PartitionLog[] {
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++)
      logs.push(new PartitionLog(path.join(this.root, 'logs', `${name}-${p}`), this.cfg, this.flusher, this.log));
    this.logs.set(name, logs);
    return logs;
  }

  topicNames(): string[] {
    return [...this.logs.keys()];
  }

  topic(name: string): PartitionLog[] | undefined {
    return this.logs.get(name);
  }

  partition(topic: string, p: number): PartitionLog | undefined {
    return this.logs.get(topic)?.[p];
  }

  createTopic(name: string, partitions: number): PartitionLog[] {
    const existing = this.logs.get(name);
    if (existing) return existing;
    // A leftover directory from a deletion interrupted by a crash must not resurrect old data.
    for (let p = 0; p < partitions; p++)
      fs.rmSync(path.join(this.root, 'logs', `${name}-${p}`), { recursive: true, force: true });
    const logs = this.openTopic(name, partitions);
    this.meta.topics[name] = { partitions, createdAt: Date.now() };
    this.saveMeta();
    this.log.info({ topic: name, partitions }, 'topic created');
    return logs;
  }

  deleteTopic(name: string): boolean {
    const logs = this.logs.get(name);
    if (!logs) return false;
    this.logs.delete(name);
    delete this.meta.topics[name];
    this.saveMeta();
    for (const l of logs) {
      l.close();
      fs.rmSync(l.dir, { recursive: true, force: true });
    }
    for (const topics of this.offsets.values()) topics.delete(name);
    this.appendOffsetsLine(`${JSON.stringify({ t: name, del: true })}\n`);
    this.log.info({ topic: name }, 'topic deleted');
    return true;
  }

  allocateProducerId(): number {
    const id = this.meta.nextProducerId++;
    this.saveMeta();
    return id;
  }

  commitOffset(group: string, topic: string, partition: number, c: CommittedOffset): void {
    // kafkajs re-commits unchanged offsets (one commit per partition batch); the
    // caller still waits for the offsets file, which covers the earlier write.
    const cur = this.offsets.get(group)?.get(topic)?.get(partition);
    if (cur && cur.offset === c.offset && cur.metadata === c.metadata) return;
    this.setOffset(group, topic, partition, c);
    this.appendOffsetsLine(`${JSON.stringify({ g: group, t: topic, p: partition, o: c.offset, m: c.metadata })}\n`);
  }

  committed(group: string): Map<string, Map<number, CommittedOffset>> | undefined {
    return this.offsets.get(group);
  }

  groupsWithOffsets(): string[] {
    return [...this.offsets.keys()];
  }

  applyRetention(now: number): number {
    let n = 0;
    for (const logs of this.logs.values()) for (const l of logs) n += l.applyRetention(now);
    return n;
  }

  async close(): Promise<void> {
    await this.flusher.close();
    for (const logs of this.logs.values()) for (const l of logs) l.close();
    this.flusher.syncNow(this.offsetsFd);
    fs.closeSync(this.offsetsFd);
  }
}

interface GroupsFile {
  version: 1;
  groups: Array<
    Omit<GroupRecord, 'members'> & {
      members: Array<
        Omit<GroupRecord['members'][number], 'protocols' | 'assignment'> & {
          protocols: Array<{ name: string; metadata: string }>;
          assignment: string;
        }
      >;
    }
  >;
}

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}
function isNullableStr(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}
function isInt(v: unknown): v is number {
  return Number.isInteger(v);
}

/** Parses and checks groups.json; throws on anything that is not exactly what writeGroups produces. */
function parseGroups(text: string): GroupRecord[] {
  const file = JSON.parse(text) as Partial<GroupsFile>;
  if (file.version !== 1 || !Array.isArray(file.groups)) throw new Error('groups.json: unknown layout');
  return file.groups.map((g) => {
    if (
      !isStr(g.id) ||
      !isInt(g.generation) ||
      !isNullableStr(g.protocolType) ||
      !isNullableStr(g.protocol) ||
      !isNullableStr(g.leader) ||
      !Array.isArray(g.members)
    )
      throw new Error('groups.json: malformed group');
    return {
      id: g.id,
      generation: g.generation,
      protocolType: g.protocolType,
      protocol: g.protocol,
      leader: g.leader,
      members: g.members.map((m) => {
        if (
          !isStr(m.id) ||
          !isNullableStr(m.groupInstanceId) ||
          !isStr(m.clientId) ||
          !isStr(m.clientHost) ||
          !isInt(m.sessionTimeoutMs) ||
          !isInt(m.rebalanceTimeoutMs) ||
          !isStr(m.assignment) ||
          !Array.isArray(m.protocols) ||
          !m.protocols.every((pr) => isStr(pr.name) && isStr(pr.metadata))
        )
          throw new Error(`groups.json: malformed member in group ${g.id}`);
        return {
          id: m.id,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          sessionTimeoutMs: m.sessionTimeoutMs,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          protocols: m.protocols.map((pr) => ({ name: pr.name, metadata: Buffer.from(pr.metadata, 'base64') })),
          assignment: Buffer.from(m.assignment, 'base64'),
        };
      }),
    };
  });
}
