/**
 * Scenario 5: the offer book (issue 14) over real sockets. A market of our
 * peers played from raw Deno sockets (`shop/1 from ack no-offer book`, no
 * auth): they REGISTER, LIST one item each (acknowledged), answer RESERVE
 * with `OFFER rq name item price` and acknowledge what the server sends
 * reliably. Several peers share a socket (the file limit), each socket's
 * peers list distinct items, so the socket and the item name the peer.
 *
 * Then buyers keep `inFlight` searches open: LOOKING_FOR → (RESERVE →
 * OFFER) → FOUND, ACK, CANCEL (which releases the lister), the next one;
 * timed from LOOKING_FOR sent to FOUND read, first with no classic peer
 * and then with `classic` silent classic peers that count the SEARCH
 * datagrams they get. Last, SIGTERM and a new server on the same data
 * and port: the time until it answers a REGISTER, and a few searches that
 * must still be decided from the restored book.
 *
 * @module
 */
import { answerProbe } from "./_restart.ts";
import { registerMany } from "./_load.ts";
import { ServerProcess, tempDir } from "./_server.ts";
import { BenchError, formatCount, progress, round, sleep, summary } from "./_stats.ts";
import { head, UdpPool } from "./_udp.ts";

/** Options for {@linkcode runBook}. */
export interface BookOptions {
  /** Our peers that list. */
  readonly peers: number;
  /** Sellers per item: items = peers ÷ this. */
  readonly sellersPerItem: number;
  /** Sockets the listers share. */
  readonly sockets: number;
  /** Buyers (each holds at most 32 open searches on the server). */
  readonly buyers: number;
  /** Searches open at once over all buyers. */
  readonly inFlight: number;
  /** How long the searches are sustained, per phase. */
  readonly seconds: number;
  /** Classic peers of the second phase. */
  readonly classic: number;
  /** The server's `--offer-window` (the classic phase waits it out). */
  readonly offerWindow: string;
  readonly profileDir?: string;
  /** Fail when no search is found after the restart (the smoke run). */
  readonly strict?: boolean;
}

/** One phase of sustained searches. */
export interface BookSearchPhase {
  readonly classic: number;
  readonly searches: number;
  readonly perSecond: number;
  readonly elapsedMs: number;
  /** LOOKING_FOR sent → FOUND read. */
  readonly latencyMs: ReturnType<typeof summary>;
  /** SEARCH datagrams the classic peers received, per search. */
  readonly searchDatagramsPerSearch: number;
  /** Answers other than FOUND (NOT_AVAILABLE, …). */
  readonly notFound: number;
  /** Searches without any answer 3 s after the phase ended. */
  readonly unanswered: number;
  /** LOOKING_FOR and CANCEL datagrams sent again for want of an ACK. */
  readonly resent: number;
}

/** What scenario 5 measured. */
export interface BookResult {
  readonly peers: number;
  readonly items: number;
  readonly sellersPerItem: number;
  readonly sockets: number;
  readonly buyers: number;
  readonly inFlight: number;
  readonly registerPerSecond: number;
  readonly listPerSecond: number;
  readonly setupMs: number;
  readonly phases: BookSearchPhase[];
  readonly restartMs: number;
  readonly listeningMs: number;
  readonly stopMs: number;
  /** Searches decided from the restored book after the restart. */
  readonly afterRestart: BookSearchPhase;
  readonly rssBytes: number;
  /** How the restarted server ended. */
  readonly finalStop: string;
}

const EXTENSIONS = "shop/1 from ack no-offer book";
const MAX_PRICE = 1_000;

