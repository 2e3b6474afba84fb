import fs from 'node:fs';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a round may fail with nobody waiting on it
  return { promise, resolve, reject };
}

interface FileState {
  dirty: boolean; // written since the in-flight round (if any) started
  onDurable: Array<() => void>;
  inflight: Promise<void> | null; // the running fdatasync covers everything written before it started
  next: Deferred | null;
  running: boolean;
}

// Group commit, per file. A file's round starts as soon as it is dirty and no
// round of its own is running (deferred only to setImmediate, so everything
// read in the same event-loop turn joins it); bytes written while its
// fdatasync is in flight wait for its next round, since they may have landed
// after that fdatasync started. Files never wait for each other: an offset
// commit does not queue behind a partition's fsync, nor partition 0 behind
// partition 1. Callbacks given to markDirty run once the bytes written before
// them are durable (partition logs advance their high watermark there), before
// sync() waiters are resolved.
export class Flusher {
  private files = new Map<number, FileState>();
  private toStart = new Set<number>();
  private scheduled = false;
  private closed = false;
  rounds = 0;

  markDirty(fd: number, onDurable?: () => void): void {
    let st = this.files.get(fd);
    if (!st) {
      st = { dirty: false, onDurable: [], inflight: null, next: null, running: false };
      this.files.set(fd, st);
    }
    st.dirty = true;
    if (onDurable) st.onDurable.push(onDurable);
    this.schedule(fd);
  }

  /**
   * Resolves once everything written before this call to `fds` (default: every
   * file) is on disk. Requests pass the files they wrote, so an offset commit
   * does not wait for partition fsyncs or one partition for another.
   */
  sync(fds?: Iterable<number>): Promise<void> {
    const waits: Promise<void>[] = [];
    const entries = fds
      ? [...new Set(fds)].map((fd): [number, FileState | undefined] => [fd, this.files.get(fd)])
      : [...this.files];
    for (const [fd, st] of entries) {
      if (!st) continue;
      if (st.dirty) {
        st.next ??= deferred();
        waits.push(st.next.promise);
        this.schedule(fd);
      } else if (st.inflight) waits.push(st.inflight);
    }
    if (waits.length === 0) return Promise.resolve();
    return Promise.all(waits).then(() => undefined);
  }

  /** A file is about to be closed: make sure it is synced and forgotten. */
  syncNow(fd: number): void {
    if (!this.files.get(fd)?.dirty) return;
    fs.fdatasyncSync(fd);
    this.synced(fd);
  }

  /** The caller has just fdatasync'ed fd itself. */
  synced(fd: number): void {
    const st = this.files.get(fd);
    if (!st) return;
    st.dirty = false;
    const cbs = st.onDurable;
    st.onDurable = [];
    for (const cb of cbs) cb();
    st.next?.resolve();
    st.next = null;
    if (!st.running) this.files.delete(fd);
  }

  private schedule(fd: number): void {
    if (this.closed) return;
    this.toStart.add(fd);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const fds = [...this.toStart];
      this.toStart.clear();
      for (const f of fds) void this.round(f);
    });
  }

  private async round(fd: number): Promise<void> {
    const st = this.files.get(fd);
    if (!st || st.running) return;
    st.running = true;
    while (st.dirty) {
      st.dirty = false;
      const cbs = st.onDurable;
      st.onDurable = [];
      const d = st.next ?? deferred();
      st.next = null;
      st.inflight = d.promise;
      this.rounds++;
      try {
        await new Promise<void>((res, rej) =>
          fs.fdatasync(fd, (err) => {
            // EBADF: the file was closed (segment deleted/rolled and synced) meanwhile.
            if (err && err.code !== 'EBADF') rej(err);
            else res();
          }),
        );
        for (const cb of cbs) cb();
        d.resolve();
      } catch (e) {
        d.reject(e as Error);
      }
      st.inflight = null;
    }
    st.running = false;
    if (!st.dirty && this.files.get(fd) === st) this.files.delete(fd);
  }

  private closing?: Promise<void>;

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.sync();
      this.closed = true;
    })();
    return this.closing;
  }
}
