/**
 * Scenario 2: SEARCH fan-out. Classic sellers (sockets of the harness that
 * only count SEARCH datagrams) are registered in growing numbers; at each
 * number a fresh buyer sends LOOKING_FOR several times, and the time from
 * sending it to the last SEARCH received is measured, with the SEARCHes
 * lost. The floor (`_floor.ts`, a do-nothing Deno UDP server) sends the same
 * datagrams to the same sockets on request, received by the same harness.
 *
 * At the largest number the searches also show what a search keeps (the
 * server's RSS before and after them, all still open) and whether the
 * server answers other peers during a fan-out: a REGISTER sent as soon as
 * the first SEARCH arrives, timed until its answer.
 *
 * Each seller needs a receiving port. When the file-descriptor limit allows
 * fewer sockets than sellers, several sellers announce the same port (the
 * server sends SEARCH to the REGISTER's source IP and the announced port).
 *
 * @module
 */
import type { FanoutRun, Harness, SocketGroup } from "./_harness.ts";
import { ServerProcess, tempDir } from "./_server.ts";
import { BenchError, formatCount, progress, round, sleep, summary } from "./_stats.ts";

/** Options for {@linkcode runFanout}. */
export interface FanoutOptions {
  /** The load generator and receiver for the server and its floor. */
  readonly harness: Harness;
  /** Sellers registered at each measurement, ascending. */
  readonly levels: readonly number[];
  /** LOOKING_FORs per level (a buyer may have at most 32 open searches). */
  readonly repeats: number;
  /** LOOKING_FORs at the largest level, the server's RSS read before and after. */
  readonly repeatsAtLargest: number;
  /** Then this many more, each with a REGISTER sent during the fan-out. */
  readonly probes: number;
  /** Write the server's CPU profile here. */
  readonly profileDir?: string;
}

/** Fan-out at one number of sellers. */
export interface FanoutPoint {
  readonly sellers: number;
  /** LOOKING_FOR sent → last SEARCH received, per repeat, in ms. */
  readonly runsMs: number[];
  readonly medianMs: number;
  readonly maxMs: number;
  /** LOOKING_FOR sent → first SEARCH received: median, in ms. */
  readonly firstMedianMs: number;
  /** SEARCH datagrams not received, over all repeats. */
  readonly lost: number;
  /**
   * The same datagrams sent by the floor (`_floor.ts`: a do-nothing Deno
   * UDP server) instead of the server, to the same sockets: median and max
   * in ms, and those lost.
   */
  readonly floorRunsMs: number[];
  readonly floorMedianMs: number;
  readonly floorMaxMs: number;
  readonly floorLost: number;
}

/** What the searches at the largest level kept, and the REGISTERs sent during fan-outs. */
export interface FanoutLargest {
  readonly sellers: number;
  readonly searches: number;
  /** The server's VmRSS before the first of them and after the last (all still open). */
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly rssGrowthBytes: number;
  /** REGISTER sent at the first SEARCH of a fan-out → REGISTERED, per probe, in ms. */
  readonly probeMs: number[];
  /** When the probes were answered and the fan-out's last SEARCH arrived, after LOOKING_FOR. */
  readonly probeAnsweredMs: number[];
  readonly probeFanoutLastMs: number[];
}

/** What scenario 2 measured. */
export interface FanoutResult {
  readonly harness: Harness["kind"];
  /** Receiving sockets used (sellers share them when fewer than sellers). */
  readonly sockets: number;
  /** The harness's limit of open files. */
  readonly fileLimit: number;
  readonly points: FanoutPoint[];
  readonly largest: FanoutLargest;
}

