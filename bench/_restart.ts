/**
 * Scenario 4: restart with many registered peers and open searches, and the
 * server's memory per registered peer.
 *
 * Every LOOKING_FOR sends SEARCH to every registered peer, so the open
 * searches are made first, while only their buyers are registered: buyer k
 * registers after the k earlier buyers and a silent seller, then sends 32
 * LOOKING_FORs (the cap per buyer), each reaching k + 1 peers; their
 * SEARCHes land on a few sink sockets. The server runs with a one-hour
 * search timeout so that they stay open. Only then are the other peers
 * registered. The server is stopped with SIGTERM and started again on the
 * same data directory and port, and the time from spawn until it answers a
 * REGISTER probe is measured.
 *
 * @module
 */
import { registerMany } from "./_load.ts";
import { directorySize, ServerProcess, tempDir } from "./_server.ts";
import type { BenchStore, StoreKind } from "./_store.ts";
import { BenchError, formatCount, progress, round, sleep, within } from "./_stats.ts";
import { head, UdpPool } from "./_udp.ts";

/** Options for {@linkcode runRestart}. */
export interface RestartOptions {
  /** Peers registered besides the buyers and the silent seller. */
  readonly peers: number;
  /** Open searches to create. */
  readonly searches: number;
  /** The store the servers keep their state in (a fresh one for the baseline). */
  readonly store: BenchStore;
  /** Write the servers' CPU profiles here. */
  readonly profileDir?: string;
}

/** What scenario 4 measured. */
export interface RestartResult {
  /** The servers' store. */
  readonly store: StoreKind;
  /** Every registered peer: the peers, the buyers and the silent seller. */
  readonly registered: number;
  readonly buyers: number;
  readonly openSearches: number;
  /** What the restarted server reported in its log. */
  readonly restoredPeers: number;
  readonly restoredOpenSearches: number;
  /** SEARCH datagrams the server sent while the searches were made. */
  readonly setupSearches: number;
  readonly setupMs: number;
  /** Spawn → first REGISTERED to a probe. */
  readonly restartMs: number;
  /** Spawn → "listening" line. */
  readonly listeningMs: number;
  /** SIGTERM → exit of the old process. */
  readonly stopMs: number;
  /** VmRSS of a fresh server with no peers. */
  readonly baselineRssBytes: number;
  /** VmRSS before the kill, and of the restarted server once it answered. */
  readonly rssBytes: number;
  readonly restartedRssBytes: number;
  /** (RSS before the kill − baseline) / registered peers. */
  readonly bytesPerPeer: number;
  /** The same for the restarted server (state loaded from KV, no traffic yet). */
  readonly restartedBytesPerPeer: number;
  /** Size of the data directory (for PostgreSQL, only the log). */
  readonly dataBytes: number;
  /**
   * What the store held when the first server had just started and at the
   * end (`_store.ts`), and the growth per registered peer (searches included).
   */
  readonly storedBytesAtStart: number;
  readonly storedBytes: number;
  readonly storedBytesPerPeer: number;
  /** PostgreSQL: each table's size (indexes and TOAST included) at the end. */
  readonly tableBytes?: Record<string, number>;
}

const SEARCHES_PER_BUYER = 32;
const SINKS = 4;
const POOL = 64;
const SERVER_ARGS = ["--search-timeout", "1h"];