/** Runs scenario 5. */
export async function runBook(options: BookOptions): Promise<BookResult> {
  const { peers, sellersPerItem, sockets } = options;
  const items = Math.max(1, Math.floor(peers / sellersPerItem));
  const perSocket = Math.ceil(peers / sockets);
  if (perSocket > items) {
    throw new BenchError(`${perSocket} peers a socket cannot list distinct items of ${items}`);
  }
  const args = [
    "--offer-window",
    options.offerWindow,
    // The bench's peers do not say ALIVE: silence must not hide their listings.
    "--offline-after",
    "24h",
    "--forget-offline-after",
    "48h",
  ];
  const profile = options.profileDir ? { profileDir: options.profileDir } : {};
  await using dir = await tempDir();
  let server = await ServerProcess.start({ dataDir: dir.path, args, ...profile });
  await using sellers = new UdpPool(Math.ceil(peers / perSocket));
  await using buyers = new UdpPool(options.buyers + 1);
  await using classics = new UdpPool(Math.max(1, options.classic));
  const item = (i: number) => `item${i % items}`;
  const price = (i: number) => 10 + (i % 97);
  const socketOf = (i: number) => Math.floor(i / perSocket);
  /** `${socket} ${item}` → the peer's name. */
  const names = new Map<string, string>();
  for (let i = 0; i < peers; i++) names.set(`${socketOf(i)} ${item(i)}`, `bk${i}`);
  try {
    // Our sellers: ACK what is reliable, answer RESERVE with OFFER.
    sellers.listen((message, socket) => {
      const words = message.trim().split(" ");
      const [type, rq] = [words[0]!, words[1]!];
      if (type === "ACK" || type === "REGISTERED") return;
      if (type === "RESERVE" || type === "CANCEL" || type === "SEARCH") {
        sellers.send(socket, `ACK ${rq} ${type}`, server.port).catch(() => {});
      }
      if (type === "RESERVE") {
        const name = names.get(`${socket} ${words[2]}`);
        if (!name) return;
        sellers.send(socket, `OFFER ${rq} ${name} ${words[2]} ${words[3]}`, server.port)
          .catch(() => {});
      }
    });
    const setupStart = performance.now();
    progress(
      `book: registering ${formatCount(peers)} listers on ${formatCount(sellers.size)} sockets`,
    );
    const registered = await registerMany({
      pool: sellers,
      serverPort: server.port,
      count: peers,
      inFlight: 64,
      name: (i) => `bk${i}`,
      socket: socketOf,
      extensions: EXTENSIONS,
      timeoutMs: 60_000 + peers * 2,
    });
    progress(`book: ${formatCount(registered.perSecond)} REGISTER/s; listing ${items} items`);
    const listed = await ackedMany({
      pool: sellers,
      serverPort: server.port,
      count: peers,
      inFlight: 64,
      socket: socketOf,
      type: "LIST",
      text: (rq, i) => `LIST ${rq} bk${i} 1 ${item(i)} ${price(i)} 1 listed by the bench`,
      timeoutMs: 60_000 + peers * 2,
    });
    progress(`book: ${formatCount(listed.perSecond)} LIST/s`);
    const setupMs = performance.now() - setupStart;
    // Classic peers count SEARCH and stay silent.
    let searchDatagrams = 0;
    classics.listen((message) => {
      if (message.startsWith("SEARCH ")) searchDatagrams++;
    });
    // Each phase has buyers of its own, so that searches a phase leaves open
    // (a buyer holds at most 32) never refuse the next phase's.
    let phase = 0;
    const search = async (classic: number, seconds: number, maxSearches = Infinity) => {
      const buyerName = `bkbuyer${phase++}-`;
      await registerMany({
        pool: buyers,
        serverPort: server.port,
        count: options.buyers,
        inFlight: options.buyers,
        name: (i) => `${buyerName}${i}`,
        extensions: EXTENSIONS,
        timeoutMs: 30_000,
      });
      return await sustain({
        buyerName,
        buyers,
        buyerCount: options.buyers,
        serverPort: server.port,
        inFlight: options.inFlight,
        seconds,
        maxSearches,
        items,
        classic,
        searchDatagrams: () => searchDatagrams,
      });
    };
    const phases: BookSearchPhase[] = [];
    // A short untimed warm-up (JIT).
    await search(0, Math.min(1, options.seconds / 4));
    phases.push(await search(0, options.seconds));
    progress(
      `book: 0 classic: ${formatCount(phases[0]!.perSecond)} searches/s, p50 ${
        phases[0]!.latencyMs.median
      } ms`,
    );
    if (options.classic > 0) {
      await registerMany({
        pool: classics,
        serverPort: server.port,
        count: options.classic,
        inFlight: 32,
        name: (i) => `bkclassic${i}`,
        timeoutMs: 10_000,
      });
      phases.push(await search(options.classic, options.seconds));
      progress(
        `book: ${options.classic} classic: ${formatCount(phases[1]!.perSecond)} searches/s, ` +
          `p50 ${phases[1]!.latencyMs.median} ms, ${
            phases[1]!.searchDatagramsPerSearch
          } SEARCH/search`,
      );
    }
    await sleep(500);
    const rssBytes = await server.memory();
    progress("book: SIGTERM and a restart on the same data");
    const stopped = await server.stop("SIGTERM");
    const port = server.port;
    const spawn = performance.now();
    const probe = answerProbe(buyers, port, {
      index: options.buyers,
      name: "bkprobe",
      tries: 12_000,
      timeoutMs: 120_000,
    });
    server = await ServerProcess.start({
      dataDir: dir.path,
      port,
      args,
      ...profile,
      timeoutMs: 120_000,
    });
    const listeningMs = performance.now() - spawn;
    const restartMs = (await probe) - spawn;
    progress(`book: answering a REGISTER ${formatCount(restartMs)} ms after the spawn`);
    let afterRestart: BookSearchPhase;
    try {
      afterRestart = await search(options.classic, 5, 200);
    } catch (error) {
      if (options.strict) throw error;
      progress(`book: the searches after the restart failed: ${String(error)}`);
      afterRestart = {
        classic: options.classic,
        searches: 0,
        perSecond: 0,
        elapsedMs: 0,
        latencyMs: summary([]),
        searchDatagramsPerSearch: 0,
        notFound: 0,
        unanswered: 200,
        resent: 0,
      };
    }
    progress(
      `book: after the restart ${afterRestart.searches} searches found, ` +
        `${afterRestart.notFound} answered otherwise, ${afterRestart.unanswered} unanswered`,
    );
    if (options.strict && afterRestart.searches === 0) {
      throw new BenchError("No search was decided from the book after the restart");
    }
    // A restarted server that cannot keep up may not exit on SIGTERM in time: noted, not fatal.
    const finalStop = await server.stop("SIGTERM", 15_000).then(
      () => "exited on SIGTERM",
      () => "did not exit within 15 s of SIGTERM (killed)",
    );
    if (options.strict && finalStop !== "exited on SIGTERM") {
      throw new BenchError(`The restarted server ${finalStop}`);
    }
    return {
      finalStop,
      peers,
      items,
      sellersPerItem,
      sockets: sellers.size,
      buyers: options.buyers,
      inFlight: options.inFlight,
      registerPerSecond: round(registered.perSecond, 0),
      listPerSecond: round(listed.perSecond, 0),
      setupMs: round(setupMs, 0),
      phases,
      restartMs: round(restartMs, 1),
      listeningMs: round(listeningMs, 1),
      stopMs: round(stopped.ms, 1),
      afterRestart,
      rssBytes,
    };
  } catch (error) {
    throw server.explain(error);
  } finally {
    await server[Symbol.asyncDispose]();
  }
}

