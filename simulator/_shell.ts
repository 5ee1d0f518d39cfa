/**
 * What the simulated shells (`market_shell.ts`, `agent_shell.ts`) need from
 * the run that holds them: its clock, and its bookkeeping of what a
 * machine's effects did (the trace, the card audit, the replies that claim
 * a stored state).
 *
 * @module
 */
import type { Action } from "./_effects.ts";

/** One scheduled step of the run, with its line in the trace. */
export interface Task {
  readonly label: string;
  readonly run: () => void;
}

/** Why a shell stopped, and how it starts again. */
export interface Stop {
  readonly reason: string;
  /** Whether the store could not be read at start (otherwise the commit queue gave up). */
  readonly atStart?: boolean;
  readonly restart: () => void;
}

/** The run, as a simulated shell sees it. */
export interface ShellHost {
  /** The current virtual time. */
  now(): number;
  /** Runs `run` at virtual time `at`. */
  at(at: number, label: string, run: () => void): void;
  /** Runs `run` `delay` ms from now. */
  later(delay: number, label: string, run: () => void): void;
  /**
   * Audits what one event's actions hold (card numbers may be in none),
   * when the shell hands its writes to the store.
   */
  audit(who: string, actions: readonly Action[]): void;
  /**
   * Does what one event's actions ask besides the writes, once they are
   * stored: `rest` for each other action in order.
   *
   * @param batch The shell's number of the event's batch of writes.
   */
  perform(
    who: string,
    actions: readonly Action[],
    batch: number,
    rest: (action: Action) => void,
  ): void;
  /**
   * The shell stopped (its store failed for too long, or could not be
   * read at start): the run's supervisor calls `restart` a while later.
   */
  stopped(who: string, stop: Stop): void;
  /** A line for the trace. */
  note(line: string): void;
  /**
   * Runs `run` from a promise's continuation: a rule it finds broken fails
   * the run at its step, not as an unhandled rejection.
   */
  resume(run: () => void): void;
}
