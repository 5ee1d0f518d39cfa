/**
 * The command lines of the project's own tools (`deno task bench`, `deno
 * task simulate`): optique parsers run with `--help`, the errors `shop`
 * gives (a quoted bad value, "did you mean" for a mistyped option) and the
 * usage line after them. Only `@optique/core` is used, as the simulator
 * runs with no permissions at all.
 *
 * @module
 */
import { object } from "@optique/core/constructs";
import { runParserSync } from "@optique/core/facade";
import { type Message, message, text } from "@optique/core/message";
import type { NonEmptyString } from "@optique/core/nonempty";
import type { Parser } from "@optique/core/parser";
import { findSimilar } from "@optique/core/suggestion";
import type { ValueParser } from "@optique/core/valueparser";
import { z } from "zod";
import { unexpectedInput, usageHint } from "./usage.ts";
import { fromZod } from "./value_parsers.ts";

/** Exit code of a usage error, as `shop`'s. */
export const USAGE_ERROR = 2;

/** Options for {@linkcode parseToolArgs}. */
export interface ToolOptions {
  /** The first line of `--help`. */
  readonly brief: Message;
  /** The paragraph after the usage line in `--help`. */
  readonly description?: Message;
  /** The last lines of `--help`. */
  readonly footer?: Message;
  /** Where help goes; `console.log` by default. */
  readonly stdout?: (text: string) => void;
  /** Where errors go; `console.error` by default. */
  readonly stderr?: (text: string) => void;
  /** Colours in help and errors; `false` by default. */
  readonly colors?: boolean;
}

/** What {@linkcode parseToolArgs} makes of a command line. */
export type ToolArgs<T> =
  | { readonly ok: true; readonly value: T }
  /** Help was printed (`exitCode` 0) or an error was (`exitCode` 2): stop with it. */
  | { readonly ok: false; readonly exitCode: number };

/** What the runner's callbacks return, told apart from a parsed value. */
class Stop {
  constructor(readonly exitCode: number) {}
}

/**
 * Parses a tool's arguments; prints `--help`, or an error with the usage
 * line and where to read more.
 *
 * @param parser The tool's options, an optique `object()`.
 * @param programName How the tool is run, like `deno task bench`.
 * @returns The options, or the exit code to stop with.
 *
 * @example
 * ```ts
 * const args = parseToolArgs(simulatorOptions, "deno task simulate", Deno.args, { brief });
 * if (!args.ok) Deno.exit(args.exitCode);
 * ```
 */
export function parseToolArgs<T>(
  parser: Parser<"sync", T, unknown>,
  programName: string,
  args: readonly string[],
  options: ToolOptions,
): ToolArgs<T> {
  // The tools take no arguments but options, so `--` ends nothing: it is
  // dropped, as `deno task simulate -- --seeds 500` (npm's habit) means
  // `--seeds 500`.
  args = args.filter((arg) => arg !== "--");
  const stderr = options.stderr ?? console.error;
  const colors = options.colors ?? false;
  const usage = [{ path: [], usage: parser.usage }];
  // The same "did you mean" as shop's: the closest of the tool's options.
  const checked = object({ options: parser }, {
    errors: { unexpectedInput: (token) => unexpectedInput(token, args, usage).message },
  });
  let guessed = false;
  const result = runParserSync(checked, programName, args, {
    help: { option: { names: ["--help", "-h"] }, onShow: (code: number) => new Stop(code) },
    showDefault: true,
    showChoices: true,
    aboveError: "none",
    colors,
    brief: options.brief,
    ...(options.description === undefined ? {} : { description: options.description }),
    ...(options.footer === undefined ? {} : { footer: options.footer }),
    stdout: options.stdout ?? console.log,
    stderr: (line) => {
      guessed = line.includes(": did you mean ");
      stderr(line);
    },
    onError: () => {
      stderr(usageHint(programName, usage[0], { colors, usage: !guessed }));
      return new Stop(USAGE_ERROR);
    },
  }) as { options: T } | Stop;
  return result instanceof Stop
    ? { ok: false, exitCode: result.exitCode }
    : { ok: true, value: result.options };
}

/** A whole number, `0` or more, as typed: `42`, not `4.2`, `-1` or `1e3`. */
export const WholeNumber = z.string().regex(/^[0-9]{1,15}$/, "expected a whole number like 42")
  .transform(Number);

/** A whole-number option value. */
export function count(metavar: "N" | "SEED" = "N"): ValueParser<"sync", number> {
  return fromZod(WholeNumber, { metavar, placeholder: 0 });
}

/** Options for {@linkcode nameList}. */
export interface NameListOptions {
  /** How the list is named in help, like `SCENARIOS`. */
  readonly metavar: NonEmptyString;
  /** What one name is, for errors: `Unknown scenario "fanuot"`. */
  readonly noun: string;
}

/**
 * A comma-separated list of names, each one of `choices`: `purchase,restart`.
 * A name not in the list is refused with the closest ones; a name given
 * twice counts once.
 */
export function nameList<const T extends string>(
  choices: readonly T[],
  options: NameListOptions,
): ValueParser<"sync", readonly T[]> {
  return {
    mode: "sync",
    metavar: options.metavar,
    placeholder: [...choices],
    parse(input) {
      const names = input.split(",").map((name) => name.trim());
      if (names.every((name) => name === "")) {
        return {
          success: false,
          error: message`Cannot use ${input}: expected one or more of ${text(choices.join(", "))}`,
        };
      }
      const picked: T[] = [];
      for (const name of names.filter((name) => name !== "")) {
        if (!(choices as readonly string[]).includes(name)) {
          const near = findSimilar(name, choices);
          const hint = near.length === 0 ? "" : `; did you mean ${near.join(" or ")}?`;
          return {
            success: false,
            error: message`Unknown ${text(options.noun)} ${name} in ${input}: expected ${
              text(choices.join(", "))
            }${text(hint)}`,
          };
        }
        if (!picked.includes(name as T)) picked.push(name as T);
      }
      return { success: true, value: picked };
    },
    format: (value) => value.join(","),
  };
}
