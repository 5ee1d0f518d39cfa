/**
 * Scenario 3: the latency of a full purchase among our peers, played from
 * raw sockets that speak what our peer speaks (`shop/1 from ack no-offer`):
 * they acknowledge what the server sends reliably, answer SEARCH with OFFER
 * or NO_OFFER, and answer INFORM_Req on their TCP listeners with a
 * newline-terminated INFORM_Res. With every asked seller answering, the
 * server decides without waiting out its offer window (the early decision).
 *
 * One purchase: the buyer sends LOOKING_FOR; three sellers get SEARCH (two
 * offer, one says NO_OFFER); the buyer gets FOUND from the cheapest and
 * sends BUY; the server connects to both over TCP, collects INFORM_Res,
 * charges, and sends Shipping_Info to the seller. Timed from LOOKING_FOR
 * sent to Shipping_Info read by the seller.
 *
 * @module
 */
import { RELIABLE_SENDS } from "../protocol/messages.ts";
import { ServerProcess, tempDir } from "./_server.ts";
import type { BenchStore, StoreKind } from "./_store.ts";
import { BenchError, progress, round, summary, within } from "./_stats.ts";
import { head } from "./_udp.ts";

/** Options for {@linkcode runPurchases}. */
export interface PurchaseOptions {
  /** Purchases timed, one after another. */
  readonly count: number;
  /** Purchases run first and not timed (JIT warm-up). */
  readonly warmup: number;
  /** The server's `--offer-window`. */
  readonly offerWindow: string;
  /** The store the server keeps its state in. */
  readonly store: BenchStore;
  /** Write the server's CPU profile here. */
  readonly profileDir?: string;
}

/** What scenario 3 measured. */
export interface PurchaseResult {
  /** The server's store. */
  readonly store: StoreKind;
  readonly offerWindow: string;
  readonly extensions: string;
  readonly sellers: number;
  readonly warmup: number;
  /** LOOKING_FOR sent → seller read Shipping_Info, per purchase, in ms. */
  readonly totalMs: ReturnType<typeof summary>;
  /** LOOKING_FOR sent → FOUND received. */
  readonly searchMs: ReturnType<typeof summary>;
  /** BUY sent → seller read Shipping_Info. */
  readonly transactionMs: ReturnType<typeof summary>;
  readonly runsMs: number[];
}

const EXTENSIONS = "shop/1 from ack no-offer";
const CARD = "4111111111111111 12/39";
const utf8 = new TextEncoder();
const text = new TextDecoder();

interface Received {
  readonly text: string;
  readonly at: number;
}

/** Messages received, taken by the first waiter that wants them. */
class Inbox {
  readonly #items: Received[] = [];
  readonly #waiters = new Set<() => void>();

