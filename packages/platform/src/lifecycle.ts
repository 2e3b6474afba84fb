import type { Logger } from './logger.ts';

type Task = { name: string; run: () => Promise<void> | void };

/**
 * Ordered, run-once shutdown. Tasks registered first (the dependencies) close last; readiness flips the
 * moment shutdown starts, so load balancers stop sending traffic before servers drain.
 */
export class Lifecycle {
  readonly #tasks: Task[] = [];
  readonly #logger: Logger;
  #stopping: Promise<void> | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Registers cleanup, run at stop in reverse registration order. */
  onStop(name: string, run: Task['run']): void {
    this.#tasks.push({ name, run });
  }

  stop(reason = 'stop'): Promise<void> {
    this.#stopping ??= (async () => {
      this.#logger.info({ reason }, 'shutting down');
      for (const task of [...this.#tasks].reverse()) {
        try {
          await task.run();
        } catch (err) {
          this.#logger.error({ err, task: task.name }, 'shutdown task failed');
        }
      }
      this.#logger.info('stopped');
    })();
    return this.#stopping;
  }

  /**
   * SIGINT/SIGTERM stop gracefully within `timeoutMs`; a second signal or the timeout exits at once. An
   * uncaught exception still runs cleanup but exits non-zero: a crash must never look like a clean stop.
   */
  installSignalHandlers(options: { timeoutMs?: number } = {}): void {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const exit = (code: number, reason: string) => {
      if (this.stopping) {
        this.#logger.warn({ reason }, 'forced exit');
        process.exit(code || 1);
      }
      const timer = setTimeout(() => {
        this.#logger.error({ timeoutMs }, 'shutdown timed out');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      void this.stop(reason).then(() => process.exit(code));
    };
    process.on('SIGINT', () => exit(0, 'SIGINT'));
    process.on('SIGTERM', () => exit(0, 'SIGTERM'));
    process.on('uncaughtException', (err) => {
      this.#logger.fatal({ err }, 'uncaught exception');
      exit(1, 'uncaughtException');
    });
    process.on('unhandledRejection', (err) => {
      this.#logger.fatal({ err }, 'unhandled rejection');
      exit(1, 'unhandledRejection');
    });
  }
}

/**
 * Stops independent parts together rather than one after the other (each may wait seconds, e.g. a consumer
 * waiting out its fetch); returns once every one has stopped, then throws the first failure, if any.
 */
export async function stopTogether(parts: readonly { stop(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(parts.map((part) => part.stop()));
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
