/**
 * The input lines of a peer session as the shell hands them to the agent:
 * lines after a `register` wait until the registration is answered (so a
 * script can `register` then `buy`; a terminal's are not held, so that it
 * stays live, and the agent queues what needs the registration), input
 * ends early at SIGINT/SIGTERM,
 * and with `stay` it does not end with standard input but at the signal
 * (a seller or service without a terminal). It also keeps the count of the
 * errors printed, for a script's exit code.
 *
 * @module
 */
import type { Output } from "./agent.ts";
import { parseCommand } from "./commands.ts";

/** Events that answer a `register` one way or another. */
const REGISTRATION_ENDS: ReadonlySet<string> = new Set([
  "REGISTERED",
  "REGISTER-DENIED",
  "refused",
  "timeout",
  "error",
  "registration-cancelled",
]);

/** Options for {@linkcode Session.lines}. */
export interface SessionLinesOptions {
  /**
   * Hold the lines after `register` until it is answered (the default), so
   * that a script's next commands find the peer registered.
   */
  readonly hold?: boolean;
  /** Keep going after the end of input, until `stopped`. */
  readonly stay?: boolean;
  /** Ends input (SIGINT or SIGTERM). */
  readonly stopped?: Promise<void>;
  /** Told when input ended and the session stays. */
  readonly onStay?: () => void;
  /** Answers a line here instead of giving it to the agent (`questions`). */
  readonly answer?: (line: string) => boolean;
}

/** What the shell sees of one session: its printed outputs and its input lines. */
/** The events that make a piped session exit 1. */
const FAILURES: ReadonlySet<string> = new Set(["error", "REGISTER-DENIED", "refused", "timeout"]);

export class Session {
  /**
   * How many errors were printed: `error` events, and a registration that
   * failed (denied, refused, or not answered), since what follows it in a
   * script cannot have worked.
   */
  errors = 0;
  #registration: { resolve: () => void } | undefined;

  /** Looks at each output before it is printed. */
  saw(output: Output): void {
    if (FAILURES.has(output.event)) this.errors++;
    if (this.#registration && REGISTRATION_ENDS.has(output.event)) {
      this.#registration.resolve();
      this.#registration = undefined;
    }
  }

  /**
   * The input lines, held after `register` until it is answered, ending at
   * `stopped`, or only there with `stay`.
   */
  async *lines(
    input: AsyncIterable<string>,
    options: SessionLinesOptions = {},
  ): AsyncGenerator<string> {
    const STOP = Symbol("stop");
    const stopped = (options.stopped ?? new Promise<never>(() => {})).then((): typeof STOP => STOP);
    const lines = input[Symbol.asyncIterator]();
    while (true) {
      const next = await Promise.race([lines.next(), stopped]);
      if (next === STOP) return;
      if (next.done) break;
      const line = next.value;
      if (options.answer?.(line)) continue;
      const parsed = parseCommand(line);
      if (options.hold === false || !(parsed.ok && parsed.command?.name === "register")) {
        yield line;
        continue;
      }
      // Set up before the line goes: its answer may be printed at once.
      const answered = new Promise<void>((resolve) => (this.#registration = { resolve }));
      yield line;
      if (await Promise.race([answered, stopped]) === STOP) return;
    }
    if (!options.stay) return;
    options.onStay?.();
    await stopped;
  }
}

/** A promise resolved at the first SIGINT or SIGTERM, and a way to stop listening. */
export function untilSignal(): { readonly signalled: Promise<void> } & Disposable {
  let stop = () => {};
  const signalled = new Promise<void>((resolve) => (stop = resolve));
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  return {
    signalled,
    [Symbol.dispose]() {
      for (const signal of signals) Deno.removeSignalListener(signal, stop);
    },
  };
}
