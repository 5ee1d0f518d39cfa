/**
 * The simulator's command line.
 *
 * ```sh
 * deno task simulate --seed 42           # one seed, its summary
 * deno task simulate --seed 42 --trace   # ... and every event it ran
 * deno task simulate --seeds 10000       # seeds 1 to 10000
 * ```
 *
 * Options: `--from N` (first seed of `--seeds`), `--crash-plaintext`
 * (crash plaintext peers too), `--no-storage-faults` (every commit is
 * stored at once), `--commits reply-first|drop-failed` (a broken shell, to
 * watch "everything acknowledged is stored" catch it). A failure prints its
 * seed, the broken rule, the last events and the command that replays it;
 * the exit code is then 1 (2 for a usage error).
 *
 * @module
 */
import {
  type RunResult,
  simulate,
  SimulationFailure,
  type SimulationOptions,
} from "./simulation.ts";
import { NO_STORAGE_FAULTS, type StorageStats } from "./storage.ts";
import type { CommitMode } from "./_commits.ts";

const COMMIT_MODES: readonly CommitMode[] = ["honest", "reply-first", "drop-failed"];

interface Args {
  seed?: number;
  seeds: number;
  from: number;
  trace: boolean;
  options: SimulationOptions;
}

function parse(argv: readonly string[]): Args {
  const args: Args = { seeds: 100, from: 1, trace: false, options: {} };
  const number = (flag: string, text: string | undefined): number => {
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < 0) {
      throw new TypeError(`Cannot read ${flag} "${text ?? ""}": expected a whole number like 42`);
    }
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--seed") args.seed = number(flag, argv[++i]);
    else if (flag === "--seeds") args.seeds = number(flag, argv[++i]);
    else if (flag === "--from") args.from = number(flag, argv[++i]);
    else if (flag === "--trace") args.trace = true;
    else if (flag === "--crash-plaintext") args.options = { ...args.options, crashPlaintext: true };
    else if (flag === "--no-storage-faults") {
      args.options = { ...args.options, storage: NO_STORAGE_FAULTS };
    } else if (flag === "--commits") {
      const mode = argv[++i];
      if (!COMMIT_MODES.includes(mode as CommitMode)) {
        throw new TypeError(
          `Cannot read --commits "${mode ?? ""}": expected ${COMMIT_MODES.join(", ")}`,
        );
      }
      args.options = { ...args.options, commits: mode as CommitMode };
    } else {
      throw new TypeError(
        `Unknown option "${flag}": expected --seed, --seeds, --from, --trace, --crash-plaintext, --no-storage-faults or --commits`,
      );
    }
  }
  return args;
}

function summary(results: readonly RunResult[]): string {
  const sum = (pick: (r: RunResult) => number) => results.reduce((n, r) => n + pick(r), 0);
  const store = (kind: keyof StorageStats) => sum((r) => r.storage[kind]);
  return [
    `datagrams ${sum((r) => r.network.sent)} sent: ${sum((r) => r.network.dropped)} dropped, ` +
    `${sum((r) => r.network.duplicated)} duplicated, ${sum((r) => r.network.delayed)} delayed`,
    `commits ${store("commits")}: ${store("failedBefore")} failed before writing, ` +
    `${store("slow")} slow, ${store("failedAfter")} failed after writing; ` +
    `outages ${store("outages")} (${store("refused")} commits refused); ` +
    `stopped past the retry bound ${store("gaveUp")} times ` +
    `(the server ${store("serverGaveUp")}), restarted from the store; ` +
    `starts refused (store unreadable) ${store("failedStarts")}`,
    `acknowledged replies checked against the store ${sum((r) => r.claims)}`,
    `crashes ${sum((r) => r.crashes)}; searches ${sum((r) => r.searches)}; ` +
    `sales ${sum((r) => r.sales)}; failed transactions ${sum((r) => r.failedTransactions)}`,
    `steps ${sum((r) => r.steps)}`,
  ].join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parse(argv);
  } catch (error) {
    console.error(String(error instanceof Error ? error.message : error));
    return 2;
  }
  const started = performance.now();
  const seeds = args.seed === undefined
    ? Array.from({ length: args.seeds }, (_, i) => args.from + i)
    : [args.seed];
  const results: RunResult[] = [];
  const failures: SimulationFailure[] = [];
  for (const seed of seeds) {
    try {
      const result = await simulate(seed, { ...args.options, keepTrace: args.trace });
      if (args.trace) console.log(result.trace!.join("\n"));
      results.push(result);
    } catch (error) {
      if (!(error instanceof SimulationFailure)) throw error;
      failures.push(error);
      console.log(`${error.message}\n`);
      if (args.seed !== undefined) break;
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (args.seed !== undefined && results[0]) {
    console.log(
      `seed ${args.seed}: trace ${results[0].traceHash}, virtual time ${results[0].virtualMs} ms`,
    );
  }
  const mode = args.options.commits ?? "honest";
  console.log(
    `seeds run ${seeds.length} in ${seconds} s; failed ${failures.length}` +
      (mode === "honest" ? "" : ` (shells commit ${mode})`),
  );
  if (results.length > 0) console.log(summary(results));
  for (const failure of failures) {
    console.log(
      `FAILED seed ${failure.seed}: ${failure.violation}\n  replay: ${failure.replay}`,
    );
  }
  return failures.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
