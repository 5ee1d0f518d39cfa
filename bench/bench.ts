/**
 * `deno task bench`: the performance targets of issues 7 and 15, measured
 * against real `shop server` processes on 127.0.0.1, each UDP figure beside
 * the same figure for a do-nothing Deno UDP server (the floor) measured
 * with the same harness in the same run.
 *
 * The UDP load comes from the native harness (`native/loadgen.c`, built
 * with `cc -O2` when a C compiler exists) or else from Deno sockets in this
 * process; see `_harness.ts`. `--harness deno|native` forces one.
 *
 * Prints progress on standard error, then a table (figure, shop, floor,
 * ratio, target, met?, harness) on standard output; writes `results.json`,
 * `registrations.svg` and `fanout.svg` into `bench/` for a full run of
 * every scenario, or into a temporary directory otherwise (`--smoke`,
 * `--only`, `--profile`) unless `--out DIR` says where.
 *
 * ```sh
 * deno task bench                    # the full bench, several minutes
 * deno task bench:smoke              # a tiny version of every scenario, for CI
 * deno task bench --only purchase    # one scenario (registrations, fanout, purchase, restart)
 * deno task bench --profile /tmp/prof --only registrations   # plus the server's CPU profile
 * deno task bench --harness deno     # the Deno harness even when cc exists
 * ```
 *
 * Exits 1 when a scenario fails or loses correctness (a purchase that does
 * not complete, a lost SEARCH in the smoke run, a restart that forgets
 * state); a missed speed target is reported, not a failure.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { runBook } from "./_book.ts";
import { type FanoutResult, runFanout } from "./_fanout.ts";
import { type HarnessKind, openHarness } from "./_harness.ts";
import { runPurchases } from "./_purchase.ts";
import { type RegistrationResult, runRegistrations } from "./_registrations.ts";
import { runRestart } from "./_restart.ts";
import { setTarget, target } from "./_server.ts";
import { BenchError, formatCount, progress } from "./_stats.ts";
import { lineChart } from "./chart.ts";
import { formatTable, type Results, table, TARGETS } from "./_table.ts";

const SCENARIOS = ["registrations", "fanout", "purchase", "restart", "book"] as const;
type Scenario = typeof SCENARIOS[number];

/** The sizes of a full run and of the smoke run. */
const SIZES = {
  full: {
    registrations: {
      levels: [0, 25_000, 50_000, 75_000, 100_000],
      timed: 15_000,
      window: 5_000,
      inFlight: 32,
      wideInFlight: 128,
      fillInFlight: 64,
      sockets: 64,
    },
    fanout: { levels: [1_000, 10_000, 20_000], repeats: 7, repeatsAtLargest: 12, probes: 3 },
    purchase: { count: 50, warmup: 3, offerWindow: "50ms" },
    restart: { peers: 100_000, searches: 10_000 },
    book: {
      peers: 100_000,
      sellersPerItem: 10,
      sockets: 1_000,
      buyers: 64,
      inFlight: 256,
      seconds: 10,
      classic: 100,
      offerWindow: "50ms",
    },
  },
  smoke: {
    registrations: {
      levels: [0, 250],
      timed: 250,
      window: 125,
      inFlight: 32,
      wideInFlight: 128,
      fillInFlight: 64,
      sockets: 16,
    },
    fanout: { levels: [50, 200], repeats: 3, repeatsAtLargest: 4, probes: 1 },
    purchase: { count: 3, warmup: 1, offerWindow: "50ms" },
    restart: { peers: 1_000, searches: 50 },
    book: {
      peers: 1_000,
      sellersPerItem: 10,
      sockets: 20,
      buyers: 8,
      inFlight: 32,
      seconds: 1,
      classic: 10,
      offerWindow: "50ms",
    },
  },
};

