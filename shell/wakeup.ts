/**
 * The one timer a shell keeps for its machine: armed for the machine's
 * next deadline after every event, and firing a `tick` then. Both shells
 * (server and peer) use it, so a deadline is never armed twice or missed.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/** A timer that follows a machine's next deadline. */
export class Wakeup implements Disposable {
  readonly #clock: Clock;
  readonly #onWake: (at: number) => void;
  #handle: TimerHandle | undefined;
  #at: number | undefined;
  #disposed = false;

  /**
   * @param onWake Called with the clock's time when the deadline comes.
   * @param options.clock The clock to read and set timers on.
   */
  constructor(onWake: (at: number) => void, options: { clock?: Clock } = {}) {
    this.#onWake = onWake;
    this.#clock = options.clock ?? systemClock;
  }

  /** The deadline the timer is set for, if any. */
  get armedFor(): number | undefined {
    return this.#at;
  }

  /**
   * Sets the timer for `deadline` (a time on the clock), replacing the one
   * set before; `undefined` clears it. Arming the same deadline again
   * changes nothing.
   */
  arm(deadline: number | undefined): void {
    if (this.#disposed || deadline === this.#at) return;
    this.#clock.clear(this.#handle);
    this.#handle = undefined;
    this.#at = deadline;
    if (deadline === undefined) return;
    this.#handle = this.#clock.set(() => {
      this.#handle = undefined;
      this.#at = undefined;
      this.#onWake(this.#clock.now());
    }, deadline - this.#clock.now());
  }

  /** Clears the timer; it never fires again. */
  [Symbol.dispose](): void {
    this.arm(undefined);
    this.#disposed = true;
  }
}
