import fs from 'node:fs';

// Group commit: every producer waiting for durability joins the next fsync
// round, and one round syncs each dirty file once, however many requests wrote
// to it. Requests arriving while a round is running wait for the following
// round, since their bytes may have been written after that fdatasync started.
export class Flusher {
  private dirty = new Set<number>();
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private running = false;
  private closed = false;
  rounds = 0;

  markDirty(fd: number): void {
    this.dirty.add(fd);
  }

  /** Resolves once everything written before this call is on disk. */
  sync(): Promise<void> {
    if (this.dirty.size === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) void this.round();
    });
  }

  /** A file is about to be closed: make sure it is synced and forgotten. */
  syncNow(fd: number): void {
    if (this.dirty.delete(fd)) fs.fdatasyncSync(fd);
  }

  forget(fd: number): void {
    this.dirty.delete(fd);
  }

  private async round(): Promise<void> {
    this.running = true;
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const fds = [...this.dirty];
      this.dirty.clear();
      this.rounds++;
      try {
        await Promise.all(
          fds.map(
            (fd) =>
              new Promise<void>((res, rej) =>
                fs.fdatasync(fd, (err) => {
                  // EBADF: the file was closed (segment deleted/rolled and synced) meanwhile.
                  if (err && err.code !== 'EBADF') rej(err);
                  else res();
                }),
              ),
          ),
        );
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e as Error);
      }
    }
    this.running = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.dirty.size > 0 || this.running) await this.sync();
  }
}