const USAGE =
  "Usage: deno task bench [--smoke] [--only registrations,fanout,purchase,restart,book] " +
  "[--out DIR] [--profile DIR] [--target DIR] [--harness auto|native|deno]";

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        smoke: { type: "boolean", default: false },
        only: { type: "string" },
        out: { type: "string" },
        profile: { type: "string" },
        target: { type: "string" },
        harness: { type: "string", default: "auto" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(
      `${USAGE}\n` +
        "  --smoke    a tiny version of every scenario; results go to a temporary directory\n" +
        "  --only     these scenarios only (results go to a temporary directory)\n" +
        "  --out      write results.json and the charts here\n" +
        "  --profile  write the servers' V8 CPU profiles here (see bench/cpu_profile.ts)\n" +
        "  --target   measure the shop server of this checkout (e.g. a clean git worktree)\n" +
        "  --harness  native (bench/native/loadgen.c, needs cc), deno, or auto (the default:\n" +
        "             native when it builds)",
    );
    return 0;
  }
  const only = values.only?.split(",").map((name) => name.trim()).filter(Boolean) ?? [...SCENARIOS];
  for (const name of only) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      console.error(`Unknown scenario "${name}": expected one of ${SCENARIOS.join(", ")}`);
      return 2;
    }
  }
  if (!["auto", "native", "deno"].includes(values.harness)) {
    console.error(`Unknown harness "${values.harness}": expected auto, native or deno`);
    return 2;
  }
  const mode = values.smoke ? "smoke" : "full";
  const sizes = SIZES[mode];
  const official = mode === "full" && only.length === SCENARIOS.length && !values.profile;
  const outDir = values.out ??
    (official
      ? fileURLToPath(new URL(".", import.meta.url))
      : await Deno.makeTempDir({ prefix: "shop-bench-out-" }));
  const removeOut = values.out === undefined && !official && mode === "smoke";
  const profileFor = (name: Scenario) => values.profile ? `${values.profile}/${name}` : undefined;

  if (values.target) setTarget(values.target);
  const source = await sourceInfo(target());
  const machine = await machineInfo();
  await using harness = await openHarness(values.harness as "auto" | HarnessKind);
  progress(
    `${mode} bench on ${machine.nproc} CPUs (${machine.cpu}), Deno ${machine.deno}; ` +
      `scenarios: ${only.join(", ")}; measuring ${source.root} at ${source.commit.slice(0, 10)}` +
      (source.changedFiles > 0 ? ` with ${source.changedFiles} uncommitted change(s)` : "") +
      `; harness: ${harness.kind} (${harness.detail})`,
  );
  const harnessInfo = { kind: harness.kind, detail: harness.detail, fileLimit: harness.fileLimit };
  const results: Results = {};
  const errors: { scenario: string; error: string }[] = [];
  const run = async <T>(name: Scenario, body: () => Promise<T>): Promise<T | undefined> => {
    if (!only.includes(name)) return undefined;
    progress(`${name}: starting`);
    try {
      return await body();
    } catch (error) {
      const text = error instanceof Error ? `${error.message}` : String(error);
      progress(`${name}: FAILED: ${text}`);
      errors.push({ scenario: name, error: text });
      return undefined;
    }
  };
  results.registrations = await run(
    "registrations",
    () =>
      runRegistrations({ harness, ...sizes.registrations, ...opt(profileFor("registrations")) }),
  );
  results.fanout = await run("fanout", async () => {
    const result = await runFanout({ harness, ...sizes.fanout, ...opt(profileFor("fanout")) });
    const lost = result.points.reduce((sum, point) => sum + point.lost, 0);
    if (mode === "smoke" && lost > 0) throw new BenchError(`${lost} SEARCH datagrams were lost`);
    return result;
  });
  results.purchase = await run(
    "purchase",
    () => runPurchases({ ...sizes.purchase, ...opt(profileFor("purchase")) }),
  );
  results.restart = await run(
    "restart",
    () => runRestart({ ...sizes.restart, ...opt(profileFor("restart")) }),
  );

  results.book = await run(
    "book",
    () => runBook({ ...sizes.book, strict: mode === "smoke", ...opt(profileFor("book")) }),
  );

  const rows = table(results, harness.kind);
  console.log(`harness: ${harness.kind} (${harness.detail})`);
  console.log(formatTable(rows));
  for (const { scenario, error } of errors) console.log(`FAILED ${scenario}: ${error}`);

  try {
    await Deno.mkdir(outDir, { recursive: true });
    const document = {
      command: ["deno task bench", ...Deno.args].join(" "),
      mode,
      date: new Date().toISOString(),
      machine,
      source,
      harness: harnessInfo,
      sizes,
      targets: TARGETS,
      loadAverageAtEnd: Deno.loadavg(),
      rows,
      errors,
      results,
    };
    await Deno.writeTextFile(`${outDir}/results.json`, `${JSON.stringify(document, null, 2)}\n`);
    const charts: string[] = [];
    if (results.registrations) {
      charts.push(`${outDir}/registrations.svg`);
      await Deno.writeTextFile(
        charts.at(-1)!,
        registrationsChart(results.registrations, harness.kind),
      );
    }
    if (results.fanout) {
      charts.push(`${outDir}/fanout.svg`);
      await Deno.writeTextFile(charts.at(-1)!, fanoutChart(results.fanout));
    }
    await formatFiles(charts);
    progress(`wrote results.json and the charts to ${outDir}`);
  } finally {
    if (removeOut) await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
  return errors.length > 0 ? 1 : 0;
}

