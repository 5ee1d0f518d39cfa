/**
 * Scenario 1: durable registrations per second with a fixed number in
 * flight, measured on one server as it fills up (0, 10,000, … peers
 * already registered). Between measurements the server is filled to the
 * next level by the same path, faster and untimed.
 *
 * @module
 */
import type { Harness, SocketGroup } from "./_harness.ts";
import type { RegisterResult } from "./_load.ts";
import { directorySize, ServerProcess, tempDir } from "./_server.ts";
import type { BenchStore, StoreKind } from "./_store.ts";
import { formatCount, progress, quantile, round, sleep } from "./_stats.ts";

/** Options for {@linkcode runRegistrations}. */
export interface RegistrationOptions {
  /** The load generator (and receiver) for the server and its floor. */
  readonly harness: Harness;
  /** Registered peers before each timed run, ascending. */
  readonly levels: readonly number[];
  /** Registrations timed at each level. */
  readonly timed: number;
  /** The timed run's rate is the median over windows of this many registrations. */
  readonly window: number;
  /** REGISTERs outstanding while timed. */
  readonly inFlight: number;
  /** Also timed once at the end, and on the floor: more outstanding. */
  readonly wideInFlight: number;
  /** REGISTERs outstanding while filling to the next level. */
  readonly fillInFlight: number;
  /** Sockets that send the REGISTERs. */
  readonly sockets: number;
  /** The store the server keeps its state in. */
  readonly store: BenchStore;
  /** The floor measured already in this run (by the run on another store); else measured here. */
  readonly floor?: FloorRates;
  /** Write the server's CPU profile here. */
  readonly profileDir?: string;
}

/** One timed run. */
export interface RegistrationPoint {
  /** Peers registered when the run began. */
  readonly registered: number;
  readonly count: number;
  /** The median of the windows' rates. */
  readonly perSecond: number;
  /** The slowest and the fastest window. */
  readonly slowestPerSecond: number;
  readonly fastestPerSecond: number;
  /** Over the whole timed run. */
  readonly overallPerSecond: number;
  readonly elapsedMs: number;
  readonly retransmits: number;
  readonly latencyMs: RegisterResult["latencyMs"];
}

/** The floor's rates (see {@linkcode RegistrationResult.floorPerSecond}). */
export interface FloorRates {
  readonly perSecond: number;
  readonly latencyMs: RegisterResult["latencyMs"];
  readonly widePerSecond: number;
}

/** What scenario 1 measured. */
export interface RegistrationResult {
  /** The server's store. */
  readonly store: StoreKind;
  readonly inFlight: number;
  readonly sockets: number;
  readonly points: RegistrationPoint[];
  /** Peers registered at the end. */
  readonly peers: number;
  /** The server's VmRSS when it had just started, and at the end. */
  readonly baselineRssBytes: number;
  readonly rssBytes: number;
  /** (end RSS − start RSS) / peers: registrations only, no searches. */
  readonly bytesPerPeer: number;
  /** Size of the data directory (KV file, WAL, log) at the end. */
  readonly dataBytes: number;
  /**
   * What the store held when the server had just started and once it had
   * stopped (`_store.ts`: the KV files, or `pg_database_size`), and the
   * growth per registered peer.
   */
  readonly storedBytesAtStart: number;
  readonly storedBytes: number;
  readonly storedBytesPerPeer: number;
  /** PostgreSQL: each table's size (indexes and TOAST included) at the end. */
  readonly tableBytes?: Record<string, number>;
  /**
   * The same timed run against the floor (`_floor.ts`: a bare Deno process
   * that answers REGISTERED at once, keeping nothing), with the same
   * harness: what a Deno UDP server can answer on this machine.
   */
  readonly floorPerSecond: number;
  readonly floorLatencyMs: RegisterResult["latencyMs"];
  /** The same with `wideInFlight` outstanding: the server (at the end) and its floor. */
  readonly wideInFlight: number;
  readonly wide: RegistrationPoint;
  readonly floorWidePerSecond: number;
}

