/**
 * What a command line says when it is used wrongly: the usage of the
 * subcommand the user was typing (not of the whole program) and where to
 * read more.
 *
 * @module
 */
import { formatUsage, type Usage } from "@optique/core/usage";

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
    if (matches && entry.path.length > (found?.path.length ?? 0)) found = entry;
  }
  return found;
}

/** Options for {@linkcode usageHint}. */
export interface UsageHintOptions {
  readonly colors?: boolean;
  /** The terminal's width, for wrapping the usage line. */
  readonly maxWidth?: number;
}

/**
 * The lines printed after a usage error: the subcommand's usage, if one was
 * named, and the `--help` to run for more.
 *
 * @returns The text, without a final newline.
 */
export function usageHint(
  programName: string,
  subcommand: SubcommandUsage | undefined,
  options: UsageHintOptions = {},
): string {
  const help = [programName, ...(subcommand?.path ?? []), "--help"].join(" ");
  if (subcommand === undefined) return `Run ${help} for more`;
  const label = "Usage: ";
  const usage = formatUsage(programName, subcommand.usage, {
    colors: options.colors ?? false,
    ...(options.maxWidth === undefined ? {} : { maxWidth: options.maxWidth - label.length }),
  }).replaceAll("\n", `\n${" ".repeat(label.length)}`);
  return `${label}${usage}\nRun ${help} for more`;
}