/**
 * Runs `deno fmt` on files written into the project, so that `deno task
 * check` (which formats SVG too) stays clean after a bench run.
 */
async function formatFiles(files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const root = fileURLToPath(new URL("..", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...files],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    progress(`deno fmt of the charts failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

function opt(profileDir: string | undefined): { profileDir?: string } {
  return profileDir ? { profileDir } : {};
}

/** The chart of scenario 1: throughput against registered peers. */
export function registrationsChart(result: RegistrationResult, harness: string): string {
  const points = result.points.map((point) => [point.registered, point.perSecond] as const);
  const xMax = Math.max(...points.map(([x]) => x), 1);
  const target = TARGETS.registrationsFloorRatio * result.floorPerSecond;
  return lineChart({
    title: "Durable registrations per second vs peers already registered",
    subtitle: `classic REGISTER, ${result.inFlight} in flight, reply after the KV commit; ` +
      `${harness} harness`,
    xLabel: "peers already registered",
    yLabel: "registrations per second",
    yMax: Math.max(result.floorPerSecond * 1.05, ...points.map(([, y]) => y)),
    series: [
      { label: "shop server: median window", color: "#1f6feb", points, values: "above" },
      {
        label: "shop server: slowest window",
        color: "#8250df",
        points: result.points.map((point) => [point.registered, point.slowestPerSecond] as const),
      },
      {
        label: `floor: do-nothing Deno UDP server, ${formatCount(result.floorPerSecond)}/s`,
        color: "#57606a",
        dashed: true,
        points: [[0, result.floorPerSecond], [xMax, result.floorPerSecond]],
      },
      {
        label: `target ${TARGETS.registrationsFloorRatio}× floor, ${formatCount(target)}/s`,
        color: "#d1242f",
        dashed: true,
        points: [[0, target], [xMax, target]],
      },
    ],
  });
}

/** The chart of scenario 2: fan-out time against sellers. */
export function fanoutChart(result: FanoutResult): string {
  const median = result.points.map((point) => [point.sellers, point.medianMs] as const);
  const max = result.points.map((point) => [point.sellers, point.maxMs] as const);
  const lost = result.points.reduce((sum, point) => sum + point.lost, 0);
  return lineChart({
    title: "SEARCH fan-out: LOOKING_FOR sent → last SEARCH received",
    subtitle: `${result.points[0]?.runsMs.length ?? 0}+ searches per point, ${lost} SEARCH lost; ` +
      `${formatCount(result.sockets)} receiving sockets; ${result.harness} harness`,
    xLabel: "registered sellers",
    yLabel: "milliseconds",
    series: [
      { label: "shop server: median", color: "#1f6feb", points: median, values: "below" },
      { label: "shop server: max", color: "#8250df", points: max },
      {
        label: "floor: do-nothing Deno UDP server, median",
        color: "#57606a",
        points: result.points.map((point) => [point.sellers, point.floorMedianMs] as const),
      },
      {
        label: `target ${TARGETS.fanoutFloorRatio}× floor`,
        color: "#d1242f",
        dashed: true,
        points: result.points.map((point) =>
          [point.sellers, point.floorMedianMs * TARGETS.fanoutFloorRatio] as const
        ),
      },
    ],
  });
}

/** Which code was measured: the commit, and how many files differ from it (bench/ aside). */
async function sourceInfo(root: string) {
  const git = async (...args: string[]) => {
    try {
      const out = await new Deno.Command("git", { args: ["-C", root, ...args], stdout: "piped" })
        .output();
      return new TextDecoder().decode(out.stdout).trim();
    } catch {
      return "";
    }
  };
  const status = await git("status", "--porcelain", "--", ".", ":(exclude)bench");
  return {
    root,
    commit: (await git("rev-parse", "HEAD")) || "unknown",
    subject: await git("log", "-1", "--format=%s"),
    changedFiles: status ? status.split("\n").length : 0,
  };
}

async function machineInfo() {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  let nproc = navigator.hardwareConcurrency;
  try {
    nproc = Number(text((await new Deno.Command("nproc", { stdout: "piped" }).output()).stdout));
  } catch {
    // No nproc: the runtime's count.
  }
  // Deno reads /proc only with --allow-all; cat needs just --allow-run.
  const cpuinfo = await new Deno.Command("cat", { args: ["/proc/cpuinfo"], stdout: "piped" })
    .output().then((out) => text(out.stdout), () => "");
  return {
    nproc,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryBytes: Deno.systemMemoryInfo().total,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    /** 1, 5 and 15 minute load averages when the bench began. */
    loadAverage: Deno.loadavg(),
  };
}

if (import.meta.main) Deno.exit(await main());
