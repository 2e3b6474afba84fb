import net from 'node:net';
import path from 'node:path';
import { apiVersions } from './api/apiVersions.ts';
import { API_BY_KEY, APIS } from './api/index.ts';
import { produce } from './api/produce.ts';
import type { ApiDef, RequestContext } from './api/types.ts';
import { ProtocolError, Reader } from './codec/reader.ts';
import { Writer } from './codec/writer.ts';
import { ErrorCode } from './errors.ts';
import { Coordinator } from './group/coordinator.ts';
import { type BrokerMetrics, noMetrics } from './metrics.ts';
import { Flusher } from './storage/flusher.ts';
import type { Logger, PartitionLog, Visibility } from './storage/log.ts';
import { Store } from './storage/store.ts';

export interface BrokerConfig {
  dataDir: string;
  advertisedHost: string;
  autoCreateTopics: boolean;
  numPartitions: number;
  maxFrameBytes: number;
  maxMessageBytes: number;
  segmentBytes: number;
  visibility: Visibility;
  retentionBytes: number;
  retentionMs: number;
  retentionCheckIntervalMs: number;
  initialRebalanceDelayMs: number;
}

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;

export class Broker {
  readonly cfg: BrokerConfig;
  readonly log: Logger;
  readonly flusher = new Flusher();
  readonly store: Store;
  readonly groups: Coordinator;
  metrics: BrokerMetrics = noMetrics;
  port = 0;
  closing = false;
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  private wakers = new Set<() => void>();
  private retentionTimer: NodeJS.Timeout;

  constructor(cfg: BrokerConfig, log: Logger) {
    this.cfg = cfg;
    this.log = log;
    this.store = new Store(
      path.join(cfg.dataDir, 'kafka'),
      {
        visibility: cfg.visibility,
        segmentBytes: cfg.segmentBytes,
        indexIntervalBytes: 4096,
        retentionBytes: cfg.retentionBytes,
        retentionMs: cfg.retentionMs,
      },
      this.flusher,
      log,
    );
    this.groups = new Coordinator(
      {
        initialRebalanceDelayMs: cfg.initialRebalanceDelayMs,
        minSessionTimeoutMs: 100,
        maxSessionTimeoutMs: 30 * 60_000,
      },
      log,
    );
    this.groups.load(this.store.readGroups());
    this.groups.persist = (records) => this.store.writeGroups(records);
    this.server = net.createServer({ noDelay: true }, (s) => this.accept(s));
    this.retentionTimer = setInterval(() => this.runRetention(), cfg.retentionCheckIntervalMs);
    this.retentionTimer.unref();
  }

  get advertisedHost(): string {
    return this.cfg.advertisedHost;
  }
  get autoCreateTopics(): boolean {
    return this.cfg.autoCreateTopics;
  }
  get numPartitions(): number {
    return this.cfg.numPartitions;
  }
  get maxMessageBytes(): number {
    return this.cfg.maxMessageBytes;
  }
  get connectionCount(): number {
    return this.sockets.size;
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  supportedApis(): Array<{ apiKey: number; minVersion: number; maxVersion: number }> {
    return APIS.map((a) => ({ apiKey: a.key, minVersion: a.min, maxVersion: a.max }));
  }

  validTopicName(name: string): number {
    if (!name || name.length > 249 || name === '.' || name === '..' || !LEGAL_TOPIC.test(name))
      return ErrorCode.INVALID_TOPIC_EXCEPTION;
    return ErrorCode.NONE;
  }

  createTopic(name: string, partitions: number): PartitionLog[] {
    return this.store.createTopic(name, partitions);
  }

  deleteTopic(name: string): boolean {
    const ok = this.store.deleteTopic(name);
    if (ok) this.wakeAll();
    return ok;
  }

  /** Parks a long-poll fetch until one of the logs grows, the timeout passes, or the broker closes. */
  waitForData(logs: PartitionLog[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      const offs: Array<() => void> = [];
      const done = () => {
        clearTimeout(timer);
        for (const off of offs) off();
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const l of logs) offs.push(l.onAppend(done));
      this.wakers.add(done);
    });
  }

  private wakeAll(): void {
    for (const w of [...this.wakers]) w();
  }

  runRetention(now = Date.now()): number {
    try {
      const n = this.store.applyRetention(now);
      if (n > 0) this.log.info({ segments: n }, 'retention removed old segments');
      return n;
    } catch (e) {
      this.log.error({ err: e }, 'retention failed');
      return 0;
    }
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    new Connection(this, socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.retentionTimer);
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.wakeAll();
    for (const s of this.sockets) s.destroy();
    this.groups.close();
    await closed;
    await this.store.close();
  }
}

const MIN_FRAME = 10; // apiKey + apiVersion + correlationId + clientId length
const MAX_PIPELINED = 128;
const MAX_SCRATCH = 8 << 20;

class Connection {
  private b: Broker;
  private socket: net.Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private clientHost: string;
  private dead = false;
  private writeBlocked = false;
  private scratch: Buffer = Buffer.alloc(0);
  // Kafka answers strictly in request order on a connection (strict clients
  // match responses by position). Kafka gets there by muting the socket until
  // the current response is sent; we keep reading and handling so pipelined
  // produces share one fsync round and a heartbeat behind a long-poll fetch
  // still counts towards the session, and only hold back the *bytes*: each
  // request takes a slot here and slots are written out from the head.
  private pending: Slot[] = [];
  private paused = false;

