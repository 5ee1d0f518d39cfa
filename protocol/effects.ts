/**
 * The effect vocabulary both state machines (the server's `Market` and the
 * peer's `Agent`) return, so that one KV apply and one wake-up timer serve
 * both shells.
 *
 * A machine handles one event in one {@linkcode Turn}: the event's time and
 * a collector of what it asks the shell to do. Writes (`save`, `delete`)
 * come out first, so a datagram or a printed line never announces state
 * that a crash could lose: the shell commits the writes, then performs the
 * rest in order.
 *
 * @module
 */

/** The levels of a machine's log lines. */
export type LogLevel = "debug" | "info" | "warning";

/** A stored record and its key, as a machine's records union lists them. */
export interface KeyedRecord {
  readonly key: readonly Deno.KvKeyPart[];
  readonly value: unknown;
}

/** A durable write: store a record, or delete one by key. */
export type Write<R extends KeyedRecord> =
  | ({ readonly kind: "save" } & R)
  | { readonly kind: "delete"; readonly key: R["key"] };

/** A line for the log. */
export interface LogEffect {
  readonly kind: "log";
  readonly level: LogLevel;
  readonly text: string;
}

/** Whether an effect is a durable write. */
export function isWrite<E extends { readonly kind: string }>(
  effect: E,
): effect is Extract<E, { readonly kind: "save" | "delete" }> {
  return effect.kind === "save" || effect.kind === "delete";
}

/**
 * One event's handling: its time, and the effects it produces, writes
 * first.
 *
 * @example
 * ```ts
 * const turn = new Turn<Effect>(Date.now());
 * turn.emit({ kind: "send", to, message });
 * turn.emit({ kind: "save", key: ["peer", "alice"], value: record });
 * turn.effects(); // the save, then the send
 * ```
 */
export class Turn<E extends { readonly kind: string } = LogEffect> {
  /** When the event happened. */
  readonly at: number;
  readonly #writes: E[] = [];
  readonly #rest: E[] = [];

  constructor(at: number) {
    this.at = at;
  }

  /** Adds an effect: a write goes with the writes, anything else after them in order. */
  emit(effect: E): void {
    (isWrite(effect) ? this.#writes : this.#rest).push(effect);
  }

  /** Adds a log line (for machines whose effects include {@linkcode LogEffect}). */
  log(this: Turn<E & LogEffect> | Turn<E>, level: LogLevel, text: string): void {
    (this as Turn<E | LogEffect>).emit({ kind: "log", level, text });
  }

  /** How many writes this turn has made so far. */
  get writeCount(): number {
    return this.#writes.length;
  }

  /** Everything asked for: the writes, then the other effects in the order emitted. */
  effects(): E[] {
    return [...this.#writes, ...this.#rest];
  }
}
