/**
 * Scenario 2: SEARCH fan-out. Classic sellers (raw sockets that only count
 * SEARCH datagrams) are registered in growing numbers; at each number a
 * fresh buyer sends LOOKING_FOR several times, and the time from sending it
 * to the last SEARCH received is measured, with the SEARCHes lost.
 *
 * Each seller needs a receiving port. When the file-descriptor limit allows
 * fewer sockets than sellers, several sellers announce the same port (the
 * server sends SEARCH to the REGISTER's source IP and the announced port).
 *
 * @module
 */
import { registerMany } from "./_load.ts";
import { ServerProcess, tempDir } from "./_server.ts";
import { BenchError, formatCount, progress, round, sleep, summary, within } from "./_stats.ts";
import { head, UdpPool } from "./_udp.ts";

/** Options for {@linkcode runFanout}. */
export interface FanoutOptions {
  /** Sellers registered at each measurement, ascending. */
  readonly levels: readonly number[];
  /** LOOKING_FORs per level (at most 32: a buyer's cap of open searches). */
  readonly repeats: number;
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
   * The same fan-out sent by the floor (`_floor.ts`: a bare Deno process
   * that only sends the datagrams) instead of the server: median and max
   * in ms. What the harness and Deno's UDP take by themselves.
   */
  readonly floorMedianMs: number;
  readonly floorMaxMs: number;
}

/** What scenario 2 measured. */
export interface FanoutResult {
  /** Receiving sockets used (sellers share them when fewer than sellers). */
  readonly sockets: number;
  /** The soft limit of open files (`ulimit -n`). */
  readonly fileLimit: number;
  readonly points: FanoutPoint[];
}

/** How many files this process may open (`ulimit -n`), read from the shell. */
export async function fileLimit(): Promise<number> {
  try {
    const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
      .output();
    const value = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(value) ? value : 1024;
  } catch {
    return 1024;
  }
}

/** Runs scenario 2 against a fresh server. */
export async function runFanout(options: FanoutOptions): Promise<FanoutResult> {
  const maxSellers = Math.max(...options.levels);
  const limit = await fileLimit();
  // Leave room for the runtime, the buyer, pipes and the other helpers.
  const sockets = Math.max(1, Math.min(maxSellers, limit - 500));
  if (sockets < maxSellers) {
    progress(
      `fan-out: ulimit -n is ${limit}: ${formatCount(maxSellers)} sellers share ${sockets} sockets`,
    );
  }
  await using dir = await tempDir();
  await using server = await ServerProcess.start({
    dataDir: dir.path,
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    await using sellers = new UdpPool(sockets);
    await using buyerPool = new UdpPool(1);
    const portsFile = `${dir.path}/seller-ports.json`;
    await Deno.writeTextFile(
      portsFile,
      JSON.stringify(Array.from({ length: maxSellers }, (_, i) => sellers.port(i % sockets))),
    );
    await using floor = await ServerProcess.startFloor(portsFile);
    const points: FanoutPoint[] = [];
    let registered = 0;
    for (const level of options.levels) {
      progress(`fan-out: registering sellers up to ${formatCount(level)}`);
      const base = registered;
      await registerMany({
        pool: sellers,
        serverPort: server.port,
        count: level - registered,
        inFlight: 64,
        name: (i) => `seller${base + i}`,
        socket: (i) => (base + i) % sockets,
        timeoutMs: 30_000 + (level - registered) * 2,
      });
      registered = level;
      const buyer = `buyer${level}`;
      await registerMany({
        pool: buyerPool,
        serverPort: server.port,
        count: 1,
        inFlight: 1,
        name: () => buyer,
        timeoutMs: 10_000,
      });
      const runsMs: number[] = [];
      const firsts: number[] = [];
      let lost = 0;
      for (let repeat = 0; repeat < options.repeats; repeat++) {
        const run = await fanout(sellers, level, () =>
          buyerPool.send(
            0,
            `LOOKING_FOR ${buyer}-q${repeat} ${buyer} Lamp${repeat} a brass desk lamp 40`,
            server.port,
          ));
        runsMs.push(run.lastMs);
        firsts.push(run.firstMs);
        lost += run.lost;
        await sleep(100);
      }
      await deregister(buyerPool, server.port, buyer);
      const floorMs: number[] = [];
      for (let repeat = 0; repeat < options.repeats; repeat++) {
        const rq = `floor${level}-${repeat}`;
        const run = await fanout(
          sellers,
          level,
          () => buyerPool.send(0, `FANOUT ${rq} ${level}`, floor.port),
          rq,
        );
        floorMs.push(run.lastMs);
        await sleep(100);
      }
      const stats = summary(runsMs);
      const floorStats = summary(floorMs);
      points.push({
        sellers: level,
        runsMs: runsMs.map((ms) => round(ms, 2)),
        medianMs: stats.median,
        maxMs: stats.max,
        firstMedianMs: summary(firsts).median,
        lost,
        floorMedianMs: floorStats.median,
        floorMaxMs: floorStats.max,
      });
      progress(
        `fan-out: ${formatCount(level)} sellers reached in ${stats.median} ms median, ` +
          `${stats.max} ms max, ${lost} lost (floor: ${floorStats.median} ms median)`,
      );
    }
    await server.stop("SIGTERM");
    await floor.stop("SIGTERM");
    return { sockets, fileLimit: limit, points };
  } catch (error) {
    throw server.explain(error);
  }
}

/**
 * One fan-out: `trigger` sends what causes it; the SEARCHes with RQ# `rq`
 * (by default, that of the first SEARCH to arrive) are counted.
 *
 * @returns When the first and the last SEARCH arrived after the trigger, and how many never did.
 */
async function fanout(
  sellers: UdpPool,
  expected: number,
  trigger: () => Promise<unknown>,
  rq?: string,
): Promise<{ firstMs: number; lastMs: number; lost: number }> {
  let count = 0;
  let first = 0;
  let last = 0;
  let allArrived: () => void = () => {};
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  const stop = sellers.listen((message, _socket, at) => {
    const [type, searchRq] = head(message);
    if (type !== "SEARCH") return;
    rq ??= searchRq;
    if (searchRq !== rq) return; // a straggler from an earlier search
    if (count === 0) first = at;
    last = at;
    if (++count === expected) allArrived();
  });
  const start = performance.now();
  try {
    await trigger();
    // Losses show as a timeout: wait long enough that none is merely late.
    await within(arrived, 3_000 + expected / 10, "every SEARCH").catch(() => {});
  } finally {
    stop();
  }
  if (count === 0) throw new BenchError(`No SEARCH arrived (expected ${expected})`);
  return { firstMs: first - start, lastMs: last - start, lost: expected - count };
}

async function deregister(pool: UdpPool, serverPort: number, name: string): Promise<void> {
  const rq = `${name}-bye`;
  let answered: (message: string) => void = () => {};
  const answer = new Promise<string>((resolve) => (answered = resolve));
  const stop = pool.listen((message) => {
    if (head(message)[1] === rq) answered(message);
  });
  try {
    await pool.send(0, `DE-REGISTER ${rq} ${name}`, serverPort);
    const reply = await within(answer, 10_000, `DE-REGISTERED for ${name}`);
    if (!reply.startsWith("DE-REGISTERED")) {
      throw new BenchError(`De-registering ${name}: ${reply}`);
    }
  } finally {
    stop();
  }
}
