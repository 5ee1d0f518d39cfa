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
 * the exit code is then 1 (2 for a usage error). `--help` lists them all
 * (`_cli.ts`).
 *
 * @module
 */
import { type RunResult, simulate, SimulationFailure } from "./simulation.ts";
import type { StorageStats } from "./storage.ts";
import { parseSimulatorArgs } from "./_cli.ts";

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
  const parsed = parseSimulatorArgs(argv, {
    colors: Deno.stderr.isTerminal() && !Deno.noColor,
  });
  if (!parsed.ok) return parsed.exitCode;
  const args = parsed.value;
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