/** Runs scenario 1 against a fresh server. */
export async function runRegistrations(options: RegistrationOptions): Promise<RegistrationResult> {
  const { harness } = options;
  const pool = await harness.open(options.sockets);
  const floor = options.floor ?? await floorRates(pool, options);
  if (!options.floor) {
    progress(
      `registrations: the floor (a do-nothing Deno UDP server) answers ${
        formatCount(floor.perSecond)
      }/s with ${options.inFlight} in flight, ${
        formatCount(floor.widePerSecond)
      }/s with ${options.wideInFlight} (${harness.kind} harness)`,
    );
  }
  const label = `registrations (${options.store.label})`;
  await using dir = await tempDir();
  await using store = await options.store.fresh();
  await using server = await ServerProcess.start({
    dataDir: dir.path,
    store,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    await sleep(300);
    const baselineRssBytes = await server.memory();
    const storedBytesAtStart = await store.storedBytes(dir.path);
    const points: RegistrationPoint[] = [];
    let registered = 0;
    const perPeerMs = 2; // generous: 500/s at the very least
    const timed = async (inFlight: number) => {
      const run = await harness.register({
        group: pool,
        serverPort: server.port,
        count: options.timed,
        inFlight,
        namePrefix: "p",
        nameBase: registered,
        timeoutMs: 10_000 + options.timed * perPeerMs,
        window: options.window,
      });
      const point = toPoint(registered, run);
      progress(
        `${label}: ${formatCount(point.perSecond)}/s with ${
          formatCount(registered)
        } registered (median of windows of ${formatCount(options.window)}: ${
          run.windowRates.map(formatCount).join(", ")
        }; ${inFlight} in flight, latency median ${point.latencyMs.median} ms, ` +
          `${run.retransmits} retransmitted)`,
      );
      registered += options.timed;
      return point;
    };
    for (const level of options.levels) {
      if (level > registered) {
        const fill = level - registered;
        progress(`${label}: filling to ${formatCount(level)} peers`);
        await harness.register({
          group: pool,
          serverPort: server.port,
          count: fill,
          inFlight: options.fillInFlight,
          namePrefix: "p",
          nameBase: registered,
          timeoutMs: 10_000 + fill * perPeerMs,
        });
        registered = level;
      }
      points.push(await timed(options.inFlight));
    }
    const wide = await timed(options.wideInFlight);
    await sleep(500);
    const rssBytes = await server.memory();
    await server.stop("SIGTERM");
    const storedBytes = await store.storedBytes(dir.path);
    const tableBytes = await store.tableBytes();
    progress(
      `${label}: ${formatCount((rssBytes - baselineRssBytes) / registered)} B of server RSS and ${
        formatCount((storedBytes - storedBytesAtStart) / registered)
      } B stored per peer (${formatCount(registered)} peers)`,
    );
    return {
      store: store.kind,
      inFlight: options.inFlight,
      sockets: options.sockets,
      points,
      peers: registered,
      baselineRssBytes,
      rssBytes,
      bytesPerPeer: round((rssBytes - baselineRssBytes) / registered, 0),
      dataBytes: await directorySize(dir.path),
      storedBytesAtStart,
      storedBytes,
      storedBytesPerPeer: round((storedBytes - storedBytesAtStart) / registered, 0),
      ...(tableBytes ? { tableBytes } : {}),
      floorPerSecond: floor.perSecond,
      floorLatencyMs: floor.latencyMs,
      wideInFlight: options.wideInFlight,
      wide,
      floorWidePerSecond: floor.widePerSecond,
    };
  } catch (error) {
    throw server.explain(error);
  }
}

function toPoint(registered: number, run: RegisterResult): RegistrationPoint {
  return {
    registered,
    count: run.count,
    perSecond: round(quantile(run.windowRates, 0.5), 0),
    slowestPerSecond: round(Math.min(...run.windowRates), 0),
    fastestPerSecond: round(Math.max(...run.windowRates), 0),
    overallPerSecond: round(run.perSecond, 0),
    elapsedMs: round(run.elapsedMs, 1),
    retransmits: run.retransmits,
    latencyMs: roundSummary(run.latencyMs),
  };
}

function roundSummary(latency: RegisterResult["latencyMs"]): RegisterResult["latencyMs"] {
  return {
    median: round(latency.median),
    p90: round(latency.p90),
    p99: round(latency.p99),
    max: round(latency.max),
    count: latency.count,
  };
}

/**
 * Registrations per second against the floor, with the timed run's size
 * and windows, after an untimed warm-up (the floor is JIT-compiled too).
 */
async function floorRates(pool: SocketGroup, options: RegistrationOptions): Promise<FloorRates> {
  await using floor = await ServerProcess.startFloor();
  const run = (inFlight: number, namePrefix: string, window = options.window) =>
    options.harness.register({
      group: pool,
      serverPort: floor.port,
      count: options.timed,
      inFlight,
      namePrefix,
      window,
      timeoutMs: 10_000 + options.timed * 2,
    });
  await run(options.inFlight, "warm");
  const narrow = await run(options.inFlight, "floor");
  const wide = await run(options.wideInFlight, "wide");
  await floor.stop("SIGTERM");
  return {
    perSecond: round(quantile(narrow.windowRates, 0.5), 0),
    latencyMs: roundSummary(narrow.latencyMs),
    widePerSecond: round(quantile(wide.windowRates, 0.5), 0),
  };
}
