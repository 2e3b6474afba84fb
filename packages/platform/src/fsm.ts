/**
 * A small finite-state machine: a transition table with guards, and one way to apply a transition. Pure
 * (`@mall/platform/fsm`), so a subgraph's `domain/` declares its table here and its service applies it with
 * the effects it owns (a conditional `UPDATE … WHERE status = <from>`, a history row, the outbox event).
 * The order subgraph is the first user; payment and flash sale reuse it.
 */
import { invalidState } from './errors.ts';

/** One row of the table: the command is allowed from any of `from`, leads to `to`, and may be refused by `guard`. */
export interface TransitionRule<S extends string, C> {
  readonly from: readonly S[];
  readonly to: S;
  /** Null to allow; else why not (the INVALID_STATE message). Pure: decide from `context` alone. */
  readonly guard?: (context: C) => string | null;
}

export type TransitionTable<S extends string, Cmd extends string, C> = { readonly [K in Cmd]: TransitionRule<S, C> };

/** A transition the table allows: from one state to another, by one command. */
export interface Step<S extends string, Cmd extends string> {
  readonly command: Cmd;
  readonly from: S;
  readonly to: S;
}

/** What applying a step does to the world, in the caller's transaction. */
export interface TransitionEffects<S extends string, Cmd extends string> {
  /** The conditional write: changes the state only while it still is `from`; false when it no longer was. */
  compareAndSet(from: S, to: S): Promise<boolean>;
  /** Runs only after `compareAndSet` won: the history row and the outbox event. */
  record(step: Step<S, Cmd>): Promise<void>;
}

export interface StateMachine<S extends string, Cmd extends string, C> {
  readonly name: string;
  readonly table: TransitionTable<S, Cmd, C>;
  /** Whether `command` is allowed from `state` by the table (guards not consulted). */
  can(command: Cmd, state: S): boolean;
  /** The step `command` takes from `state`, or INVALID_STATE (`extensions.status`, `command`) naming why not. */
  plan(command: Cmd, state: S, context: C): Step<S, Cmd>;
  /**
   * Plans, then applies with `effects`: the step when it happened; null when the state changed between the read
   * and the conditional write (another instance or request won), in which case nothing was recorded.
   */
  apply(command: Cmd, state: S, context: C, effects: TransitionEffects<S, Cmd>): Promise<Step<S, Cmd> | null>;
}

/** Declares a machine. `name` is the thing it governs, used in error messages: `'Order'`. */
export function defineStateMachine<S extends string, Cmd extends string, C = undefined>(
  name: string,
  table: TransitionTable<S, Cmd, C>,
): StateMachine<S, Cmd, C> {
  const rule = (command: Cmd): TransitionRule<S, C> => table[command];
  const machine: StateMachine<S, Cmd, C> = {
    name,
    table,
    can: (command, state) => rule(command).from.includes(state),
    plan(command, state, context) {
      const { from, to, guard } = rule(command);
      if (!from.includes(state))
        throw invalidState(`${name} is ${state}; ${command} needs ${from.join(' or ')}`, { status: state, command });
      const refusal = guard?.(context) ?? null;
      if (refusal !== null) throw invalidState(refusal, { status: state, command });
      return { command, from: state, to };
    },
    async apply(command, state, context, effects) {
      const step = machine.plan(command, state, context);
      if (!(await effects.compareAndSet(step.from, step.to))) return null;
      await effects.record(step);
      return step;
    },
  };
  return machine;
}
