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
 * deno task bench --store kv          # registrations, purchase and restart on Deno KV only
 * deno task bench --help             # every option (`_cli.ts`)
 * ```
 *
 * Registrations, purchase and restart run on each store `--store` names
 * (`kv`, `postgres` or `both`, the default), one after the other in the
 * same run, against the same floor; a second table, "Deno KV vs
 * PostgreSQL", sets their figures side by side (`storeComparison` in
 * results.json). PostgreSQL is a real PostgreSQL 15 started for the run
 * (`_store.ts`); when it is not installed, the default skips it with a
 * note (and fails in CI, `CI=true`), and `--store postgres|both` fails.
 * Fan-out and the offer book run on Deno KV.
 *
 * Exits 1 when a scenario fails or loses correctness (a purchase that does
 * not complete, a lost SEARCH in the smoke run, a restart that forgets
 * state); a missed speed target is reported, not a failure.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { runBook } from "./_book.ts";
import { type FanoutResult, runFanout } from "./_fanout.ts";
import { openHarness } from "./_harness.ts";
import { type BenchArgs, parseBenchArgs, type Scenario, SCENARIOS } from "./_cli.ts";
import { runPurchases } from "./_purchase.ts";
import { type RegistrationResult, runRegistrations } from "./_registrations.ts";
import { runRestart } from "./_restart.ts";
import { setTarget, target } from "./_server.ts";
import {
  type BenchStore,
  openStore,
  parseStores,
  postgresUnavailable,
  STORE_LABELS,
  type StoreKind,
} from "./_store.ts";
import { BenchError, formatCount, progress } from "./_stats.ts";
import { lineChart } from "./chart.ts";
import {
  formatStoreTable,
  formatTable,
  type Results,
  type StoreResults,
  storeTable,
  table,
  TARGETS,
} from "./_table.ts";

/** The scenarios run on each store of `--store`. */
const STORE_SCENARIOS: readonly Scenario[] = ["registrations", "purchase", "restart"];

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

async function main(): Promise<number> {
  const parsed = parseBenchArgs(Deno.args, {
    colors: Deno.stderr.isTerminal() && !Deno.noColor,
  });
  if (!parsed.ok) return parsed.exitCode;
  const values = parsed.value;
  const only = values.only;
  const mode = values.smoke ? "smoke" : "full";
  const sizes = resize(SIZES[mode], values);
  let stores: StoreKind[] = parseStores(values.store ?? "both");
  const storeRun = only.some((name) => STORE_SCENARIOS.includes(name));
  let postgresSkipped: string | undefined;
  const missing = stores.includes("postgres") && storeRun ? postgresUnavailable() : undefined;
  if (missing !== undefined) {
    if (values.store !== undefined || Deno.env.get("CI") === "true") {
      console.error(
        `Cannot run the bench on PostgreSQL: ${missing}; or run it with --store kv` +
          (values.store === undefined ? " (CI=true: PostgreSQL must run in CI)" : ""),
      );
      return 1;
    }
    postgresSkipped = missing;
    stores = stores.filter((kind) => kind !== "postgres");
    progress(`PostgreSQL skipped: ${missing}`);
  }
  const resized = [values.levels, values.timed, values.restartSize].some((v) => v !== undefined);
  const official = mode === "full" && only.length === SCENARIOS.length && !values.profile &&
    !resized && stores.includes("kv");
  const outDir = values.out ??
    (official
      ? fileURLToPath(new URL(".", import.meta.url))
      : await Deno.makeTempDir({ prefix: "shop-bench-out-" }));
  const removeOut = values.out === undefined && !official && mode === "smoke";
  const profileFor = (name: Scenario, store?: BenchStore) =>
    values.profile
      ? `${values.profile}/${name}${store && store.kind !== "kv" ? `-${store.kind}` : ""}`
      : undefined;

  if (values.target) setTarget(values.target);
  const source = await sourceInfo(target());
  const machine = await machineInfo();
  await using harness = await openHarness(values.harness);
  progress(
    `${mode} bench on ${machine.nproc} CPUs (${machine.cpu}), Deno ${machine.deno}; ` +
      `scenarios: ${only.join(", ")}; stores: ${
        stores.map((kind) => STORE_LABELS[kind]).join(", ")
      }; measuring ${source.root} at ${source.commit.slice(0, 10)}` +
      (source.changedFiles > 0 ? ` with ${source.changedFiles} uncommitted change(s)` : "") +
      `; harness: ${harness.kind} (${harness.detail})`,
  );
  const harnessInfo = { kind: harness.kind, detail: harness.detail, fileLimit: harness.fileLimit };
  const results: Results = {};
  const errors: { scenario: string; error: string }[] = [];
  const run = async <T>(
    name: Scenario,
    body: () => Promise<T>,
    label: string = name,
  ): Promise<T | undefined> => {
    if (!only.includes(name)) return undefined;
    progress(`${label}: starting`);
    try {
      return await body();
    } catch (error) {
      const text = error instanceof Error ? `${error.message}` : String(error);
      progress(`${label}: FAILED: ${text}`);
      errors.push({ scenario: label, error: text });
      return undefined;
    }
  };
  await using opened = new AsyncDisposableStack();
  const benchStores: BenchStore[] = [];
  for (const kind of storeRun ? stores : ["kv" as const]) {
    try {
      benchStores.push(opened.use(await openStore(kind)));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      progress(`${STORE_LABELS[kind]}: FAILED: ${text}`);
      errors.push({ scenario: `store ${kind}`, error: text });
    }
  }
  const byStore: Partial<Record<StoreKind, StoreResults>> = {};
  for (const store of benchStores) byStore[store.kind] = {};
  /** Runs a scenario on each store in turn. */
  const onEachStore = async <K extends keyof StoreResults>(
    name: K & Scenario,
    body: (store: BenchStore) => Promise<StoreResults[K]>,
  ) => {
    for (const store of benchStores) {
      byStore[store.kind]![name] = await run(name, () => body(store), `${name} (${store.label})`);
    }
  };
  await onEachStore("registrations", (store) => {
    // One floor for every store: the first run measures it, the others reuse it.
    const first = Object.values(byStore).find((side) => side.registrations)?.registrations;
    return runRegistrations({
      harness,
      ...sizes.registrations,
      store,
      ...(first
        ? {
          floor: {
            perSecond: first.floorPerSecond,
            latencyMs: first.floorLatencyMs,
            widePerSecond: first.floorWidePerSecond,
          },
        }
        : {}),
      ...opt(profileFor("registrations", store)),
    });
  });
  results.registrations = byStore.kv?.registrations;
  results.fanout = await run("fanout", async () => {
    const result = await runFanout({ harness, ...sizes.fanout, ...opt(profileFor("fanout")) });
    const lost = result.points.reduce((sum, point) => sum + point.lost, 0);
    if (mode === "smoke" && lost > 0) throw new BenchError(`${lost} SEARCH datagrams were lost`);
    return result;
  });
  await onEachStore(
    "purchase",
    (store) => runPurchases({ ...sizes.purchase, store, ...opt(profileFor("purchase", store)) }),
  );
  results.purchase = byStore.kv?.purchase;
  await onEachStore(
    "restart",
    (store) => runRestart({ ...sizes.restart, store, ...opt(profileFor("restart", store)) }),
  );
  results.restart = byStore.kv?.restart;

  results.book = await run(
    "book",
    () => runBook({ ...sizes.book, strict: mode === "smoke", ...opt(profileFor("book")) }),
  );

  const rows = table(results, harness.kind);
  console.log(`harness: ${harness.kind} (${harness.detail})`);
  console.log(formatTable(rows));
  const compared = storeRun && (stores.length > 1 || stores[0] !== "kv");
  const storeRows = compared ? storeTable(byStore.kv ?? {}, byStore.postgres ?? {}) : [];
  if (compared) {
    console.log(`\nDeno KV vs PostgreSQL (one run, the same sizes and floor)`);
    console.log(formatStoreTable(storeRows));
  } else if (postgresSkipped) {
    console.log(`\nDeno KV vs PostgreSQL: PostgreSQL skipped: ${postgresSkipped}`);
  }
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
      storeComparison: {
        stores,
        ...(postgresSkipped ? { postgresSkipped } : {}),
        details: Object.fromEntries(benchStores.map((store) => [store.kind, store.detail])),
        rows: storeRows,
        /** Deno KV's results are `results.registrations`, `.purchase` and `.restart`. */
        postgres: byStore.postgres ?? null,
      },
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

type Sizes = typeof SIZES.full;

/** The sizes with `--levels`, `--timed` and `--restart-size` applied (checked by `_cli.ts`). */
function resize(base: Sizes, values: BenchArgs): Sizes {
  const sizes = structuredClone(base);
  if (values.levels !== undefined) sizes.registrations.levels = [...values.levels];
  if (values.timed !== undefined) {
    sizes.registrations.timed = values.timed;
    sizes.registrations.window = Math.ceil(values.timed / 3);
  }
  if (values.restartSize !== undefined) sizes.restart = { ...values.restartSize };
  return sizes;
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
