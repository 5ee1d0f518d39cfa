/**
 * The peer's interactive commands: one line of input in, a typed command or
 * an error that says what to type out. Each command's usage and help text
 * live in its entry of {@linkcode COMMANDS}.
 *
 * @module
 */
import { z } from "zod";
import { splitWords } from "./shell_words.ts";

interface CommandSpec<S extends z.ZodType> {
  readonly usage: string;
  readonly summary: string;
  /** Validates the words after the command name. */
  readonly args: S;
}

function spec<S extends z.ZodType>(
  usage: string,
  summary: string,
  args: S,
): CommandSpec<S> {
  return { usage, summary, args };
}

const none = z.tuple([], { error: "takes no arguments" });

/** Every command the peer understands, in the order `help` lists them. */
export const COMMANDS = {
  register: spec("register", "Register with the server", none),
  deregister: spec("deregister", "Leave the marketplace (de-register)", none),
  status: spec("status", "Show registration, server and ports", none),
  help: spec("help", "List the commands", none),
  quit: spec("quit", "Stop the peer (end of input does the same)", none),
} as const;

type Commands = typeof COMMANDS;

/** A parsed command. */
export type Command = {
  [K in keyof Commands]: {
    readonly name: K;
    readonly args: z.output<Commands[K]["args"]>;
  };
}[keyof Commands];

/** The outcome of {@linkcode parseCommand}. */
export type ParsedLine =
  | { readonly ok: true; readonly command: Command | undefined }
  | { readonly ok: false; readonly error: string };

/**
 * Parses one input line. An empty line gives no command.
 *
 * @example
 * ```ts
 * parseCommand("register"); // { ok: true, command: { name: "register", args: [] } }
 * ```
 */
export function parseCommand(line: string): ParsedLine {
  let words: string[];
  try {
    words = splitWords(line);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const [name, ...rest] = words;
  if (name === undefined) return { ok: true, command: undefined };
  if (!Object.hasOwn(COMMANDS, name)) {
    return {
      ok: false,
      error: `Unknown command ${JSON.stringify(name)}: type help for the list`,
    };
  }
  const key = name as keyof Commands;
  const spec: CommandSpec<z.ZodType> = COMMANDS[key];
  const parsed = spec.args.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      ok: false,
      error: `Cannot run ${name}: ${issue.message}; usage: ${spec.usage}`,
    };
  }
  return {
    ok: true,
    command: { name: key, args: parsed.data } as Command,
  };
}

/** The text `help` prints. */
export function helpText(): string {
  const specs = Object.values(COMMANDS) as CommandSpec<z.ZodType>[];
  const width = Math.max(...specs.map((entry) => entry.usage.length));
  return specs.map((entry) => `  ${entry.usage.padEnd(width)}  ${entry.summary}`)
    .join("\n");
}
