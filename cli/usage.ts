/**
 * What a command line says when it is used wrongly: the usage of the
 * subcommand the user was typing (not of the whole program) and where to
 * read more.
 *
 * @module
 */
import { type Message, message, text } from "@optique/core/message";
import { findSimilar, levenshteinDistance } from "@optique/core/suggestion";
import { extractOptionNames, formatUsage, type Usage } from "@optique/core/usage";

/** The usage of one subcommand, by the words that name it. */
export interface SubcommandUsage {
  /** The command words, like `["server", "ledger"]`. */
  readonly path: readonly string[];
  /** Its usage, starting with those words. */
  readonly usage: Usage;
}

/**
 * The subcommand the arguments name: the one with the longest path that
 * starts them.
 *
 * @example
 * ```ts
 * subcommandOf(["server", "ledger", "--jsn"], subcommands)?.path; // ["server", "ledger"]
 * ```
 */
export function subcommandOf(
  args: readonly string[],
  subcommands: readonly SubcommandUsage[],
): SubcommandUsage | undefined {
  let found: SubcommandUsage | undefined;
  for (const entry of subcommands) {
    const matches = entry.path.every((word, i) => args[i] === word);
    if (matches && entry.path.length >= (found?.path.length ?? 0)) found = entry;
  }
  return found;
}

/** Options for {@linkcode usageHint}. */
export interface UsageHintOptions {
  readonly colors?: boolean;
  /** The terminal's width, for wrapping the usage line. */
  readonly maxWidth?: number;
  /** Whether to show the usage line (not after a "did you mean"); `true` by default. */
  readonly usage?: boolean;
}

/**
 * The lines printed after a usage error: the subcommand's usage, if one was
 * named and is wanted, and the `--help` to run for more.
 *
 * @returns The text, without a final newline.
 */
export function usageHint(
  programName: string,
  subcommand: SubcommandUsage | undefined,
  options: UsageHintOptions = {},
): string {
  const help = [programName, ...(subcommand?.path ?? []), "--help"].join(" ");
  if (subcommand === undefined || options.usage === false) return `Run ${help} for more`;
  const label = "Usage: ";
  const usage = formatUsage(programName, subcommand.usage, {
    colors: options.colors ?? false,
    ...(options.maxWidth === undefined ? {} : { maxWidth: options.maxWidth - label.length }),
  }).replaceAll("\n", `\n${" ".repeat(label.length)}`);
  return `${label}${usage}\nRun ${help} for more`;
}

/** What {@linkcode unexpectedInput} makes of a word the parser did not take. */
export interface UnexpectedInput {
  /** The error: `Unknown option "--nmae": did you mean --name?` and the like. */
  readonly message: Message;
  /** The names it may have meant, closest first; empty when none is close. */
  readonly suggestions: readonly string[];
}

/**
 * The error for a word no parser took: an unknown option or command, with
 * the closest names of the command being typed (its options and its
 * subcommands, found by edit distance), or an argument nothing takes.
 *
 * @param token The word, as typed.
 * @param args The whole command line, to tell which command was typed.
 * @param subcommands Every command's usage; `[]` is the program itself.
 *
 * @example
 * ```ts
 * unexpectedInput("--nmae", ["peer", "--nmae", "alice"], subcommands).suggestions; // ["--name"]
 * ```
 */
export function unexpectedInput(
  token: string,
  args: readonly string[],
  subcommands: readonly SubcommandUsage[],
): UnexpectedInput {
  const typed = subcommandOf(args, subcommands);
  const path = typed?.path ?? [];
  if (token.startsWith("-")) {
    // `--nmae=alice` meant `--name=alice`: only the name is compared.
    const name = token.startsWith("--") ? token.split("=", 1)[0]! : token;
    const options = new Set(["--help", "-h", ...extractOptionNames(typed?.usage ?? [])]);
    if (typed === undefined) options.add("--version").add("-V");
    // A long name is compared with long names only (`--` is two letters
    // from `-h`), and dashes alone with none.
    const long = [...options].filter((option) => option.startsWith("--"));
    const suggestions = /^-+$/.test(name)
      ? []
      : closest(name, name.startsWith("--") ? long : options);
    return { message: unknown("option", token, suggestions), suggestions };
  }
  const commands = subcommands
    .filter((entry) =>
      entry.path.length === path.length + 1 && path.every((word, i) => entry.path[i] === word)
    )
    .map((entry) => entry.path.at(-1)!);
  if (commands.length === 0) {
    return { message: message`Unexpected argument ${shorten(token)}`, suggestions: [] };
  }
  const suggestions = closest(token, commands);
  return { message: unknown("command", token, suggestions), suggestions };
}

/**
 * The candidates nearest to a name (all those at the least edit distance);
 * none for a short option, as `-x` is one letter from every other.
 */
function closest(name: string, candidates: Iterable<string>): string[] {
  if (/^-[^-]$/.test(name)) return [];
  const similar = findSimilar(name, candidates);
  const distance = (candidate: string) =>
    levenshteinDistance(name.toLowerCase(), candidate.toLowerCase());
  const best = similar[0] === undefined ? 0 : distance(similar[0]);
  return similar.filter((candidate) => distance(candidate) === best);
}

function unknown(kind: string, token: string, suggestions: readonly string[]): Message {
  const shown = shorten(token);
  if (suggestions.length === 0) return message`Unknown ${text(kind)} ${shown}`;
  const meant = suggestions.join(" or ");
  return message`Unknown ${text(kind)} ${shown}: did you mean ${text(meant)}?`;
}

/** Most characters of a word quoted back in an error (a pasted blob may be huge). */
const MAX_QUOTED = 60;

/** A word as quoted back: its start, and `…` when it is longer. */
function shorten(token: string): string {
  const chars = [...token];
  return chars.length <= MAX_QUOTED ? token : `${chars.slice(0, MAX_QUOTED).join("")}…`;
}