interface SustainOptions {
  readonly buyers: UdpPool;
  /** Buyer b is named `${buyerName}${b}`. */
  readonly buyerName: string;
  readonly buyerCount: number;
  readonly serverPort: number;
  readonly inFlight: number;
  readonly seconds: number;
  readonly maxSearches: number;
  readonly items: number;
  readonly classic: number;
  readonly searchDatagrams: () => number;
}

/**
 * Keeps `inFlight` searches open for `seconds` (at most `maxSearches`),
 * spread over the buyers; each FOUND is acknowledged and cancelled.
 */
function sustain(options: SustainOptions): Promise<BookSearchPhase> {
  const { buyers, serverPort } = options;
  const prefix = `s${crypto.randomUUID().slice(0, 6)}-`;
  const open = new Map<string, number>();
  const latencies: number[] = [];
  let next = 0;
  let notFound = 0;
  let stopping = false;
  const searchesAtStart = options.searchDatagrams();
  const perBuyer = Math.ceil(options.inFlight / options.buyerCount);
  /** LOOKING_FOR and CANCEL not yet acknowledged, sent again every 500 ms, as our peer does. */
  const unacked = new Map<string, { socket: number; text: string; sentAt: number }>();
  let resent = 0;
  const sendAcked = (socket: number, key: string, text: string) => {
    unacked.set(key, { socket, text, sentAt: performance.now() });
    buyers.send(socket, text, serverPort).catch(() => {});
  };
  const start = performance.now();
  return new Promise<BookSearchPhase>((resolve, reject) => {
    let settled = false;
    const resender = setInterval(() => {
      const now = performance.now();
      for (const entry of unacked.values()) {
        if (now - entry.sentAt < 500) continue;
        entry.sentAt = now;
        resent++;
        buyers.send(entry.socket, entry.text, serverPort).catch(() => {});
      }
    }, 100);
    const launch = (buyer: number) => {
      if (stopping || next >= options.maxSearches) return;
      const n = next++;
      const rq = `${prefix}${n}`;
      open.set(rq, performance.now());
      sendAcked(
        buyer,
        `${rq} LOOKING_FOR`,
        `LOOKING_FOR ${rq} ${options.buyerName}${buyer} item${
          (n * 7) % options.items
        } bench search ${MAX_PRICE}`,
      );
    };
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      stop();
      clearTimeout(timer);
      clearTimeout(deadline);
      clearInterval(resender);
      if (error) return reject(error);
      const elapsedMs = performance.now() - start;
      const searches = latencies.length;
      resolve({
        classic: options.classic,
        searches,
        perSecond: round(searches / (Math.min(elapsedMs, options.seconds * 1000) / 1000), 0),
        elapsedMs: round(elapsedMs, 0),
        latencyMs: summary(latencies),
        searchDatagramsPerSearch: round(
          (options.searchDatagrams() - searchesAtStart) / Math.max(1, searches + notFound),
          2,
        ),
        notFound,
        unanswered: open.size,
        resent,
      });
    };
    const stop = buyers.listen((message, socket, at) => {
      if (socket >= options.buyerCount) return;
      const words = message.trim().split(" ");
      const [type, rq] = [words[0]!, words[1]!];
      if (!rq.startsWith(prefix)) return;
      if (type === "ACK") {
        unacked.delete(`${rq} ${words[2]}`);
        return;
      }
      // Any answer to the search also says its LOOKING_FOR arrived.
      unacked.delete(`${rq} LOOKING_FOR`);
      buyers.send(socket, `ACK ${rq} ${type}`, serverPort).catch(() => {});
      const sentAt = open.get(rq);
      if (sentAt === undefined) return;
      open.delete(rq);
      if (type === "FOUND") {
        latencies.push(at - sentAt);
        sendAcked(socket, `${rq} CANCEL`, `CANCEL ${rq} ${words[2]} ${words[3]}`);
      } else {
        notFound++;
      }
      launch(socket);
      if ((stopping || next >= options.maxSearches) && open.size === 0) finish();
    });
    // Stop launching after `seconds`; the open ones finish.
    const timer = setTimeout(() => {
      stopping = true;
      if (open.size === 0) finish();
    }, options.seconds * 1000);
    // Searches still unanswered 3 s after the end are counted, not waited for.
    const deadline = setTimeout(() => finish(), (options.seconds + 3) * 1000);
    for (let b = 0; b < options.buyerCount; b++) {
      for (let k = 0; k < perBuyer && open.size < options.inFlight; k++) launch(b);
    }
  });
}

