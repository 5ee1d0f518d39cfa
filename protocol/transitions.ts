/**
 * Transition tables that run: a machine's states, the states each may
 * move to, and the check every change of state goes through. The server's
 * search, the buyer's request and the seller's item each have one table
 * (`server/request_states.ts`, `peer/agent/request_states.ts`,
 * `peer/agent/item_states.ts`); docs/architecture.md draws them and
 * tests/docs_test.ts holds the drawings to the tables.
 *
 * A move the table does not list is a bug: in tests and in the simulator
 * (`strict`) it throws, so the run that found it fails; in production the
 * change is refused and a warning logged, so a stored record never takes a
 * shape the rest of the code does not expect.
 *
 * A leaf module: it knows no machine.
 *
 * @module
 */

/** The states each state may move to. */
export type TransitionTable<S extends string> = { readonly [K in S]: readonly S[] };

/** How a machine treats a move its table does not list. */
export interface MoveGuard {
  /** Throw (tests, the simulator) rather than refuse and log (production). */
  readonly strict: boolean;
  /** Logs the refusal of a move, in production. */
  readonly refuse: (text: string) => void;
}

/** Options for {@linkcode Transitions}. */
export interface TransitionsOptions<S extends string> {
  /** The states a new record may start in. */
  readonly initial: readonly S[];
  /** Whether staying in a state is always allowed (a record stored again unchanged in state). */
  readonly stay?: boolean;
  /** Where the table is written, named in the error so the fix is found. */
  readonly source: string;
  /**
   * The state is read after the change is made (it is spread over fields):
   * an illegal move is reported as made, not as refused.
   */
  readonly afterTheFact?: boolean;
}

/**
 * A machine's transition table and the check of its moves.
 *
 * @example
 * ```ts
 * const door = new Transitions("door", { open: ["shut"], shut: ["open"] }, {
 *   initial: ["shut"],
 *   source: "door.ts",
 * });
 * door.allows("shut", "open"); // true
 * door.move("open", "open", { strict: true, refuse: console.warn }); // throws RangeError
 * ```
 */
export class Transitions<S extends string> {
  /** What the machine's records are called in messages, like `search`. */
  readonly name: string;
  readonly table: TransitionTable<S>;
  readonly initial: readonly S[];
  readonly #stay: boolean;
  readonly #source: string;
  readonly #afterTheFact: boolean;

  constructor(name: string, table: TransitionTable<S>, options: TransitionsOptions<S>) {
    this.name = name;
    this.table = table;
    this.initial = options.initial;
    this.#stay = options.stay ?? false;
    this.#source = options.source;
    this.#afterTheFact = options.afterTheFact ?? false;
  }

  /** Whether a record may go from `from` (`undefined`: not stored before) to `to`. */
  allows(from: S | undefined, to: S): boolean {
    if (from === undefined) return this.initial.includes(to);
    const next = this.table[from] as readonly S[] | undefined;
    if (next === undefined) return false;
    return (this.#stay && from === to) || next.includes(to);
  }

  /**
   * Checks a move of the record `id`: returns whether it may be made.
   *
   * @throws {RangeError} If the move is not in the table and `guard.strict`;
   *   otherwise the refusal (or, `afterTheFact`, the report) is passed to
   *   `guard.refuse` and `false` returned.
   */
  move(from: S | undefined, to: S, guard: MoveGuard, id = ""): boolean {
    if (this.allows(from, to)) return true;
    const which = id === "" ? this.name : `${this.name} ${id}`;
    const move = `${which} from "${from ?? "(new)"}" to "${to}"`;
    const text = `${this.#afterTheFact ? "Moved" : "Refused to move"} ${move}: ` +
      `not a move of the table in ${this.#source}; add it there if the move is meant`;
    if (guard.strict) throw new RangeError(text);
    guard.refuse(text);
    return false;
  }
}