  push(item: Received): void {
    this.#items.push(item);
    for (const wake of this.#waiters) wake();
  }

  /** Takes the first message that matches, waiting up to `ms`. */
  async take(match: (words: string[]) => boolean, ms: number, what: string): Promise<Received> {
    const deadline = performance.now() + ms;
    while (true) {
      const index = this.#items.findIndex((item) => match(item.text.split(" ")));
      if (index >= 0) return this.#items.splice(index, 1)[0]!;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new BenchError(`Timed out after ${ms} ms waiting for ${what}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }
}

/** A peer with the extensions of ours, played from raw sockets. */
class RawPeer implements AsyncDisposable {
  readonly udp: Deno.DatagramConn;
  readonly tcp: Deno.TcpListener;
  /** UDP messages from the server (after ACKs are sent and offers made). */
  readonly inbox = new Inbox();
  /** What came over TCP: INFORM_Req and Shipping_Info lines. */
  readonly tcpInbox = new Inbox();
  readonly #loops: Promise<void>[];
  readonly #conns = new Set<Deno.Conn>();
  #closed = false;

  constructor(
    readonly name: string,
    readonly serverPort: number,
    /** A seller's price for any SEARCH, or `null` for NO_OFFER; undefined for the buyer. */
    readonly price?: number | null,
  ) {
    this.udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#loops = [this.#receive(), this.#accept()];
  }

  send(message: string): Promise<number> {
    return this.udp.send(utf8.encode(message), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: this.serverPort,
    });
  }

  /** Registers with the extensions and checks that they were agreed. */
  async register(): Promise<void> {
    const udpPort = (this.udp.addr as Deno.NetAddr).port;
    const rq = `${this.name}-reg`;
    await this.send(
      `REGISTER ${rq} ${this.name} 127.0.0.1 ${udpPort} ${this.tcp.addr.port} ${EXTENSIONS}`,
    );
    const reply = await this.inbox.take((w) => w[1] === rq, 10_000, `REGISTERED ${rq}`);
    if (!reply.text.startsWith(`REGISTERED ${rq} ${EXTENSIONS}`)) {
      throw new BenchError(`${this.name} was not registered with ${EXTENSIONS}: ${reply.text}`);
    }
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(2048);
    while (!this.#closed) {
      let message: string;
      try {
        const [data] = await this.udp.receive(buffer);
        message = text.decode(data).replace(/\n$/, "");
      } catch {
        if (this.#closed) break;
        continue;
      }
      const at = performance.now();
      const [type, rq] = head(message);
      if (type === "ACK") continue;
      if (RELIABLE_SENDS.has(type)) this.send(`ACK ${rq} ${type}`).catch(() => {});
      if (type === "SEARCH" && this.price !== undefined) {
        const item = message.split(" ")[2]!;
        this.send(
          this.price === null
            ? `NO_OFFER ${rq} ${this.name} ${item}`
            : `OFFER ${rq} ${this.name} ${item} ${this.price}`,
        ).catch(() => {});
      }
      this.inbox.push({ text: message, at });
    }
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.tcp.accept();
      } catch {
        if (this.#closed) break;
        continue;
      }
      this.#conns.add(conn);
      this.#transact(conn).catch(() => {}).finally(() => {
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Closed by the server first.
        }
      });
    }
  }

  /** Answers INFORM_Req, then reads until Shipping_Info or the server closes. */
  async #transact(conn: Deno.Conn): Promise<void> {
    const lines = readLines(conn);
    for await (const line of lines) {
      const at = performance.now();
      const [type, rq] = head(line);
      this.tcpInbox.push({ text: line, at });
      if (type === "INFORM_Req") {
        await conn.write(utf8.encode(`INFORM_Res ${rq} ${this.name} ${CARD} 1 Bench Road\n`));
      } else if (type === "Shipping_Info") {
        // As our peers do (extension `ack`): the sale is stored, say so.
        await conn.write(utf8.encode(`ACK ${rq} Shipping_Info\n`));
        return; // then close the connection
      } else if (type === "TX_CANCEL" || type === "CANCEL") {
        return; // the peer closes its own connection after reading
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    this.udp.close();
    this.tcp.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.all(this.#loops);
  }
}

/** Newline-terminated lines from a TCP connection, until it closes. */
async function* readLines(conn: Deno.Conn): AsyncGenerator<string> {
  const buffer = new Uint8Array(2048);
  let pending = "";
  while (true) {
    const count = await conn.read(buffer);
    if (count === null) break;
    pending += text.decode(buffer.subarray(0, count));
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  if (pending) yield pending;
}

/** Runs scenario 3 against a fresh server. */
export async function runPurchases(options: PurchaseOptions): Promise<PurchaseResult> {
  await using dir = await tempDir();
  await using store = await options.store.fresh();
  await using server = await ServerProcess.start({
    dataDir: dir.path,
    store,
    args: ["--offer-window", options.offerWindow],
    ...(options.profileDir ? { profileDir: options.profileDir } : {}),
  });
  try {
    await using buyer = new RawPeer("buyer", server.port);
    await using cheap = new RawPeer("cheap", server.port, 25);
    await using dear = new RawPeer("dear", server.port, 30);
    await using none = new RawPeer("none", server.port, null);
    for (const peer of [buyer, cheap, dear, none]) await peer.register();
    const totals: number[] = [];
    const searches: number[] = [];
    const transactions: number[] = [];
    for (let i = 0; i < options.warmup + options.count; i++) {
      const rq = `buy-${i}`;
      const start = performance.now();
      await buyer.send(`LOOKING_FOR ${rq} buyer Lamp a brass desk lamp 40`);
      const found = await buyer.inbox.take(
        (w) => w[1] === rq && w[0] !== "ACK",
        5_000,
        `FOUND ${rq}`,
      );
      const words = found.text.split(" ");
      if (words[0] !== "FOUND" || words[3] !== "25" || words[5] !== "cheap") {
        throw new BenchError(`Expected FOUND ${rq} Lamp 25 from cheap, got: ${found.text}`);
      }
      const buyAt = performance.now();
      await buyer.send(`BUY ${rq} Lamp 25`);
      const shipped = await cheap.tcpInbox.take(
        (w) => w[0] === "Shipping_Info" || w[0] === "TX_CANCEL",
        10_000,
        `Shipping_Info for ${rq}`,
      );
      if (
        !shipped.text.startsWith("Shipping_Info") || !shipped.text.includes("buyer 1 Bench Road")
      ) {
        throw new BenchError(
          `Expected Shipping_Info to buyer at 1 Bench Road, got: ${shipped.text}`,
        );
      }
      // Every other message of this purchase is consumed, so none is
      // mistaken for the next one's: the RESERVE, both INFORM_Reqs, the
      // buyer's receipt.
      await cheap.inbox.take((w) => w[0] === "RESERVE", 5_000, `RESERVE for ${rq}`);
      await cheap.tcpInbox.take((w) => w[0] === "INFORM_Req", 5_000, "the seller's INFORM_Req");
      await buyer.tcpInbox.take((w) => w[0] === "INFORM_Req", 5_000, "the buyer's INFORM_Req");
      await buyer.tcpInbox.take((w) => w[0] === "Shipping_Info", 5_000, "the buyer's receipt");
      if (i >= options.warmup) {
        totals.push(shipped.at - start);
        searches.push(found.at - start);
        transactions.push(shipped.at - buyAt);
      }
    }
    const totalMs = summary(totals);
    progress(
      `purchase (${options.store.label}): ${options.count} purchases, median ${totalMs.median} ms, p90 ${totalMs.p90} ms, ` +
        `max ${totalMs.max} ms (offer window ${options.offerWindow})`,
    );
    await within(server.stop("SIGTERM"), 30_000, "the purchase server to stop");
    return {
      store: store.kind,
      offerWindow: options.offerWindow,
      extensions: EXTENSIONS,
      sellers: 3,
      warmup: options.warmup,
      totalMs,
      searchMs: summary(searches),
      transactionMs: summary(transactions),
      runsMs: totals.map((ms) => round(ms, 2)),
    };
  } catch (error) {
    throw server.explain(error);
  }
}