interface AckedOptions {
  readonly pool: UdpPool;
  readonly serverPort: number;
  readonly count: number;
  readonly inFlight: number;
  readonly socket: (i: number) => number;
  readonly type: string;
  readonly text: (rq: string, i: number) => string;
  readonly timeoutMs: number;
}

/** Sends `count` requests that the server ACKs, `inFlight` outstanding, resending after 1 s. */
function ackedMany(options: AckedOptions): Promise<{ perSecond: number; resent: number }> {
  const { pool, serverPort } = options;
  const prefix = `${crypto.randomUUID().slice(0, 6)}-`;
  const outstanding = new Map<string, { socket: number; text: string; sentAt: number }>();
  let next = 0;
  let done = 0;
  let resent = 0;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      stop();
      clearInterval(checker);
      clearTimeout(deadline);
      if (error) return reject(error);
      resolve({ perSecond: options.count / ((performance.now() - start) / 1000), resent });
    };
    const send = (rq: string) => {
      const entry = outstanding.get(rq)!;
      entry.sentAt = performance.now();
      pool.send(entry.socket, entry.text, serverPort).catch((error) =>
        finish(new BenchError(`Cannot send ${options.type}: ${String(error)}`))
      );
    };
    const launch = () => {
      while (outstanding.size < options.inFlight && next < options.count) {
        const i = next++;
        const rq = `${prefix}${i}`;
        outstanding.set(rq, { socket: options.socket(i), text: options.text(rq, i), sentAt: 0 });
        send(rq);
      }
    };
    const stop = pool.listen((message) => {
      const [type, rq] = head(message);
      if (type !== "ACK" || !outstanding.has(rq)) return;
      outstanding.delete(rq);
      if (++done === options.count) return finish();
      launch();
    });
    const checker = setInterval(() => {
      const now = performance.now();
      for (const [rq, entry] of outstanding) {
        if (now - entry.sentAt >= 1_000) {
          resent++;
          send(rq);
        }
      }
    }, 200);
    const deadline = setTimeout(
      () =>
        finish(new BenchError(`${options.type}: only ${done} of ${options.count} acknowledged`)),
      options.timeoutMs,
    );
    if (options.count === 0) return finish();
    launch();
  });
}
