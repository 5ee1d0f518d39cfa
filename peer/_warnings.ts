/**
 * Warnings that a flood could repeat (dropped datagrams, refused
 * connections), limited to a few a second: the rest go to the debug log.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Clock } from "../shell/clock.ts";

/** Logs at most `perSecond` warnings a second, the rest at debug level. */
export class LimitedWarnings {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #perSecond: number;
  #second = 0;
  #count = 0;

  constructor(log: Logger, options: { clock: Clock; perSecond?: number }) {
    this.#log = log;
    this.#clock = options.clock;
    this.#perSecond = options.perSecond ?? 1;
  }

  /** Logs `text` (with its `{placeholders}` filled from `fields`). */
  warn(text: string, fields: Record<string, unknown> = {}): void {
    const second = Math.floor(this.#clock.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#count = 0;
    }
    if (++this.#count <= this.#perSecond) this.#log.warning(text, fields);
    else this.#log.debug(text, fields);
  }
}
