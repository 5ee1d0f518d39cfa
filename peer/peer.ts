/**
 * The peer's shell: UDP and TCP sockets, the KV store, input lines and
 * printed output around the {@linkcode Agent} state machine.
 *
 * The TCP port serves the server's transaction connections only (others
 * are closed with a warning), at most {@linkcode MAX_TCP_CONNECTIONS} at
 * once, each closed after {@linkcode TCP_TIMEOUT_MS} without a message.
 * Messages are written newline-framed to our own server and bare, in one
 * write, to a classic one.
 *
 * @module
 */
import {
  type Address,
  decode,
  describe,
  encode,
  formatAddress,
  isLoopback,
  type Message,
} from "../protocol/mod.ts";
import { logger } from "../log/setup.ts";
import { MessageReader, writeMessage } from "../transport/tcp.ts";
import { Agent, type Output, type PeerEffect, type PeerEvent } from "./agent.ts";
import type { PaymentDetails } from "./payment.ts";
import { PeerStore, type PeerWrite } from "./store.ts";

/** Options for {@linkcode ShopPeer.start}. */
export interface PeerOptions {
  readonly name: string;
  /** The server's UDP address. */
  readonly server: Address;
  /** Address to bind both sockets to. */
  readonly hostname: string;
  /** UDP port; 0 picks a free one. */
  readonly udpPort: number;
  /** TCP port for the transaction; 0 picks a free one. */
  readonly tcpPort: number;
  readonly dataDir: string;
  /** Where printed lines go. */
  readonly print: (output: Output) => void;
  /** Buy every FOUND at once instead of asking (`--auto-buy`). */
  readonly autoBuy?: boolean;
  /** Payment details for INFORM_Res (`--payment`); without them, they are asked for. */
  readonly payment?: PaymentDetails;
  /**
   * Called with `true` when the next input line is a secret (a card number
   * or its expiry) and with `false` after it: a terminal turns echo off.
   */
  readonly secretInput?: (secret: boolean) => void;
  /** How long a TCP connection may stay silent before it is closed. */
  readonly tcpTimeoutMs?: number;
}

/** How long `quit` waits for answers still due from the server. */
const DRAIN_TIMEOUT_MS = 3_000;
const RECEIVE_BUFFER_BYTES = 2048;
/** The default of {@linkcode PeerOptions.tcpTimeoutMs}. */
export const TCP_TIMEOUT_MS = 30_000;
/** Most TCP connections served at once; more are closed at once. */
export const MAX_TCP_CONNECTIONS = 16;
const utf8 = new TextEncoder();
const log = logger("peer");
const wire = logger("peer", "wire");

/** A running peer. */
export class ShopPeer implements AsyncDisposable {
  readonly #options: PeerOptions;
  readonly #socket: Deno.DatagramConn;
  readonly #listener: Deno.TcpListener;
  readonly #store: PeerStore;
  readonly #agent: Agent;
  readonly #receiving: Promise<void>;
  readonly #accepting: Promise<void>;
  #closing = false;
  #stopRequested: () => void = () => {};
  readonly #stopped: Promise<void>;
  /** Effects are performed one event at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  /** Open TCP connections from the server, by the id the agent knows them by. */
  readonly #conns = new Map<number, Deno.Conn>();
  readonly #serving = new Set<Promise<void>>();
  #lastConn = 0;
  /** Whether input is a secret now (see {@linkcode PeerOptions.secretInput}). */
  #secret = false;
  /** The server's IP addresses, looked up once when it is named by host name. */
  #serverIps: Promise<ReadonlySet<string>> | undefined;

  private constructor(
    options: PeerOptions,
    socket: Deno.DatagramConn,
    listener: Deno.TcpListener,
    store: PeerStore,
    agent: Agent,
  ) {
    this.#options = options;
    this.#socket = socket;
    this.#listener = listener;
    this.#store = store;
    this.#agent = agent;
    this.#stopped = new Promise((resolve) => (this.#stopRequested = resolve));
    this.#receiving = this.#receive();
    this.#accepting = this.#accept();
  }