  constructor(b: Broker, socket: net.Socket) {
    this.b = b;
    this.socket = socket;
    this.clientHost = `/${socket.remoteAddress ?? 'unknown'}`;
    socket.on('data', (c) => this.onData(c));
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.maybeResume();
    });
  }

  private kill(reason: string, err?: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.b.log.warn(
      { client: this.clientHost, reason, err: err instanceof Error ? err.message : err },
      'closing connection',
    );
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.b.metrics.bytesIn(chunk.length);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.dead || this.buffered < 4) return;
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks, 4);
      const size = head.readInt32BE(0);
      if (size < MIN_FRAME || size > this.b.cfg.maxFrameBytes) {
        this.kill(`invalid frame size ${size}`);
        return;
      }
      if (this.buffered < 4 + size) return;
      const { frame, reused } = this.take(4 + size);
      this.dispatch(frame.subarray(4), reused);
    }
  }

  // Zero-copy when the frame lies in one socket chunk (the common case for small requests).
  // A frame spread over chunks (every large produce) is assembled in `scratch`,
  // reused for the next such frame: a fresh 1 MiB buffer per produce cost more in
  // page faults and GC than the copy itself. Only Produce may keep it (see dispatch).
  private take(n: number): { frame: Buffer; reused: boolean } {
    const first = this.chunks[0]!;
    let out: Buffer;
    let reused = false;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      if (n <= MAX_SCRATCH) {
        if (this.scratch.length < n)
          this.scratch = Buffer.allocUnsafe(Math.max(n, Math.min(2 * this.scratch.length, MAX_SCRATCH)));
        out = this.scratch.subarray(0, n);
        reused = true;
      } else out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, k);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return { frame: out, reused };
  }

  private dispatch(frame: Buffer, reused: boolean): void {
    const started = performance.now();
    const slot: Slot = { done: false, out: null };
    this.pending.push(slot);
    this.maybeResume();
    let api: ApiDef | undefined;
    let ctx: RequestContext;
    let req: unknown;
    try {
      const r = new Reader(frame);
      const apiKey = r.int16();
      const apiVersion = r.int16();
      const correlationId = r.int32();
      const clientId = r.nullableString() ?? '';
      ctx = { apiVersion, correlationId, clientId, clientHost: this.clientHost };
      api = API_BY_KEY.get(apiKey);
      if (!api || apiVersion < api.min || apiVersion > api.max) {
        if (apiKey === apiVersions.key) {
          // KIP-511: answer in v0 layout with the supported ranges so the client can downgrade.
          this.complete(slot, correlationId, apiVersions, 0, {
            errorCode: ErrorCode.UNSUPPORTED_VERSION,
            apiKeys: this.b.supportedApis(),
            throttleTimeMs: 0,
          });
          return;
        }
        this.kill(`unsupported api ${apiKey} v${apiVersion}`);
        return;
      }
      // Decoded requests hold views into the frame. Produce consumes its records
      // synchronously (validated and written before its first await), so it may
      // read from the reused buffer; other APIs keep bytes (group metadata,
      // assignments) and get their own copy.
      if (reused && api !== produce) {
        const own = Buffer.from(frame);
        req = api.request.read(new Reader(own, r.pos), apiVersion);
      } else req = api.request.read(r, apiVersion);
    } catch (e) {
      this.kill(e instanceof ProtocolError ? 'malformed request' : 'request decode failed', e);
      return;
    }
    const a = api;
    const c = ctx;
    let result: unknown;
    try {
      result = a.handle(this.b, req, c);
    } catch (e) {
      this.failed(a, e);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (res) => this.finish(slot, a, c, res, started),
        (e) => this.failed(a, e),
      );
    } else {
      this.finish(slot, a, c, result, started);
    }
  }

  private failed(api: ApiDef, e: unknown): void {
    this.b.log.error({ err: e, api: api.name }, 'request handler failed');
    this.kill('handler error');
  }

  private finish(slot: Slot, api: ApiDef, ctx: RequestContext, res: unknown, started: number): void {
    this.b.metrics.request(api.name, (performance.now() - started) / 1000);
    if (this.dead) return;
    if (res === null) {
      // acks=0: nothing to send, but the slot must still clear or it would block later responses.
      slot.done = true;
      this.flush();
      return;
    }
    this.complete(slot, ctx.correlationId, api, ctx.apiVersion, res);
  }

  // Encodes now (the response reflects state at completion), writes when every earlier slot has.
  private complete(slot: Slot, correlationId: number, api: ApiDef, version: number, res: unknown): void {
    const w = new Writer();
    w.int32(correlationId);
    api.response.write(w, res, version);
    const chunks = w.finish();
    const size = Buffer.allocUnsafe(4);
    size.writeInt32BE(w.length, 0);
    chunks.unshift(size);
    slot.out = chunks;
    slot.bytes = 4 + w.length;
    slot.done = true;
    this.flush();
  }

  private flush(): void {
    if (this.dead || !this.pending[0]?.done) return;
    this.socket.cork();
    let ok = true;
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.done) {
      const slot = this.pending[n++]!;
      if (!slot.out) continue;
      for (const c of slot.out) ok = this.socket.write(c);
      this.b.metrics.bytesOut(slot.bytes ?? 0);
    }
    this.pending.splice(0, n);
    this.socket.uncork();
    if (!ok) this.writeBlocked = true;
    this.maybeResume();
  }

  // Bounds memory per connection: a client that pipelines without limit, or
  // stops reading its responses, stops being read.
  private maybeResume(): void {
    const want = !this.writeBlocked && this.pending.length < MAX_PIPELINED;
    if (want && this.paused) {
      this.paused = false;
      this.socket.resume();
    } else if (!want && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }
}

interface Slot {
  done: boolean;
  out: Buffer[] | null;
  bytes?: number;
}
