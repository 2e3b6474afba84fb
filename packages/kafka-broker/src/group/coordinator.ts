import crypto from 'node:crypto';
import { ErrorCode } from '../errors.ts';
import type { Logger } from '../storage/log.ts';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface JoinRequest {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: Array<{ name: string; metadata: Buffer }>;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>;
}

export interface SyncResult {
  errorCode: number;
  assignment: Buffer;
}

interface Member {
  id: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Array<{ name: string; metadata: Buffer }>;
  assignment: Buffer;
  joinCb: ((r: JoinResult) => void) | undefined;
  syncCb: ((r: SyncResult) => void) | undefined;
  lastSeen: number;
}

interface Group {
  id: string;
  state: GroupState;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  members: Map<string, Member>;
  // Member ids handed out with MEMBER_ID_REQUIRED, valid until they join or time out.
  pending: Map<string, number>;
  rebalanceTimer: NodeJS.Timeout | undefined;
  initialDelayUntil: number;
}

/**
 * What survives a restart of one group, as Kafka writes it to __consumer_offsets: the last generation whose
 * assignment the leader handed out (or the generation at which the group became empty). A rebalance in
 * flight is not recorded; after a restart its members get ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID and rejoin.
 */
export interface GroupRecord {
  id: string;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  members: MemberRecord[];
}

export interface MemberRecord {
  id: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Array<{ name: string; metadata: Buffer }>;
  assignment: Buffer;
}

export interface CoordinatorOptions {
  /** Like group.initial.rebalance.delay.ms: lets a burst of first joiners land in one generation. */
  initialRebalanceDelayMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The classic (pre-KIP-848) group membership protocol: JoinGroup collects
 * every member, the leader computes assignments, SyncGroup hands them out,
 * heartbeats keep sessions alive and learn about pending rebalances.
 */
export class Coordinator {
  private groups = new Map<string, Group>();
  private opts: CoordinatorOptions;
  private log: Logger;
  private ticker: NodeJS.Timeout;
  // The persisted view of every group; a group's entry changes only when it becomes Stable or Empty.
  private records = new Map<string, GroupRecord>();
  onMembershipChange: () => void = () => {};
  /** Writes every group's record durably; called synchronously before the change is acknowledged to anyone. */
  persist: (records: GroupRecord[]) => void = () => {};

  constructor(opts: CoordinatorOptions, log: Logger) {
    this.opts = opts;
    this.log = log;
    this.ticker = setInterval(() => this.expire(Date.now()), 100);
    this.ticker.unref();
  }

  memberCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.size;
    return n;
  }

  /**
   * Restores groups from their records, as Kafka's coordinator does from its log: a group with members is
   * Stable in its recorded generation, each member with its assignment and a fresh session deadline from
   * now (a member that does not come back expires and its partitions move at the next rebalance).
   */
  load(records: GroupRecord[]): void {
    const now = Date.now();
    for (const r of records) {
      const g = this.group(r.id, true)!;
      g.generation = r.generation;
      g.protocolType = r.protocolType;
      g.protocol = r.members.length > 0 ? r.protocol : null;
      g.leader = r.members.length > 0 ? r.leader : null;
      g.state = r.members.length > 0 ? 'Stable' : 'Empty';
      for (const m of r.members) g.members.set(m.id, { ...m, joinCb: undefined, syncCb: undefined, lastSeen: now });
      this.records.set(r.id, r);
      this.log.info({ group: r.id, generation: r.generation, members: r.members.length }, 'group loaded');
    }
    this.onMembershipChange();
  }

  /**
   * Writes the group's current view with every other group's last one. The in-memory record changes only
   * once the write succeeded, so a failed write never leaks into a later snapshot half-applied.
   */
  private record(g: Group): boolean {
    const rec: GroupRecord = {
      id: g.id,
      generation: g.generation,
      protocolType: g.protocolType,
      protocol: g.protocol,
      leader: g.leader,
      members: [...g.members.values()].map((m) => ({
        id: m.id,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocols: m.protocols,
        assignment: m.assignment,
      })),
    };
    const next = new Map(this.records);
    next.set(g.id, rec);
    try {
      this.persist([...next.values()]);
    } catch (e) {
      this.log.error({ err: e, group: g.id }, 'could not persist group metadata');
      return false;
    }
    this.records = next;
    return true;
  }

