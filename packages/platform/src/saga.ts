/**
 * Saga steps for a use case that spans services (checkout: reserve stock, then create the order; later payment
 * and flash sale): each step does its part and knows how to undo it. When a step fails, the steps that ran
 * are compensated in reverse order, and the failure is rethrown. Network I/O lives here, outside any
 * database transaction; each step's own writes are local transactions with their outbox events.
 */
/** The logging a saga does (a pino Logger fits). */
export interface SagaLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface SagaStep<C> {
  readonly name: string;
  /** Does the step's work; may read and extend what earlier steps left in `context`. */
  run(context: C): Promise<void>;
  /**
   * Reverses `run`. Called for a step that failed as well as for those that succeeded (a timed-out call may
   * have taken effect), so it must tolerate a step that never ran and be idempotent.
   */
  undo(context: C): Promise<void>;
}

/** Thrown when the saga failed and some undo failed too: the original cause, and what is left to repair. */
export class SagaCompensationError extends Error {
  override readonly name = 'SagaCompensationError';
  /** The step whose failure started the compensation. */
  readonly failedStep: string;
  /** Steps whose undo failed, in the order they were tried: what an operator must repair. */
  readonly uncompensated: readonly string[];
  constructor(failedStep: string, uncompensated: readonly string[], options: { cause: unknown }) {
    super(`saga step ${failedStep} failed and ${uncompensated.join(', ')} could not be undone`, options);
    this.failedStep = failedStep;
    this.uncompensated = uncompensated;
  }
}

/**
 * Runs `steps` in order on one `context`. When step k throws, undoes steps k, k-1, …, 0 (each undo's failure is
 * logged and the rest still run), then rethrows the step's error; if an undo failed, a SagaCompensationError
 * (its `cause` the step's error) so the caller can alert instead of answering as if all was rolled back.
 */
export async function runSaga<C>(
  steps: readonly SagaStep<C>[],
  context: C,
  options: { readonly logger: SagaLogger; readonly name?: string },
): Promise<C> {
  const saga = options.name ?? 'saga';
  let index = 0;
  try {
    for (; index < steps.length; index++) await (steps[index] as SagaStep<C>).run(context);
    return context;
  } catch (error) {
    const failed = (steps[index] as SagaStep<C>).name;
    options.logger.warn({ saga, step: failed, err: error }, 'saga step failed; compensating');
    const uncompensated: string[] = [];
    for (let i = index; i >= 0; i--) {
      const step = steps[i] as SagaStep<C>;
      try {
        await step.undo(context);
        options.logger.info({ saga, step: step.name }, 'saga step compensated');
      } catch (undoError) {
        uncompensated.push(step.name);
        options.logger.error({ saga, step: step.name, err: undoError }, 'saga compensation failed');
      }
    }
    if (uncompensated.length > 0) throw new SagaCompensationError(failed, uncompensated, { cause: error });
    throw error;
  }
}
