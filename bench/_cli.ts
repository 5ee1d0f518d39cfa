/**
 * The bench's options (`deno task bench`), parsed with optique as `shop`'s
 * are: every value is checked before anything starts.
 *
 * @module
 */
import { object } from "@optique/core/constructs";
import { commandLine, message, text } from "@optique/core/message";
import { optional } from "@optique/core/modifiers";
import { flag, option } from "@optique/core/primitives";
import { string } from "@optique/core/valueparser";
import { z } from "zod";
import {
  nameList,
  parseToolArgs,
  type ToolArgs,
  type ToolOptions,
  WholeNumber,
} from "../cli/tool.ts";
import { fromZod, shownAs } from "../cli/value_parsers.ts";

/** The bench's scenarios, in the order they run. */
export const SCENARIOS = ["registrations", "fanout", "purchase", "restart", "book"] as const;
/** One of {@linkcode SCENARIOS}. */
export type Scenario = typeof SCENARIOS[number];

/** What the bench was asked to run. */
export interface BenchArgs {
  readonly smoke: boolean;
  /** The scenarios to run, each once; all of them when `--only` is not given. */
  readonly only: readonly Scenario[];
  readonly out?: string;
  readonly profile?: string;
  readonly target?: string;
  readonly harness: "auto" | "native" | "deno";
  /** As typed; `undefined` (both, PostgreSQL skipped when missing) is not `"both"`. */
  readonly store?: "kv" | "postgres" | "both";
  /** Registrations: the peers registered before each timed run, ascending. */
  readonly levels?: readonly number[];
  /** Registrations: how many are timed at each level, 3 or more. */
  readonly timed?: number;
  /** Restart: peers and open searches. */
  readonly restartSize?: { readonly peers: number; readonly searches: number };
}

const COUNTS_HINT = "expected counts like 0,10000";

/** `0,10000`: whole numbers, separated by commas. */
const Counts = z.string().transform((value, ctx) => {
  const parts = value.split(",").map((part) => WholeNumber.safeParse(part.trim()));
  if (parts.some((part) => !part.success)) {
    ctx.addIssue({ code: "custom", message: COUNTS_HINT });
    return z.NEVER;
  }
  return parts.map((part) => part.data!);
});

const Levels = Counts.refine(
  (levels) => levels.every((n, i) => i === 0 || n > levels[i - 1]!),
  "expected ascending counts like 0,10000",
);

const Timed = WholeNumber.refine((n) => n >= 3, "expected a count of 3 or more");

const RestartSize = Counts.transform((list, ctx) => {
  if (list.length !== 2 || !list[1]) {
    ctx.addIssue({ code: "custom", message: "expected peers and open searches like 20000,2000" });
    return z.NEVER;
  }
  return { peers: list[0]!, searches: list[1] };
});

const Harness = z.enum(["auto", "native", "deno"], { error: "expected auto, native or deno" });

const Store = z.enum(["kv", "postgres", "both"], { error: "expected kv, postgres or both" });

const benchOptions = object({
  smoke: flag("--smoke", {
    description: message`A tiny version of every scenario; results go to a temporary directory.`,
  }).withDefault(false),
  only: optional(
    option("--only", nameList(SCENARIOS, { metavar: "SCENARIOS", noun: "scenario" }), {
      description: message`These scenarios only, separated by commas: ${
        text(SCENARIOS.join(", "))
      } (results go to a temporary directory).`,
    }),
  ),
  out: optional(option("--out", string({ metavar: "DIR" }), {
    description: message`Write results.json and the charts here.`,
  })),
  profile: optional(option("--profile", string({ metavar: "DIR" }), {
    description: message`Write the servers' V8 CPU profiles here (see bench/cpu_profile.ts).`,
  })),
  target: optional(option("--target", string({ metavar: "DIR" }), {
    description:
      message`Measure the shop server of this checkout (e.g. a clean git worktree) instead of this one.`,
  })),
  harness: option(
    "--harness",
    fromZod<"auto" | "native" | "deno">(Harness, {
      metavar: "HARNESS",
      placeholder: "auto",
      choices: Harness.options,
    }),
    {
      description:
        message`native (bench/native/loadgen.c, needs cc), deno, or auto: native when it builds.`,
    },
  ).withDefault("auto", shownAs("auto")),
  store: optional(option(
    "--store",
    fromZod<"kv" | "postgres" | "both">(Store, {
      metavar: "STORE",
      placeholder: "both",
      choices: Store.options,
    }),
    {
      description:
        message`Run registrations, purchase and restart on kv, postgres or both (the default; PostgreSQL 15 is started for the run, skipped with a note when not installed, unless this is given or CI=true).`,
    },
  )),
  levels: optional(option(
    "--levels",
    fromZod(Levels, { metavar: "N,N…", placeholder: [0], format: (v) => v.join(",") }),
    {
      description:
        message`Registrations: the peers registered before each timed run (e.g. 0,10000); results go to a temporary directory.`,
    },
  )),
  timed: optional(option("--timed", fromZod(Timed, { metavar: "N", placeholder: 3 }), {
    description:
      message`Registrations: how many are timed at each level (windows of a third); results go to a temporary directory.`,
  })),
  restartSize: optional(option(
    "--restart-size",
    fromZod(RestartSize, {
      metavar: "PEERS,SEARCHES",
      placeholder: { peers: 1, searches: 1 },
      format: (v) => `${v.peers},${v.searches}`,
    }),
    {
      description:
        message`Restart: peers and open searches (e.g. 20000,2000); results go to a temporary directory.`,
    },
  )),
});

/**
 * Parses the bench's arguments; prints `--help` or an error.
 *
 * @returns The options, or the exit code to stop with (0 after help, 2 for a usage error).
 */
export function parseBenchArgs(
  args: readonly string[],
  output: Pick<ToolOptions, "stdout" | "stderr" | "colors"> = {},
): ToolArgs<BenchArgs> {
  const parsed = parseToolArgs(benchOptions, "deno task bench", args, {
    ...output,
    brief:
      message`The performance bench: real shop servers on 127.0.0.1, each UDP figure beside a do-nothing floor.`,
    description:
      message`Prints progress on standard error and a table on standard output; writes results.json and the charts into bench/ for a full run of every scenario, else into a temporary directory unless --out says where. Exits 1 when a scenario fails or loses correctness.`,
    footer: message`Examples: ${commandLine("deno task bench:smoke")}, ${
      commandLine("deno task bench --only purchase --store kv")
    }`,
  });
  if (!parsed.ok) return parsed;
  const { only, out, profile, target, store, levels, timed, restartSize, ...rest } = parsed.value;
  return {
    ok: true,
    value: {
      ...rest,
      only: only ?? [...SCENARIOS],
      ...(out === undefined ? {} : { out }),
      ...(profile === undefined ? {} : { profile }),
      ...(target === undefined ? {} : { target }),
      ...(store === undefined ? {} : { store }),
      ...(levels === undefined ? {} : { levels }),
      ...(timed === undefined ? {} : { timed }),
      ...(restartSize === undefined ? {} : { restartSize }),
    },
  };
}
