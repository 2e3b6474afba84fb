import fs from 'node:fs';

// Group commit. A round starts as soon as anything is dirty and no round is
// running (deferred only to setImmediate, so every request read in the same
// event-loop turn joins it); whatever is written while a round's fdatasyncs
// are in flight waits for the next round, since those bytes may have landed
// after the fdatasync started. Each dirty file is synced once per round however
// many requests wrote to it. Callbacks registered with markDirty run when the
// bytes written before them are durable (partition logs advance their high
// watermark there), before any sync() waiter is resolved.
export class Flusher {
  private dirty = new Map<number, Array<() => void>>();
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private running = false;
  private scheduled = false;
  private closed = false;
  rounds = 0;

  markDirty(fd: number, onDurable?: () => void): void {
    let cbs = this.dirty.get(fd);
    if (!cbs) this.dirty.set(fd, (cbs = []));
    if (onDurable) cbs.push(onDurable);
    this.schedule();
  }

  /** Resolves once everything written before this call is on disk. */
  sync(): Promise<void> {
    if (this.dirty.size === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** A file is about to be closed: make sure it is synced and forgotten. */
  syncNow(fd: number): void {
    const cbs = this.dirty.get(fd);
    if (!cbs) return;
    fs.fdatasyncSync(fd);
    this.synced(fd);
  }

  /** The caller has just fdatasync'ed fd itself. */
  synced(fd: number): void {
    const cbs = this.dirty.get(fd);
    this.dirty.delete(fd);
    if (cbs) for (const cb of cbs) cb();
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.round();
    });
  }

  private async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (this.waiters.length > 0 || this.dirty.size > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const files = [...this.dirty];
      this.dirty.clear();
      this.rounds++;
      try {
        await Promise.all(
          files.map(
            ([fd]) =>
              new Promise<void>((res, rej) =>
                fs.fdatasync(fd, (err) => {
                  // EBADF: the file was closed (segment deleted/rolled and synced) meanwhile.
                  if (err && err.code !== 'EBADF') rej(err);
                  else res();
                }),
              ),
          ),
        );
        for (const [, cbs] of files) for (const cb of cbs) cb();
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e as Error);
      }
    }
    this.running = false;
  }

  private closing?: Promise<void>;

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.dirty.size > 0 || this.running) await this.sync();
      this.closed = true;
    })();
    return this.closing;
  }
}
