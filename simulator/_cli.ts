/**
 * The simulator's options (`deno task simulate`), parsed with optique as
 * `shop`'s are.
 *
 * @module
 */
import { object } from "@optique/core/constructs";
import { commandLine, message } from "@optique/core/message";
import { optional } from "@optique/core/modifiers";
import { flag, option } from "@optique/core/primitives";
import { z } from "zod";
import { count, parseToolArgs, type ToolArgs, type ToolOptions } from "../cli/tool.ts";
import { fromZod, shownAs } from "../cli/value_parsers.ts";
import type { CommitMode } from "./_commits.ts";
import type { SimulationOptions } from "./simulation.ts";
import { NO_STORAGE_FAULTS } from "./storage.ts";

const CommitModeText = z.enum(
  ["honest", "reply-first", "drop-failed"] as const satisfies readonly CommitMode[],
  {
    error: "expected honest, reply-first or drop-failed",
  },
);

/** What the simulator was asked to run. */
export interface SimulatorArgs {
  /** One seed, which overrides `seeds` and `from`. */
  readonly seed?: number;
  /** How many seeds, from `from` on. */
  readonly seeds: number;
  readonly from: number;
  /** Print every event each seed ran. */
  readonly trace: boolean;
  readonly options: SimulationOptions;
}

const simulatorOptions = object({
  seed: optional(option("--seed", count("SEED"), {
    description: message`Run this one seed and print its trace hash (instead of --seeds).`,
  })),
  seeds: option("--seeds", count(), {
    description: message`How many seeds to run, one after the other.`,
  }).withDefault(100, shownAs("100")),
  from: option("--from", count("SEED"), {
    description: message`The first seed of --seeds.`,
  }).withDefault(1, shownAs("1")),
  trace: flag("--trace", { description: message`Print every event each seed ran.` })
    .withDefault(false),
  crashPlaintext: flag("--crash-plaintext", {
    description: message`Crash plaintext peers too.`,
  }).withDefault(false),
  noStorageFaults: flag("--no-storage-faults", {
    description: message`Store every commit at once (no failed, slow or refused commits).`,
  }).withDefault(false),
  commits: option(
    "--commits",
    fromZod<CommitMode>(CommitModeText, {
      metavar: "MODE",
      placeholder: "honest",
      choices: CommitModeText.options,
    }),
    {
      description:
        message`How the shells commit; reply-first and drop-failed are broken on purpose, to watch "everything acknowledged is stored" catch them.`,
    },
  ).withDefault("honest", shownAs("honest")),
});

/**
 * Parses the simulator's arguments; prints `--help` or an error.
 *
 * @returns The options, or the exit code to stop with (0 after help, 2 for a usage error).
 */
export function parseSimulatorArgs(
  args: readonly string[],
  output: Pick<ToolOptions, "stdout" | "stderr" | "colors"> = {},
): ToolArgs<SimulatorArgs> {
  const parsed = parseToolArgs(simulatorOptions, "deno task simulate", args, {
    ...output,
    brief:
      message`The deterministic simulator: the market and its peers on a faulty network and store.`,
    description:
      message`Runs seeds one after the other; each checks the market's rules. A failure prints its seed, the broken rule, the last events and the command that replays it; the exit code is then 1.`,
    footer: message`Examples: ${commandLine("deno task simulate --seed 42 --trace")}, ${
      commandLine("deno task simulate --seeds 10000")
    }`,
  });
  if (!parsed.ok) return parsed;
  const { seed, seeds, from, trace, crashPlaintext, noStorageFaults, commits } = parsed.value;
  const options: SimulationOptions = {
    ...(crashPlaintext ? { crashPlaintext: true } : {}),
    ...(noStorageFaults ? { storage: NO_STORAGE_FAULTS } : {}),
    ...(commits === "honest" ? {} : { commits }),
  };
  return {
    ok: true,
    value: { ...(seed === undefined ? {} : { seed }), seeds, from, trace, options },
  };
}
