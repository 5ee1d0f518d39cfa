/**
 * `deno task bench`: the performance targets of issue 7, measured against
 * real `shop server` processes on 127.0.0.1 with the load generated here.
 *
 * Prints progress on standard error, then a table (scenario, figure,
 * target, met?) on standard output; writes `results.json`,
 * `registrations.svg` and `fanout.svg` into `bench/` for a full run of
 * every scenario, or into a temporary directory otherwise (`--smoke`,
 * `--only`, `--profile`) unless `--out DIR` says where.
 *
 * ```sh
 * deno task bench                    # the full bench, several minutes
 * deno task bench:smoke              # a tiny version of every scenario, for CI
 * deno task bench --only purchase    # one scenario (registrations, fanout, purchase, restart)
 * deno task bench --profile /tmp/prof --only registrations   # plus the server's CPU profile
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
import { type FanoutResult, runFanout } from "./_fanout.ts";
import { type PurchaseResult, runPurchases } from "./_purchase.ts";
import { type RegistrationResult, runRegistrations } from "./_registrations.ts";
import { type RestartResult, runRestart } from "./_restart.ts";
import { setTarget, target } from "./_server.ts";
import { BenchError, formatCount, progress } from "./_stats.ts";
import { lineChart } from "./chart.ts";

const SCENARIOS = ["registrations", "fanout", "purchase", "restart"] as const;
type Scenario = typeof SCENARIOS[number];

/** The sizes of a full run and of the smoke run. */
const SIZES = {
  full: {
    registrations: {
      levels: [0, 25_000, 50_000, 75_000, 100_000],
      timed: 15_000,
      window: 5_000,
      inFlight: 32,
      fillInFlight: 64,
      sockets: 64,
    },
    fanout: { levels: [1_000, 2_500, 5_000, 7_500, 10_000], repeats: 7 },
    purchase: { count: 50, warmup: 3, offerWindow: "50ms" },
    restart: { peers: 100_000, searches: 10_000 },
  },
  smoke: {
    registrations: {
      levels: [0, 250],
      timed: 250,
      window: 125,
      inFlight: 32,
      fillInFlight: 64,
      sockets: 16,
    },
    fanout: { levels: [50, 100], repeats: 3 },
    purchase: { count: 3, warmup: 1, offerWindow: "50ms" },
    restart: { peers: 1_000, searches: 50 },
  },
};

/** The targets of issue 7. */
const TARGETS = {
  registrationsPerSecond: 25_000,
  /** "No slower with 100,000 peers than with none": within 10% for noise. */
  slowdownRatio: 0.9,
  fanoutMsPerSeller: 0.01,
  purchaseMedianMs: 30,
  restartMs: 2_000,
  bytesPerPeer: 2_048,
};

interface Results {
  registrations?: RegistrationResult;
  fanout?: FanoutResult;
  purchase?: PurchaseResult;
  restart?: RestartResult;
}

interface Row {
  scenario: string;
  figure: string;
  target: string;
  met: boolean | undefined;
}