  /** Binds the sockets, opens the store and restores the peer's state. */
  static async start(options: PeerOptions): Promise<ShopPeer> {
    const store = await PeerStore.open(options.dataDir, options.name);
    const cleanup: (() => void)[] = [];
    try {
      // With no port asked for, come back on the last ones if they are
      // free, so the server's record of this peer stays right.
      const previous = await store.ports();
      const socket = bindPreferred(
        options.udpPort || previous?.udp,
        (port) => Deno.listenDatagram({ transport: "udp", hostname: options.hostname, port }),
        options.udpPort !== 0,
      );
      cleanup.push(() => socket.close());
      const listener = bindPreferred(
        options.tcpPort || previous?.tcp,
        (port) => Deno.listen({ transport: "tcp", hostname: options.hostname, port }),
        options.tcpPort !== 0,
      );
      cleanup.push(() => listener.close());
      await store.savePorts({
        udp: (socket.addr as Deno.NetAddr).port,
        tcp: listener.addr.port,
      });
      const udpPort = (socket.addr as Deno.NetAddr).port;
      const tcpPort = listener.addr.port;
      const session = crypto.getRandomValues(new Uint8Array(4));
      const prefix = `${options.name}-${
        [...session].map((b) => b.toString(16).padStart(2, "0")).join("")
      }`;
      let counter = 0;
      const agent = new Agent(
        {
          name: options.name,
          ip: announcedIp(options.hostname, options.server.hostname),
          udpPort,
          tcpPort,
          server: options.server,
        },
        await store.load(),
        {
          newRq: () => `${prefix}-${++counter}`,
          autoBuy: options.autoBuy,
          payment: options.payment,
        },
      );
      return new ShopPeer(options, socket, listener, store, agent);
    } catch (error) {
      cleanup.forEach((close) => close());
      await store[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The bound UDP and TCP ports. */
  get ports(): { udp: number; tcp: number } {
    return { udp: (this.#socket.addr as Deno.NetAddr).port, tcp: this.#listener.addr.port };
  }

  /** The state machine, for inspection. */
  get agent(): Agent {
    return this.#agent;
  }

  /**
   * Runs input lines (commands, or answers to the questions asked) until
   * `quit` or the end of input, then waits (a little) for answers still due.
   * Server messages are handled meanwhile: a search never blocks input.
   */
  async run(lines: AsyncIterable<string>): Promise<void> {
    await this.#feed({ kind: "start", at: Date.now() });
    const input = (async () => {
      for await (const line of lines) {
        if (this.#closing) break;
        await this.#feed({ kind: "line", text: line, at: Date.now() });
      }
    })();
    await Promise.race([input, this.#stopped]);
    await this.#drain();
  }

  async #drain(): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    // Answers still due, and transactions under way (a sale waiting for
    // Shipping_Info), get a little time to end.
    while (
      (this.#agent.pendingCount > 0 || this.#agent.transactionCount > 0) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.#chain;
  }

  #feed(event: PeerEvent): Promise<void> {
    this.#chain = this.#chain.then(() => {
      if ((event.kind === "tcp" || event.kind === "tcp-invalid") && !this.#conns.has(event.conn)) {
        // Read before the agent closed its connection: it is over.
        log.debug("Dropped a TCP message from closed connection {conn}", { conn: event.conn });
        return;
      }
      if (event.kind === "line" && event.text.trim() !== "") {
        // Payment answers (a card number, its expiry) are never logged.
        if (this.#agent.paymentPrompt) log.debug("input (a payment detail, not logged)");
        else log.debug("input {line}", { line: event.text });
      }
      return this.#perform(this.#agent.handle(event));
    }).catch((error) => {
      // Nothing an event does may stop the ones after it.
      log.error("Handling {kind} failed: {error}", { kind: event.kind, error: String(error) });
    });
    return this.#chain;
  }

  async #perform(effects: PeerEffect[]): Promise<void> {
    // The agent puts an event's writes first; they go in one commit, and
    // nothing is sent or printed for the event if it fails.
    const writes = effects.filter((effect): effect is PeerWrite =>
      effect.kind === "save" || effect.kind === "delete"
    );
    try {
      await this.#store.apply(writes);
    } catch (error) {
      log.error("Cannot store the peer's state: {error}", { error: String(error) });
      this.#options.print({
        event: "error",
        text: `Error: cannot store the peer's state: ${String(error)}`,
        fields: { message: String(error) },
      });
      return;
    }
    for (const effect of effects) {
      switch (effect.kind) {
        case "save":
        case "delete":
          break;
        case "log":
          log[effect.level]("{message}", { message: effect.message });
          break;
        case "send":
          await this.#send(effect.message);
          break;
        case "tcp-send":
          await this.#sendTcp(effect.conn, effect.message);
          break;
        case "tcp-close":
          this.#closeConn(effect.conn);
          break;
        case "print":
          this.#options.print(effect.output);
          break;
        case "stop":
          this.#stopRequested();
          break;
      }
    }
    const secret = this.#agent.secretPrompt;
    if (secret !== this.#secret) {
      this.#secret = secret;
      try {
        this.#options.secretInput?.(secret);
      } catch (error) {
        log.warning("Cannot switch terminal echo: {error}", { error: String(error) });
      }
    }
  }

  async #send(message: Message): Promise<void> {
    const server = this.#options.server;
    wire.debug("send {to} {text}", { to: formatAddress(server), text: describe(message) });
    try {
      await this.#socket.send(utf8.encode(encode(message)), {
        transport: "udp",
        hostname: server.hostname,
        port: server.port,
      });
    } catch (error) {
      this.#options.print({
        event: "error",
        text: `Error: cannot reach the server at ${formatAddress(server)}: ${String(error)}`,
        fields: { message: String(error) },
      });
    }
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!this.#closing) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#socket.receive(buffer);
      } catch (error) {
        if (this.#closing) break;
        log.warning("Receive failed: {error}", { error: String(error) });
        continue;
      }
      const { hostname, port } = addr as Deno.NetAddr;
      const from = { hostname, port };
      const result = decode(data);
      const at = Date.now();
      if (result.ok) {
        wire.debug("recv {from} {text}", {
          from: formatAddress(from),
          text: describe(result.message),
        });
        this.#feed({ kind: "message", from, message: result.message, at });
      } else {
        this.#feed({ kind: "invalid", from, error: result.error, at });
      }
    }
  }

  async #accept(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors and the like: try again a little later.
        log.warning("Accepting a TCP connection failed: {error}", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const serving = this.#serve(conn).catch((error) => {
        log.error("Serving a TCP connection failed: {error}", { error: String(error) });
      }).finally(() => this.#serving.delete(serving));
      this.#serving.add(serving);
    }
  }

  /** Reads one connection from the server until it closes, feeding the agent. */
  async #serve(conn: Deno.Conn): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const from = formatAddress(remote);
    if (this.#closing) return closeQuietly(conn);
    if (!(await this.#fromServer(remote.hostname))) {
      log.warning("Closed a TCP connection from {from}: only the server may connect", { from });
      return closeQuietly(conn);
    }
    if (this.#conns.size >= MAX_TCP_CONNECTIONS) {
      log.warning("Closed a TCP connection from {from}: {count} are open already", {
        from,
        count: this.#conns.size,
      });
      return closeQuietly(conn);
    }
    const id = ++this.#lastConn;
    this.#conns.set(id, conn);
    log.debug("TCP connection {id} from {from}", { id, from });
    const reader = new MessageReader(conn);
    const timeoutMs = this.#options.tcpTimeoutMs ?? TCP_TIMEOUT_MS;
    while (this.#conns.has(id)) {
      let result;
      // A timer of our own rather than AbortSignal.timeout: it is cleared
      // as soon as the read ends, so none outlives the connection.
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException("The read timed out", "TimeoutError")),
        timeoutMs,
      );
      try {
        result = await reader.read({ signal: timeout.signal });
      } catch (error) {
        if (!this.#conns.has(id)) return; // closed on our side
        const timedOut = error instanceof DOMException && error.name === "TimeoutError";
        log.warning("TCP connection {id} from {from}: {problem}", {
          id,
          from,
          problem: timedOut ? `nothing came for ${timeoutMs} ms` : String(error),
        });
        this.#closeConn(id);
        this.#feed({
          kind: "tcp-closed",
          conn: id,
          cause: timedOut ? "timeout" : "error",
          at: Date.now(),
        });
        return;
      } finally {
        clearTimeout(timer);
      }
      if (result === undefined) {
        log.debug("TCP connection {id} from {from} closed by the server", { id, from });
        this.#closeConn(id);
        this.#feed({ kind: "tcp-closed", conn: id, cause: "remote", at: Date.now() });
        return;
      }
      const at = Date.now();
      if (result.ok) {
        wire.debug("recv tcp {from} {text}", { from, text: describe(result.message) });
        this.#feed({ kind: "tcp", conn: id, message: result.message, at });
      } else {
        this.#feed({ kind: "tcp-invalid", conn: id, error: result.error, at });
      }
    }
  }

  /**
   * Whether a connection comes from the server's IP: the same address, any
   * loopback address for a server on loopback, or one the server's host
   * name resolves to.
   */
  async #fromServer(hostname: string): Promise<boolean> {
    const server = this.#options.server.hostname;
    const known = isServerIp(hostname, server);
    if (known !== undefined) return known;
    const ip = unmapped(hostname);
    this.#serverIps ??= Promise.allSettled([
      Deno.resolveDns(server, "A"),
      Deno.resolveDns(server, "AAAA"),
    ]).then((results) =>
      new Set(results.flatMap((result) => result.status === "fulfilled" ? result.value : []))
    );
    return (await this.#serverIps).has(ip);
  }

  async #sendTcp(id: number, message: Message): Promise<void> {
    const conn = this.#conns.get(id);
    if (!conn) {
      log.debug("Not sent on closed TCP connection {id}: {text}", { id, text: describe(message) });
      return;
    }
    wire.debug("send tcp {id} {text}", { id, text: describe(message) });
    try {
      // Our server reads newline-framed messages; a classic one reads one
      // recv, so it gets the bare message in one write.
      await writeMessage(conn, message, this.#agent.serverKind === "ours");
    } catch (error) {
      log.warning("Cannot write to TCP connection {id}: {error}", { id, error: String(error) });
      if (!this.#conns.has(id)) return;
      this.#closeConn(id);
      this.#feed({ kind: "tcp-closed", conn: id, cause: "error", at: Date.now() });
    }
  }

  #closeConn(id: number): void {
    const conn = this.#conns.get(id);
    if (!conn) return;
    this.#conns.delete(id);
    closeQuietly(conn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#socket.close();
    this.#listener.close();
    for (const id of [...this.#conns.keys()]) this.#closeConn(id);
    await Promise.allSettled([this.#receiving, this.#accepting, ...this.#serving]);
    await Promise.allSettled([this.#chain]);
    if (this.#secret) {
      this.#secret = false;
      try {
        this.#options.secretInput?.(false);
      } catch {
        // The terminal is gone.
      }
    }
    await this.#store[Symbol.asyncDispose]();
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) as plain IPv4. */
function unmapped(ip: string): string {
  return ip.replace(/^::ffff:(?=\d+\.)/i, "");
}

/**
 * Whether a connection from `remote` comes from the server at `server`: the
 * same IP, or both on loopback. `undefined` when the server is given by a
 * host name other than `localhost`, which must be looked up.
 *
 * @example
 * ```ts
 * isServerIp("10.0.0.5", "10.0.0.5"); // true
 * isServerIp("127.0.0.1", "localhost"); // true
 * isServerIp("10.0.0.6", "10.0.0.5"); // false
 * isServerIp("10.0.0.6", "shop.example"); // undefined
 * ```
 */
export function isServerIp(remote: string, server: string): boolean | undefined {
  const ip = unmapped(remote);
  const host = unmapped(server.replace(/^\[(.*)\]$/, "$1"));
  if (ip === host || isLoopback(ip) && isLoopback(host)) return true;
  const literal = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");
  return literal || isLoopback(host) ? false : undefined;
}

/**
 * Binds the preferred port; a remembered port that is taken now falls back
 * to a free one, a port the user asked for does not.
 */
function bindPreferred<T>(
  preferred: number | undefined,
  bind: (port: number) => T,
  required = false,
): T {
  if (!preferred) return bind(0);
  try {
    return bind(preferred);
  } catch (error) {
    if (required || !(error instanceof Deno.errors.AddrInUse)) throw error;
    return bind(0);
  }
}

/**
 * The IP to announce in REGISTER: the bind address, or for a wildcard bind
 * the loopback address when the server is local, else the first external
 * IPv4 address of this host.
 */
export function announcedIp(bindHost: string, serverHost: string): string {
  if (bindHost !== "0.0.0.0" && bindHost !== "::") return bindHost;
  if (isLoopback(serverHost)) return "127.0.0.1";
  const external = Deno.networkInterfaces().find((nic) =>
    nic.family === "IPv4" && !nic.address.startsWith("127.")
  );
  return external?.address ?? "127.0.0.1";
}