/** Runs scenario 2 against a fresh server. */
export async function runFanout(options: FanoutOptions): Promise<FanoutResult> {
  const { harness } = options;
  const maxSellers = Math.max(...options.levels);
  const limit = harness.fileLimit;
  // Leave room for the runtime, the buyer, pipes and the other helpers.
  const sockets = Math.max(
    1,
    Math.min(maxSellers, limit - (harness.kind === "native" ? 200 : 500)),
  );
  if (sockets < maxSellers) {
    progress(
      `fan-out: the harness may open ${limit} files: ${
        formatCount(maxSellers)
      } sellers share ${sockets} sockets`,
    );
  }
  await using dir = await tempDir();
  const sellers = await harness.open(sockets);
  // Socket 0 is the buyer; socket 1 sends the probes.
  const buyerSockets = await harness.open(2);
  const portsFile = `${dir.path}/seller-ports.json`;
  await Deno.writeTextFile(
    portsFile,
    JSON.stringify(Array.from({ length: maxSellers }, (_, i) => sellers.port(i % sockets))),
  );
  await using floor = await ServerProcess.startFloor(portsFile);
  await using server = await ServerProcess.start({
    dataDir: dir.path,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    const points: FanoutPoint[] = [];
    let largest: FanoutLargest | undefined;
    let registered = 0;
    let probes = 0;
    const timeoutMs = (expected: number) => 3_000 + expected / 5;
    for (const level of options.levels) {
      progress(`fan-out: registering sellers up to ${formatCount(level)}`);
      // Seller i sends its REGISTER from socket i % sockets and announces it.
      await harness.register({
        group: sellers,
        firstSocket: registered % sockets,
        serverPort: server.port,
        count: level - registered,
        inFlight: 64,
        namePrefix: "seller",
        nameBase: registered,
        timeoutMs: 30_000 + (level - registered) * 2,
      });
      registered = level;
      const buyer = `buyer${level}`;
      await harness.register({
        group: buyerSockets,
        serverPort: server.port,
        count: 1,
        inFlight: 1,
        namePrefix: buyer,
        timeoutMs: 10_000,
      });
      const isLargest = level === maxSellers;
      const repeats = isLargest
        ? Math.max(options.repeats, options.repeatsAtLargest)
        : options.repeats;
      const search = (repeat: number, probe?: string) =>
        harness.fanout({
          sellers,
          expected: level,
          buyer: buyerSockets,
          serverPort: server.port,
          text: `LOOKING_FOR ${buyer}-q${repeat} ${buyer}0 Lamp${repeat} a brass desk lamp 40`,
          timeoutMs: timeoutMs(level),
          ...(probe ? { probe } : {}),
        });
      const runs: FanoutRun[] = [];
      await sleep(200);
      const rssBeforeBytes = await server.memory();
      for (let repeat = 0; repeat < repeats; repeat++) {
        runs.push(checked(await search(repeat), level));
        await sleep(100);
      }
      if (isLargest) {
        await sleep(500);
        const rssAfterBytes = await server.memory();
        const probeRuns: FanoutRun[] = [];
        for (let k = 0; k < options.probes; k++) {
          const rq = `probe-${probes}`;
          const probe = `REGISTER ${rq} prober${probes++} 127.0.0.1 ${buyerSockets.port(1)} 9`;
          const run = checked(await search(repeats + k, probe), level);
          if (!run.probe || run.probe.ms < 0) {
            throw new BenchError(`A REGISTER sent during a fan-out to ${level} got no answer`);
          }
          if (!run.probe.reply.startsWith("REGISTERED")) {
            throw new BenchError(`A REGISTER sent during a fan-out: ${run.probe.reply}`);
          }
          probeRuns.push(run);
          await sleep(100);
          // The next probe is another peer: this one leaves first (its address is reused).
          await harness.request(
            buyerSockets,
            server.port,
            `DE-REGISTER ${rq}-bye prober${probes - 1}`,
            10_000,
          )
            .catch(() => {});
        }
        largest = {
          sellers: level,
          searches: repeats,
          rssBeforeBytes,
          rssAfterBytes,
          rssGrowthBytes: rssAfterBytes - rssBeforeBytes,
          probeMs: probeRuns.map((run) => round(run.probe!.ms, 2)),
          probeAnsweredMs: probeRuns.map((run) => round(run.probe!.answeredMs, 2)),
          probeFanoutLastMs: probeRuns.map((run) => round(run.lastMs, 2)),
        };
        progress(
          `fan-out: RSS ${formatCount(rssBeforeBytes / 2 ** 20)} → ${
            formatCount(rssAfterBytes / 2 ** 20)
          } MiB over ${repeats} searches to ${formatCount(level)}; REGISTER during a fan-out ` +
            `answered in ${largest.probeMs.join(", ")} ms`,
        );
      }
      await deregister(harness, buyerSockets, server.port, `${buyer}0`);
      const floorRuns: FanoutRun[] = [];
      for (let repeat = 0; repeat < repeats; repeat++) {
        floorRuns.push(
          await harness.fanout({
            sellers,
            expected: level,
            buyer: buyerSockets,
            serverPort: floor.port,
            text: `FANOUT floor${level}-${repeat} ${level}`,
            timeoutMs: timeoutMs(level),
          }),
        );
        await sleep(100);
      }
      const runsMs = runs.map((run) => run.lastMs);
      const floorMs = floorRuns.map((run) => run.lastMs);
      const stats = summary(runsMs);
      const floorStats = summary(floorMs);
      points.push({
        sellers: level,
        runsMs: runsMs.map((ms) => round(ms, 2)),
        medianMs: stats.median,
        maxMs: stats.max,
        firstMedianMs: summary(runs.map((run) => run.firstMs)).median,
        lost: runs.reduce((sum, run) => sum + run.lost, 0),
        floorRunsMs: floorMs.map((ms) => round(ms, 2)),
        floorMedianMs: floorStats.median,
        floorMaxMs: floorStats.max,
        floorLost: floorRuns.reduce((sum, run) => sum + run.lost, 0),
      });
      progress(
        `fan-out: ${formatCount(level)} sellers reached in ${stats.median} ms median, ` +
          `${stats.max} ms max, ${points.at(-1)!.lost} lost (floor: ${floorStats.median} ms ` +
          `median, ${points.at(-1)!.floorLost} lost)`,
      );
    }
    await server.stop("SIGTERM");
    await floor.stop("SIGTERM");
    return { harness: harness.kind, sockets, fileLimit: limit, points, largest: largest! };
  } catch (error) {
    throw server.explain(error);
  }
}

/** A run in which no SEARCH arrived is a failure, not a figure. */
function checked(run: FanoutRun, expected: number): FanoutRun {
  if (run.received === 0) throw new BenchError(`No SEARCH arrived (expected ${expected})`);
  return run;
}

async function deregister(
  harness: Harness,
  group: SocketGroup,
  serverPort: number,
  name: string,
): Promise<void> {
  const { reply } = await harness.request(
    group,
    serverPort,
    `DE-REGISTER ${name}-bye ${name}`,
    10_000,
  );
  if (!reply.startsWith("DE-REGISTERED")) {
    throw new BenchError(`De-registering ${name}: ${reply}`);
  }
}
