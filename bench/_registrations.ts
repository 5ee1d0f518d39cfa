/**
 * Scenario 1: durable registrations per second with a fixed number in
 * flight, measured on one server as it fills up (0, 10,000, … peers
 * already registered). Between measurements the server is filled to the
 * next level by the same path, faster and untimed.
 *
 * @module
 */
import { registerMany, type RegisterResult } from "./_load.ts";
import { directorySize, ServerProcess, tempDir } from "./_server.ts";
import { formatCount, progress, quantile, round, sleep } from "./_stats.ts";
import { UdpPool } from "./_udp.ts";

/** Options for {@linkcode runRegistrations}. */
export interface RegistrationOptions {
  /** Registered peers before each timed run, ascending. */
  readonly levels: readonly number[];
  /** Registrations timed at each level. */
  readonly timed: number;
  /** The timed run's rate is the median over windows of this many registrations. */
  readonly window: number;
  /** REGISTERs outstanding while timed. */
  readonly inFlight: number;
  /** REGISTERs outstanding while filling to the next level. */
  readonly fillInFlight: number;
  /** Sockets that send the REGISTERs. */
  readonly sockets: number;
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

/** What scenario 1 measured. */
export interface RegistrationResult {
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
   * The same timed run against the floor (`_floor.ts`: a bare Deno process
   * that answers REGISTERED at once, keeping nothing): the most this
   * harness and Deno's UDP allow on this machine.
   */
  readonly floorPerSecond: number;
}

/** Runs scenario 1 against a fresh server. */
export async function runRegistrations(options: RegistrationOptions): Promise<RegistrationResult> {
  await using dir = await tempDir();
  await using server = await ServerProcess.start({
    dataDir: dir.path,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    await using pool = new UdpPool(options.sockets);
    const floorPerSecond = await floorRate(pool, options);
    progress(
      `registrations: the floor (a bare UDP echo process) answers ${
        formatCount(floorPerSecond)
      }/s with ${options.inFlight} in flight`,
    );
    await sleep(300);
    const baselineRssBytes = await server.memory();
    const points: RegistrationPoint[] = [];
    let registered = 0;
    const name = (offset: number) => (i: number) => `p${offset + i}`;
    const perPeerMs = 2; // generous: 500/s at the very least
    for (const level of options.levels) {
      if (level > registered) {
        const fill = level - registered;
        progress(`registrations: filling to ${formatCount(level)} peers`);
        await registerMany({
          pool,
          serverPort: server.port,
          count: fill,
          inFlight: options.fillInFlight,
          name: name(registered),
          timeoutMs: 10_000 + fill * perPeerMs,
        });
        registered = level;
      }
      const run = await registerMany({
        pool,
        serverPort: server.port,
        count: options.timed,
        inFlight: options.inFlight,
        name: name(registered),
        timeoutMs: 10_000 + options.timed * perPeerMs,
        window: options.window,
      });
      points.push({
        registered,
        count: run.count,
        perSecond: round(quantile(run.windowRates, 0.5), 0),
        slowestPerSecond: round(Math.min(...run.windowRates), 0),
        fastestPerSecond: round(Math.max(...run.windowRates), 0),
        overallPerSecond: round(run.perSecond, 0),
        elapsedMs: round(run.elapsedMs, 1),
        retransmits: run.retransmits,
        latencyMs: run.latencyMs,
      });
      progress(
        `registrations: ${formatCount(points.at(-1)!.perSecond)}/s with ${
          formatCount(registered)
        } registered (median of windows of ${formatCount(options.window)}: ${
          run.windowRates.map(formatCount).join(", ")
        }; ${options.inFlight} in flight, latency median ${run.latencyMs.median} ms, ` +
          `${run.retransmits} retransmitted)`,
      );
      registered += options.timed;
    }
    await sleep(500);
    const rssBytes = await server.memory();
    await server.stop("SIGTERM");
    return {
      inFlight: options.inFlight,
      sockets: options.sockets,
      points,
      peers: registered,
      baselineRssBytes,
      rssBytes,
      bytesPerPeer: round((rssBytes - baselineRssBytes) / registered, 0),
      dataBytes: await directorySize(dir.path),
      floorPerSecond: round(floorPerSecond, 0),
    };
  } catch (error) {
    throw server.explain(error);
  }
}

/** Registrations per second against the floor, with the timed run's size. */
async function floorRate(pool: UdpPool, options: RegistrationOptions): Promise<number> {
  await using floor = await ServerProcess.startFloor();
  const run = await registerMany({
    pool,
    serverPort: floor.port,
    count: options.timed,
    inFlight: options.inFlight,
    name: (i) => `floor${i}`,
    timeoutMs: 10_000 + options.timed * 2,
  });
  await floor.stop("SIGTERM");
  return run.perSecond;
}