/** Runs scenario 4 against fresh servers. */
export async function runRestart(options: RestartOptions): Promise<RestartResult> {
  const label = `restart (${options.store.label})`;
  const baselineRssBytes = await baselineRss(options.store);
  progress(`${label}: a fresh server's RSS is ${formatCount(baselineRssBytes / 1024)} KiB`);
  await using dir = await tempDir();
  await using store = await options.store.fresh();
  const profile = options.profileDir ? { profileDir: options.profileDir } : {};
  // The restart is on the same data directory as well as the same store:
  // on PostgreSQL the server's claim (a lease) passes at once to a server
  // of the same host and directory, while another would wait it out.
  let server = await ServerProcess.start({
    dataDir: dir.path,
    store,
    args: SERVER_ARGS,
    ...profile,
  });
  try {
    const storedBytesAtStart = await store.storedBytes(dir.path);
    await using sinks = new UdpPool(SINKS);
    await using pool = new UdpPool(POOL);
    let sunk = 0;
    sinks.listen((message) => {
      if (message.startsWith("SEARCH ")) sunk++;
    });
    const setupStart = performance.now();

    // The silent seller, so that the first buyer's searches reach someone.
    await registerMany({
      pool: sinks,
      serverPort: server.port,
      count: 1,
      inFlight: 1,
      name: () => "silent",
      timeoutMs: 10_000,
    });
    const buyers = Math.ceil(options.searches / SEARCHES_PER_BUYER);
    const searchesOf = (k: number) =>
      Math.min(SEARCHES_PER_BUYER, options.searches - k * SEARCHES_PER_BUYER);
    let expectedSearches = 0;
    for (let k = 0; k < buyers; k++) expectedSearches += searchesOf(k) * (k + 1);
    let sent = 0;
    let reached = 0;
    progress(
      `${label}: ${formatCount(options.searches)} open searches from ${buyers} buyers ` +
        `(${formatCount(expectedSearches)} SEARCH datagrams)`,
    );
    for (let k = 0; k < buyers; k++) {
      const socket = k % POOL;
      const name = `buyer${k}`;
      await registerMany({
        pool,
        serverPort: server.port,
        count: 1,
        inFlight: 1,
        name: () => name,
        socket: () => socket,
        // Their SEARCHes go to the sinks, not to the sockets awaiting replies.
        udpPort: () => sinks.port(k % SINKS),
        timeoutMs: 30_000,
      });
      const mine = searchesOf(k);
      for (let j = 0; j < mine; j++) {
        // In order from one socket: the next buyer's REGISTER is handled after these.
        await pool.send(
          socket,
          `LOOKING_FOR ${name}-${j} ${name} Thing${j} anything 10`,
          server.port,
        );
      }
      sent += mine;
      reached += mine * (k + 1);
      // Keep pace with the server's sending: issued faster than they leave,
      // its SEARCHes would pile up in its memory (and delay the replies
      // queued behind them) without making the searches any more open.
      await settle(() => sunk, 0.95 * reached, { timeoutMs: 30_000, stallMs: 300 });
      if ((k + 1) % 50 === 0) {
        progress(`${label}: ${k + 1}/${buyers} buyers, ${formatCount(sunk)} SEARCHes sunk`);
      }
    }
    // The last LOOKING_FORs are handled before a REGISTER sent after them.
    await registerMany({
      pool,
      serverPort: server.port,
      count: 1,
      inFlight: 1,
      name: () => "after-searches",
      socket: () => (buyers - 1) % POOL,
      udpPort: () => sinks.port(0),
      timeoutMs: 60_000,
    });
    await settle(() => sunk, expectedSearches, { timeoutMs: 30_000, stallMs: 1_000 });
    const setupMs = performance.now() - setupStart;
    progress(
      `${label}: ${formatCount(sent)} searches made in ${formatCount(setupMs)} ms; ` +
        `${formatCount(sunk)} of ${formatCount(expectedSearches)} SEARCHes reached the sinks`,
    );

    progress(`${label}: registering ${formatCount(options.peers)} peers`);
    await registerMany({
      pool,
      serverPort: server.port,
      count: options.peers,
      inFlight: 64,
      name: (i) => `peer${i}`,
      timeoutMs: 30_000 + options.peers * 2,
    });
    const registered = options.peers + buyers + 2;
    await sleep(1_000);
    const rssBytes = await server.memory();
    progress(
      `${label}: ${formatCount(registered)} peers and ${formatCount(sent)} searches; ` +
        `RSS ${formatCount(rssBytes / 1024)} KiB; stopping with SIGTERM`,
    );
    const stopped = await server.stop("SIGTERM");
    const port = server.port;
    const logFile = `${dir.path}/server.log`;
    const logOffset = (await Deno.stat(logFile).catch(() => ({ size: 0 }))).size;

    const spawn = performance.now();
    const probe = answerProbe(pool, port);
    server = await ServerProcess.start({
      dataDir: dir.path,
      store,
      port,
      args: SERVER_ARGS,
      ...profile,
      // It prints its listening line only after the restart's first tick.
      timeoutMs: 180_000,
    });
    const listeningMs = performance.now() - spawn;
    const answeredAt = await probe;
    const restartMs = answeredAt - spawn;
    const restartedRssBytes = await server.memory();
    const restored = await restoredCounts(logFile, logOffset);
    progress(
      `${label}: serving again after ${formatCount(restartMs)} ms ` +
        `(listening after ${formatCount(listeningMs)} ms); restored ${
          formatCount(restored.peers)
        } peers and ${formatCount(restored.open)} open searches`,
    );
    if (restored.open !== sent || restored.peers !== registered) {
      throw new BenchError(
        `The restarted server restored ${restored.peers} peers and ${restored.open} open ` +
          `searches; expected ${registered} and ${sent}`,
      );
    }
    await server.stop("SIGTERM");
    const storedBytes = await store.storedBytes(dir.path);
    const tableBytes = await store.tableBytes();
    return {
      store: store.kind,
      registered,
      buyers,
      openSearches: sent,
      restoredPeers: restored.peers,
      restoredOpenSearches: restored.open,
      setupSearches: expectedSearches,
      setupMs: round(setupMs, 0),
      restartMs: round(restartMs, 1),
      listeningMs: round(listeningMs, 1),
      stopMs: round(stopped.ms, 1),
      baselineRssBytes,
      rssBytes,
      restartedRssBytes,
      bytesPerPeer: round((rssBytes - baselineRssBytes) / registered, 0),
      restartedBytesPerPeer: round((restartedRssBytes - baselineRssBytes) / registered, 0),
      dataBytes: await directorySize(dir.path),
      storedBytesAtStart,
      storedBytes,
      storedBytesPerPeer: round((storedBytes - storedBytesAtStart) / registered, 0),
      ...(tableBytes ? { tableBytes } : {}),
    };
  } catch (error) {
    throw server.explain(error);
  } finally {
    await server[Symbol.asyncDispose]();
  }
}

