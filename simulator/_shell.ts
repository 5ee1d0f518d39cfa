/**
 * What the simulated shells (`market_shell.ts`, `agent_shell.ts`) need from
 * the run that holds them: its clock, and its bookkeeping of what a
 * machine's effects did (records stored, the trace, the card audit).
 *
 * @module
 */
import type { Action } from "./_effects.ts";

/** One scheduled step of the run, with its line in the trace. */
export interface Task {
  readonly label: string;
  readonly run: () => void;
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
   * Does what one event's actions ask, as a shell would: the writes first,
   * all together, then `rest` for each other action in order.
   */
  perform(who: string, actions: readonly Action[], rest: (action: Action) => void): void;
}