  private group(id: string, create: boolean): Group | undefined {
    let g = this.groups.get(id);
    if (!g && create) {
      g = {
        id,
        state: 'Empty',
        generation: 0,
        protocolType: null,
        protocol: null,
        leader: null,
        members: new Map(),
        pending: new Map(),
        rebalanceTimer: undefined,
        initialDelayUntil: 0,
      };
      this.groups.set(id, g);
    }
    return g;
  }

  private fail(errorCode: number, memberId = ''): JoinResult {
    return { errorCode, generationId: -1, protocolName: '', leader: '', memberId, members: [] };
  }

  join(req: JoinRequest, clientId: string, clientHost: string, version: number): Promise<JoinResult> | JoinResult {
    if (!req.groupId) return this.fail(ErrorCode.INVALID_GROUP_ID);
    if (req.sessionTimeoutMs < this.opts.minSessionTimeoutMs || req.sessionTimeoutMs > this.opts.maxSessionTimeoutMs)
      return this.fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    const g = this.group(req.groupId, true)!;
    if (g.members.size > 0) {
      const common = this.commonProtocols(g, req.protocols);
      if (req.protocolType !== g.protocolType || common.length === 0)
        return this.fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    const now = Date.now();
    let id = req.memberId;
    if (id === '') {
      id = `${clientId || 'member'}-${crypto.randomUUID()}`;
      if (version >= 4) {
        // KIP-394: hand out the id first so a client that dies mid-join leaves no ghost member.
        g.pending.set(id, now + req.sessionTimeoutMs);
        return this.fail(ErrorCode.MEMBER_ID_REQUIRED, id);
      }
    } else if (!g.members.has(id) && !g.pending.has(id)) {
      return this.fail(ErrorCode.UNKNOWN_MEMBER_ID, id);
    }
    g.pending.delete(id);
    let m = g.members.get(id);
    if (!m) {
      m = {
        id,
        groupInstanceId: req.groupInstanceId,
        clientId,
        clientHost,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        protocols: req.protocols,
        assignment: EMPTY,
        joinCb: undefined,
        syncCb: undefined,
        lastSeen: now,
      };
      g.members.set(id, m);
      this.onMembershipChange();
    }
    m.sessionTimeoutMs = req.sessionTimeoutMs;
    m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    m.protocols = req.protocols;
    m.lastSeen = now;
    g.protocolType = req.protocolType;
    const member = m;
    const p = new Promise<JoinResult>((resolve) => {
      // A duplicate join (client retried) supersedes the earlier one.
      member.joinCb?.(this.fail(ErrorCode.REBALANCE_IN_PROGRESS, id));
      member.joinCb = resolve;
    });
    if (g.state === 'PreparingRebalance') {
      if (g.initialDelayUntil > now)
        this.armTimer(g, Math.min(this.opts.initialRebalanceDelayMs, g.initialDelayUntil - now));
      this.maybeCompleteJoin(g);
    } else {
      this.prepareRebalance(g, `member ${id} joining`);
    }
    return p;
  }

  private commonProtocols(g: Group, extra?: Array<{ name: string }>): string[] {
    let names: string[] | null = extra ? extra.map((p) => p.name) : null;
    for (const m of g.members.values()) {
      const mine = new Set(m.protocols.map((p) => p.name));
      names = names === null ? [...mine] : names.filter((n) => mine.has(n));
    }
    return names ?? [];
  }

  private selectProtocol(g: Group): string {
    const candidates = new Set(this.commonProtocols(g));
    const votes = new Map<string, number>();
    for (const m of g.members.values()) {
      const pick = m.protocols.find((p) => candidates.has(p.name));
      if (pick) votes.set(pick.name, (votes.get(pick.name) ?? 0) + 1);
    }
    let best = '';
    let bestVotes = -1;
    for (const [name, n] of votes)
      if (n > bestVotes) {
        best = name;
        bestVotes = n;
      }
    return best;
  }

  private armTimer(g: Group, ms: number): void {
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = setTimeout(
      () => {
        g.rebalanceTimer = undefined;
        this.onRebalanceTimer(g);
      },
      Math.max(0, ms),
    );
    g.rebalanceTimer.unref();
  }

  private prepareRebalance(g: Group, reason: string): void {
    if (g.state === 'CompletingRebalance') {
      for (const m of g.members.values()) {
        m.syncCb?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
        m.syncCb = undefined;
      }
    }
    const wasEmpty = g.state === 'Empty';
    g.state = 'PreparingRebalance';
    this.log.debug({ group: g.id, reason, generation: g.generation }, 'preparing rebalance');
    let maxRebalance = 0;
    for (const m of g.members.values()) maxRebalance = Math.max(maxRebalance, m.rebalanceTimeoutMs);
    if (wasEmpty && this.opts.initialRebalanceDelayMs > 0) {
      g.initialDelayUntil =
        Date.now() +
        Math.max(this.opts.initialRebalanceDelayMs, Math.min(maxRebalance, this.opts.initialRebalanceDelayMs * 3));
      this.armTimer(g, this.opts.initialRebalanceDelayMs);
      return;
    }
    g.initialDelayUntil = 0;
    this.armTimer(g, maxRebalance);
    this.maybeCompleteJoin(g);
  }

  private onRebalanceTimer(g: Group): void {
    if (g.state !== 'PreparingRebalance') return;
    if (g.initialDelayUntil > 0) {
      g.initialDelayUntil = 0;
      let maxRebalance = 0;
      for (const m of g.members.values()) maxRebalance = Math.max(maxRebalance, m.rebalanceTimeoutMs);
      if (this.allJoined(g)) this.completeJoin(g);
      else this.armTimer(g, maxRebalance);
      return;
    }
    // Rebalance timeout: whoever has not rejoined is out.
    this.completeJoin(g);
  }

  private allJoined(g: Group): boolean {
    if (g.pending.size > 0) return false;
    for (const m of g.members.values()) if (!m.joinCb) return false;
    return true;
  }

  private maybeCompleteJoin(g: Group): void {
    if (g.state !== 'PreparingRebalance' || g.initialDelayUntil > Date.now()) return;
    if (this.allJoined(g)) this.completeJoin(g);
  }

  private completeJoin(g: Group): void {
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = undefined;
    g.initialDelayUntil = 0;
    for (const m of [...g.members.values()]) {
      if (!m.joinCb) {
        this.log.info({ group: g.id, member: m.id }, 'member did not rejoin in time; removed');
        g.members.delete(m.id);
        m.syncCb?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
        m.syncCb = undefined;
      }
    }
    g.pending.clear();
    g.generation++;
    this.onMembershipChange();
    if (g.members.size === 0) {
      g.state = 'Empty';
      g.protocol = null;
      g.leader = null;
      // Like Kafka: the empty group's generation is written, so a restart does not bring its last members back.
      this.record(g);
      return;
    }
    g.protocol = this.selectProtocol(g);
    if (!g.leader || !g.members.has(g.leader)) g.leader = g.members.keys().next().value!;
    g.state = 'CompletingRebalance';
    const now = Date.now();
    const all = [...g.members.values()].map((m) => ({
      memberId: m.id,
      groupInstanceId: m.groupInstanceId,
      metadata: m.protocols.find((p) => p.name === g.protocol)?.metadata ?? EMPTY,
    }));
    this.log.info(
      { group: g.id, generation: g.generation, members: g.members.size, leader: g.leader, protocol: g.protocol },
      'group rebalanced',
    );
    for (const m of g.members.values()) {
      const cb = m.joinCb!;
      m.joinCb = undefined;
      m.lastSeen = now;
      m.assignment = EMPTY;
      cb({
        errorCode: ErrorCode.NONE,
        generationId: g.generation,
        protocolName: g.protocol,
        leader: g.leader,
        memberId: m.id,
        members: m.id === g.leader ? all : [],
      });
    }
  }

  sync(
    groupId: string,
    generation: number,
    memberId: string,
    assignments: Array<{ memberId: string; assignment: Buffer }>,
  ): Promise<SyncResult> | SyncResult {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (!g || !m) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY };
    if (generation !== g.generation) return { errorCode: ErrorCode.ILLEGAL_GENERATION, assignment: EMPTY };
    m.lastSeen = Date.now();
    if (g.state === 'PreparingRebalance') return { errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY };
    if (g.state === 'Stable') return { errorCode: ErrorCode.NONE, assignment: m.assignment };
    if (g.state !== 'CompletingRebalance') return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY };
    const p = new Promise<SyncResult>((resolve) => {
      m.syncCb?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
      m.syncCb = resolve;
    });
    if (memberId === g.leader) {
      const byId = new Map(assignments.map((a) => [a.memberId, a.assignment]));
      for (const mm of g.members.values()) mm.assignment = byId.get(mm.id) ?? EMPTY;
      // Kafka stores the group before anyone receives an assignment, so a restart never forgets a
      // generation a member has started consuming in. A failed write sends everyone back to JoinGroup.
      if (!this.record(g)) {
        for (const mm of g.members.values()) mm.assignment = EMPTY;
        this.prepareRebalance(g, 'group metadata write failed');
        return p;
      }
      g.state = 'Stable';
      const now = Date.now();
      for (const mm of g.members.values()) {
        if (mm.syncCb) mm.lastSeen = now;
        mm.syncCb?.({ errorCode: ErrorCode.NONE, assignment: mm.assignment });
        mm.syncCb = undefined;
      }
    }
    return p;
  }

  heartbeat(groupId: string, generation: number, memberId: string): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    // Kafka's order: unknown member, then stale generation, then the state.
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generation !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    m.lastSeen = Date.now();
    if (g.state === 'PreparingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  /**
   * One member's LeaveGroup outcome (the per-member code of v3; v0–v2 answer it at the top level). A member
   * id handed out with MEMBER_ID_REQUIRED but not yet joined leaves cleanly, as on Kafka.
   */
  leave(groupId: string, memberId: string): number {
    const g = this.groups.get(groupId);
    if (g?.pending.delete(memberId)) {
      this.maybeCompleteJoin(g);
      return ErrorCode.NONE;
    }
    const m = g?.members.get(memberId);
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.removeMember(g, m, 'left group');
    return ErrorCode.NONE;
  }

  /**
   * Kafka's rules for OffsetCommit (GroupCoordinator.handleCommitOffsets). `hasOffsets`: the group exists
   * for Kafka through its committed offsets alone (an Empty group), e.g. after simple commits.
   */
  validateCommit(groupId: string, generation: number, memberId: string, hasOffsets: boolean): number {
    if (!groupId) return ErrorCode.INVALID_GROUP_ID;
    const g = this.groups.get(groupId);
    if (!g && !hasOffsets) {
      // No such group: only an unmanaged commit (generation -1) may create it; anything else is from a
      // generation the coordinator does not know.
      return generation < 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION;
    }
    if (generation < 0 && (!g || g.state === 'Empty')) return ErrorCode.NONE;
    const m = g?.members.get(memberId);
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generation !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    if (g.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    m.lastSeen = Date.now();
    return ErrorCode.NONE;
  }

  private removeMember(g: Group, m: Member, reason: string): void {
    g.members.delete(m.id);
    this.log.info({ group: g.id, member: m.id, reason }, 'member removed');
    m.joinCb?.(this.fail(ErrorCode.UNKNOWN_MEMBER_ID, m.id));
    m.syncCb?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
    m.joinCb = undefined;
    m.syncCb = undefined;
    if (g.leader === m.id) g.leader = null;
    this.onMembershipChange();
    if (g.state === 'PreparingRebalance') this.maybeCompleteJoin(g);
    else if (g.state === 'Stable' || g.state === 'CompletingRebalance') this.prepareRebalance(g, reason);
  }

  private expire(now: number): void {
    for (const g of this.groups.values()) {
      for (const [id, until] of g.pending) if (until < now) g.pending.delete(id);
      for (const m of [...g.members.values()]) {
        // Members parked in a join or sync are alive by definition; the rebalance timeout covers them.
        if (m.joinCb || m.syncCb) continue;
        if (now - m.lastSeen > m.sessionTimeoutMs) this.removeMember(g, m, 'session timeout');
      }
      if (g.state === 'PreparingRebalance') this.maybeCompleteJoin(g);
    }
  }

  describe(groupId: string): {
    errorCode: number;
    groupId: string;
    groupState: string;
    protocolType: string;
    protocolData: string;
    members: Array<{
      memberId: string;
      groupInstanceId: string | null;
      clientId: string;
      clientHost: string;
      memberMetadata: Buffer;
      memberAssignment: Buffer;
    }>;
  } {
    const g = this.groups.get(groupId);
    if (!g)
      return {
        errorCode: ErrorCode.NONE,
        groupId,
        groupState: 'Dead',
        protocolType: '',
        protocolData: '',
        members: [],
      };
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: g.state,
      protocolType: g.protocolType ?? '',
      protocolData: g.state === 'Stable' ? (g.protocol ?? '') : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.id,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.protocols.find((p) => p.name === g.protocol)?.metadata ?? EMPTY,
        memberAssignment: m.assignment,
      })),
    };
  }

  list(): Array<{ groupId: string; protocolType: string }> {
    return [...this.groups.values()].map((g) => ({ groupId: g.id, protocolType: g.protocolType ?? '' }));
  }

  close(): void {
    clearInterval(this.ticker);
    for (const g of this.groups.values()) if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
  }
}