const USAGE = "Usage: deno task bench [--smoke] [--only registrations,fanout,purchase,restart] " +
  "[--out DIR] [--profile DIR] [--target DIR]";

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
        "  --target   measure the shop server of this checkout (e.g. a clean git worktree)",
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
  progress(
    `${mode} bench on ${machine.nproc} CPUs (${machine.cpu}), Deno ${machine.deno}; ` +
      `scenarios: ${only.join(", ")}; measuring ${source.root} at ${source.commit.slice(0, 10)}` +
      (source.changedFiles > 0 ? ` with ${source.changedFiles} uncommitted change(s)` : ""),
  );
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
    () => runRegistrations({ ...sizes.registrations, ...opt(profileFor("registrations")) }),
  );
  results.fanout = await run("fanout", async () => {
    const result = await runFanout({ ...sizes.fanout, ...opt(profileFor("fanout")) });
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

  const rows = table(results);
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
      await Deno.writeTextFile(charts.at(-1)!, registrationsChart(results.registrations));
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

function table(results: Results): Row[] {
  const rows: Row[] = [];
  const reg = results.registrations;
  if (reg) {
    for (const point of reg.points) {
      rows.push({
        scenario: `1 registrations, ${reg.inFlight} in flight`,
        figure: `${formatCount(point.perSecond)}/s with ${
          formatCount(point.registered)
        } registered (windows ${formatCount(point.slowestPerSecond)}–${
          formatCount(point.fastestPerSecond)
        }; p99 ${point.latencyMs.p99} ms; ${point.retransmits} resent)`,
        target: `≥ ${formatCount(TARGETS.registrationsPerSecond)}/s`,
        met: point.perSecond >= TARGETS.registrationsPerSecond,
      });
    }
    rows.push({
      scenario: "1 registrations, floor",
      figure: `${formatCount(reg.floorPerSecond)}/s from a bare UDP echo process (no server)`,
      target: "(harness ceiling)",
      met: undefined,
    });
    const first = reg.points[0];
    const last = reg.points.at(-1);
    if (first && last && last !== first) {
      const ratio = last.perSecond / first.perSecond;
      rows.push({
        scenario: "1 registrations, full vs empty",
        figure: `${ratio.toFixed(2)}× the rate at ${formatCount(first.registered)} with ${
          formatCount(last.registered)
        } registered`,
        target: `no slower (≥ ${TARGETS.slowdownRatio}×)`,
        met: ratio >= TARGETS.slowdownRatio,
      });
    }
    rows.push({
      scenario: "1 memory, peers only",
      figure: `${formatCount(reg.bytesPerPeer)} B/peer (${formatCount(reg.peers)} peers)`,
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B/peer`,
      met: reg.bytesPerPeer <= TARGETS.bytesPerPeer,
    });
  }
  const fan = results.fanout;
  if (fan) {
    for (const point of fan.points) {
      const limit = point.sellers * TARGETS.fanoutMsPerSeller;
      rows.push({
        scenario: `2 SEARCH fan-out, ${formatCount(point.sellers)} sellers`,
        figure: `median ${point.medianMs} ms, max ${point.maxMs} ms, ${point.lost} lost ` +
          `(floor ${point.floorMedianMs} ms)`,
        target: `median ≤ ${formatCount(limit)} ms, none lost`,
        met: point.medianMs <= limit && point.lost === 0,
      });
    }
  }
  const buy = results.purchase;
  if (buy) {
    rows.push({
      scenario: `3 purchase (offer window ${buy.offerWindow})`,
      figure:
        `median ${buy.totalMs.median} ms, p90 ${buy.totalMs.p90} ms, max ${buy.totalMs.max} ms ` +
        `(n=${buy.totalMs.count})`,
      target: `median ≤ ${TARGETS.purchaseMedianMs} ms`,
      met: buy.totalMs.median <= TARGETS.purchaseMedianMs,
    });
    rows.push({
      scenario: "3 purchase, its two halves",
      figure: `LOOKING_FOR → FOUND median ${buy.searchMs.median} ms; ` +
        `BUY → Shipping_Info median ${buy.transactionMs.median} ms (plain TCP, no TLS)`,
      target: "",
      met: undefined,
    });
  }
  const restart = results.restart;
  if (restart) {
    rows.push({
      scenario: "4 restart",
      figure: `${formatCount(restart.restartMs)} ms to answer (${
        formatCount(restart.registered)
      } peers, ${formatCount(restart.openSearches)} open searches)`,
      target: `≤ ${formatCount(TARGETS.restartMs)} ms`,
      met: restart.restartMs <= TARGETS.restartMs,
    });
    rows.push({
      scenario: "4 restart, its parts",
      figure: `spawn → listening ${formatCount(restart.listeningMs)} ms; SIGTERM → exit ${
        formatCount(restart.stopMs)
      } ms; setup ${formatCount(restart.setupMs / 1000)} s`,
      target: "",
      met: undefined,
    });
    rows.push({
      scenario: "4 memory, after the restart",
      figure: `${formatCount(restart.restartedBytesPerPeer)} B/peer (RSS ${
        formatCount(restart.restartedRssBytes / 2 ** 20)
      } MiB: the state loaded from KV)`,
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B/peer`,
      met: restart.restartedBytesPerPeer <= TARGETS.bytesPerPeer,
    });
    rows.push({
      scenario: "4 memory, peers and searches",
      figure: `${formatCount(restart.bytesPerPeer)} B/peer (RSS ${
        formatCount(restart.rssBytes / 2 ** 20)
      } MiB, fresh ${formatCount(restart.baselineRssBytes / 2 ** 20)} MiB)`,
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B/peer`,
      met: restart.bytesPerPeer <= TARGETS.bytesPerPeer,
    });
  }
  return rows;
}

function formatTable(rows: readonly Row[]): string {
  const cells = [
    ["scenario", "figure", "target", "met?"],
    ...rows.map((row) => [
      row.scenario,
      row.figure,
      row.target,
      row.met === undefined ? "-" : row.met ? "yes" : "NO",
    ]),
  ];
  const widths = [0, 1, 2, 3].map((column) =>
    Math.max(...cells.map((row) => [...row[column]!].length))
  );
  const line = (row: string[]) =>
    `| ${row.map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length)).join(" | ")} |`;
  return [
    line(cells[0]!),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...cells.slice(1).map(line),
  ].join("\n");
}

/** The chart of scenario 1: throughput against registered peers. */
export function registrationsChart(result: RegistrationResult): string {
  const points = result.points.map((point) => [point.registered, point.perSecond] as const);
  const xMax = Math.max(...points.map(([x]) => x), 1);
  return lineChart({
    title: "Durable registrations per second vs peers already registered",
    subtitle: `classic REGISTER, ${result.inFlight} in flight, reply after the KV commit`,
    xLabel: "peers already registered",
    yLabel: "registrations per second",
    yMax: Math.max(
      TARGETS.registrationsPerSecond * 1.1,
      result.floorPerSecond,
      ...points.map(([, y]) => y),
    ),
    series: [
      { label: "shop server: median window", color: "#1f6feb", points, values: "above" },
      {
        label: "shop server: slowest window",
        color: "#8250df",
        points: result.points.map((point) => [point.registered, point.slowestPerSecond] as const),
      },
      {
        label: `floor: bare UDP echo, ${formatCount(result.floorPerSecond)}/s`,
        color: "#57606a",
        dashed: true,
        points: [[0, result.floorPerSecond], [xMax, result.floorPerSecond]],
      },
      {
        label: `target ${formatCount(TARGETS.registrationsPerSecond)}/s`,
        color: "#d1242f",
        dashed: true,
        points: [[0, TARGETS.registrationsPerSecond], [xMax, TARGETS.registrationsPerSecond]],
      },
    ],
  });
}

/** The chart of scenario 2: fan-out time against sellers. */
export function fanoutChart(result: FanoutResult): string {
  const median = result.points.map((point) => [point.sellers, point.medianMs] as const);
  const max = result.points.map((point) => [point.sellers, point.maxMs] as const);
  const xMax = Math.max(...median.map(([x]) => x), 1);
  const lost = result.points.reduce((sum, point) => sum + point.lost, 0);
  return lineChart({
    title: "SEARCH fan-out: LOOKING_FOR sent → last SEARCH received",
    subtitle: `${result.points[0]?.runsMs.length ?? 0} searches per point, ${lost} SEARCH lost; ` +
      `${formatCount(result.sockets)} receiving sockets`,
    xLabel: "registered sellers",
    yLabel: "milliseconds",
    series: [
      { label: "median", color: "#1f6feb", points: median, values: "below" },
      { label: "max", color: "#8250df", points: max },
      {
        label: "floor: bare Deno sender, median",
        color: "#57606a",
        points: result.points.map((point) => [point.sellers, point.floorMedianMs] as const),
      },
      {
        label: "target (10 ms per 1,000)",
        color: "#d1242f",
        dashed: true,
        points: [[0, 0], [xMax, xMax * TARGETS.fanoutMsPerSeller]],
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