/** The RSS of a fresh server with no peers on a fresh store, a second after it listens. */
async function baselineRss(kind: BenchStore): Promise<number> {
  await using dir = await tempDir();
  await using store = await kind.fresh();
  await using server = await ServerProcess.start({ dataDir: dir.path, store, args: SERVER_ARGS });
  await sleep(1_000);
  const rss = await server.memory();
  await server.stop("SIGTERM");
  return rss;
}

/**
 * Sends a REGISTER probe every 10 ms from one socket of `pool` until the
 * server answers it (before the server binds, the datagram is refused;
 * that is expected).
 *
 * @returns When the answer was read.
 */
export async function answerProbe(
  pool: UdpPool,
  port: number,
  options: { index?: number; name?: string; tries?: number; timeoutMs?: number } = {},
): Promise<number> {
  const { index = 0, name = "probe", tries = 20_000, timeoutMs = 180_000 } = options;
  const rq = `${name}-1`;
  let answered: (at: number) => void = () => {};
  const answer = new Promise<number>((resolve) => (answered = resolve));
  const stop = pool.listen((message, _socket, at) => {
    if (head(message)[1] === rq) answered(at);
  });
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending && i < tries; i++) {
      await pool.send(index, `REGISTER ${rq} ${name} 127.0.0.1 ${pool.port(index)} 9`, port)
        .catch(() => {});
      await sleep(10);
    }
  })();
  try {
    return await within(answer, timeoutMs, "the restarted server to answer a REGISTER");
  } finally {
    sending = false;
    stop();
    await sender;
  }
}

/**
 * Waits until `count()` reaches `expected`, or stops growing for
 * `stallMs` (datagrams a sink dropped never come), or `timeoutMs` passed.
 */
async function settle(
  count: () => number,
  expected: number,
  { timeoutMs, stallMs }: { timeoutMs: number; stallMs: number },
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = count();
  let lastChange = performance.now();
  while (count() < expected && performance.now() < deadline) {
    await sleep(20);
    if (count() !== last) {
      last = count();
      lastChange = performance.now();
    } else if (performance.now() - lastChange >= stallMs) {
      return;
    }
  }
}

/**
 * The counts in the restarted server's "Serving on UDP … with N registered
 * peers and M open searches" line: the first one written past `offset`.
 */
async function restoredCounts(
  logFile: string,
  offset: number,
): Promise<{ peers: number; open: number }> {
  const pattern = /Serving on UDP \S+ with (\d+) registered peers and (\d+) open searches/;
  // The log file is written in the background every 200 ms.
  for (let attempt = 0; attempt < 100; attempt++) {
    const bytes = await Deno.readFile(logFile).catch(() => new Uint8Array());
    // A rotation at restart starts a new file: read it whole.
    const fresh = bytes.length >= offset ? bytes.subarray(offset) : bytes;
    const match = pattern.exec(new TextDecoder().decode(fresh));
    if (match) return { peers: Number(match[1]), open: Number(match[2]) };
    await sleep(100);
  }
  throw new BenchError(`No new "Serving on UDP" line in ${logFile}`);
}
