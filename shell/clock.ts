/**
 * The clock the shells read and set timers on. Production uses the
 * system's; tests and the simulator inject their own, so windows and
 * timeouts can be exercised without sleeping.
 *
 * @module
 */

/** Reads the time and sets one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` after `ms` milliseconds; returns a handle for {@linkcode Clock.clear}. */
  set(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired; unknown handles are ignored. */
  clear(handle: TimerHandle | undefined): void;
}

/** What {@linkcode Clock.set} returns: opaque to the caller. */
export type TimerHandle = unknown;

/** The longest delay `setTimeout` takes (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The system clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  set: (callback, ms) => setTimeout(callback, Math.min(Math.max(ms, 0), MAX_TIMER_MS)),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};
