/**
 * The peer's shell: UDP and TCP sockets, the KV store, the clock, input
 * lines and printed output around the {@linkcode Agent} state machine, and
 * the {@linkcode PeerGuard} that does its crypto.
 *
 * Datagrams to the server go through the guard (a REGISTER offering `auth`
 * is signed, everything else sealed once a session exists); datagrams from
 * the server's address must pass it before the agent sees them. One timer
 * at {@linkcode Agent.nextDeadline} feeds the agent `tick` events, for its
 * retransmissions.
 *
 * The TCP port serves the server's transaction connections only (others
 * are closed with a warning), at most {@linkcode MAX_TCP_CONNECTIONS} at
 * once, each closed after {@linkcode TCP_TIMEOUT_MS} without a message.
 * Registered with a server that agreed `auth`, the port serves TLS with
 * this peer's certificate, and every message on it must carry the
 * session's MAC; otherwise it serves plain TCP. Messages are written
 * newline-framed to our own server and bare, in one write, to a classic
 * one.
 *
 * @module
 */
import {
  type Address,
  decode,
  describe,
  formatAddress,
  isLoopback,
  type Message,
} from "../protocol/mod.ts";
import { logger } from "../log/setup.ts";
import type { RetransmitOptions } from "../transport/reliability.ts";
import { FrameReader, writeMessage } from "../transport/tcp.ts";
import { type Clock, systemClock } from "../shell/clock.ts";
import { Wakeup } from "../shell/wakeup.ts";
import { Agent, type KeyInfo, type Output, type PeerEffect, type PeerEvent } from "./agent.ts";
import { LOOKS_SECRET } from "./commands.ts";
import { PeerGuard, rqOf, type TcpSession } from "./guard.ts";
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
  /** The server's key (`--server-key`): a server signing with another is refused. */
  readonly serverKey?: string;
  /** Send card data over plain TCP to a server without TLS (`--allow-plaintext`). */
  readonly allowPlaintext?: boolean;
  /** Retransmission timing of requests to the server. */
  readonly retransmit?: Partial<RetransmitOptions>;
  /** The clock events are stamped with and timers run on (the system's by default). */
  readonly clock?: Clock;
}

/** How long `quit` waits for answers still due from the server. */
const DRAIN_TIMEOUT_MS = 3_000;
const RECEIVE_BUFFER_BYTES = 2048;
/** The default of {@linkcode PeerOptions.tcpTimeoutMs}. */
export const TCP_TIMEOUT_MS = 30_000;
/** Most TCP connections served at once; more are closed at once. */
export const MAX_TCP_CONNECTIONS = 16;
const utf8 = new TextEncoder();
const utf8Text = new TextDecoder("utf-8", { fatal: true });
/** Most warnings a second about dropped datagrams; the rest go to the debug log. */
const DROP_WARNINGS_PER_SECOND = 1;
const log = logger("peer");
const wire = logger("peer", "wire");

/** The TCP listener and whether it serves TLS. */
interface Listening {
  readonly listener: Deno.Listener;
  readonly secure: boolean;
  readonly accepting: Promise<void>;
}

/** A running peer. */
export class ShopPeer implements AsyncDisposable {
  readonly #options: PeerOptions;
  readonly #socket: Deno.DatagramConn;
  readonly #tcpPort: number;
  #listening: Listening | undefined;
  readonly #store: PeerStore;
  readonly #guard: PeerGuard;
  readonly #agent: Agent;
  readonly #receiving: Promise<void>;
  #closing = false;
  #stopRequested: () => void = () => {};
  readonly #stopped: Promise<void>;
  /** Effects are performed one event at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  /** Open TCP connections from the server, by the id the agent knows them by. */
  readonly #conns = new Map<number, Deno.Conn>();
  /**
   * Connections the agent closed while their reader still runs: what was
   * read from them after that is dropped. (One the server closed still has
   * its last messages delivered, in order, before its close.)
   */
  readonly #forgotten = new Set<number>();
  readonly #serving = new Set<Promise<void>>();
  #lastConn = 0;
  /** Whether input is a secret now (see {@linkcode PeerOptions.secretInput}). */
  #secret = false;
  /** The server's IP addresses, looked up once when it is named by host name. */
  #serverIps: Promise<ReadonlySet<string>> | undefined;
  readonly #clock: Clock;
  /** The one timer, set for the agent's next retransmission. */
  readonly #wakeup: Wakeup;
  /** Rate limit of the warnings about dropped datagrams. */
  #dropWarnings = { second: 0, count: 0 };

  private constructor(
    options: PeerOptions,
    socket: Deno.DatagramConn,
    listener: Deno.Listener,
    store: PeerStore,
    guard: PeerGuard,
    agent: Agent,
  ) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#wakeup = new Wakeup((at) => this.#feed({ kind: "tick", at }), { clock: this.#clock });
    this.#socket = socket;
    this.#tcpPort = (listener.addr as Deno.NetAddr).port;
    this.#store = store;
    this.#guard = guard;
    this.#agent = agent;
    this.#stopped = new Promise((resolve) => (this.#stopRequested = resolve));
    this.#listening = { listener, secure: false, accepting: this.#accept(listener, false) };
    this.#receiving = this.#receive();
  }

  /**
   * Binds the sockets, opens the store, loads (or makes) the peer's key and
   * certificates, and restores the peer's state.
   */
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
      const ip = announcedIp(options.hostname, options.server.hostname);
      const wildcard = options.hostname === "0.0.0.0" || options.hostname === "::";
      const guard = await PeerGuard.open(store, {
        name: options.name,
        server: options.server,
        ips: [ip, "127.0.0.1", ...(wildcard ? [] : [options.hostname])],
        serverKey: options.serverKey,
        clock: options.clock,
      });
      const session = crypto.getRandomValues(new Uint8Array(4));
      const prefix = `${options.name}-${
        [...session].map((b) => b.toString(16).padStart(2, "0")).join("")
      }`;
      let counter = 0;
      const agent = new Agent(
        { name: options.name, ip, udpPort, tcpPort, server: options.server },
        await store.load(),
        {
          newRq: () => `${prefix}-${++counter}`,
          autoBuy: options.autoBuy,
          payment: options.payment,
          key: guard.key,
          serverKey: guard.serverKey,
          serverKeyGiven: guard.serverKeyGiven,
          allowPlaintext: options.allowPlaintext,
          retransmit: options.retransmit,
        },
      );
      const peer = new ShopPeer(options, socket, listener, store, guard, agent);
      cleanup.length = 0;
      // A peer registered with TLS keeps serving TLS across its restart.
      await peer.#syncListener();
      return peer;
    } catch (error) {
      cleanup.forEach((close) => close());
      await store[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The bound UDP and TCP ports. */
  get ports(): { udp: number; tcp: number } {
    return { udp: (this.#socket.addr as Deno.NetAddr).port, tcp: this.#tcpPort };
  }

  /** This peer's public key and its fingerprint. */
  get key(): KeyInfo {
    return this.#guard.key;
  }

  /** The state machine, for inspection. */
  get agent(): Agent {
    return this.#agent;
  }

  /** Whether the TCP port serves TLS now. */
  get tls(): boolean {
    return this.#listening?.secure ?? false;
  }

  /**
   * Runs input lines (commands, or answers to the questions asked) until
   * `quit` or the end of input, then waits (a little) for answers still due.
   * Server messages are handled meanwhile: a search never blocks input.
   */
  async run(lines: AsyncIterable<string>): Promise<void> {
    await this.#feed({ kind: "start", at: this.#clock.now() });
    const input = (async () => {
      for await (const line of lines) {
        if (this.#closing) break;
        await this.#feed({ kind: "line", text: line, at: this.#clock.now() });
      }
    })();
    await Promise.race([input, this.#stopped]);
    await this.#drain();
  }

  /** Waits `ms` on the peer's clock. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.set(resolve, ms));
  }

  async #drain(): Promise<void> {
    const deadline = this.#clock.now() + DRAIN_TIMEOUT_MS;
    // Answers still due, and transactions under way (a sale waiting for
    // Shipping_Info), get a little time to end.
    while (
      (this.#agent.pendingCount > 0 || this.#agent.transactionCount > 0) &&
      this.#clock.now() < deadline && !this.#closing
    ) {
      await this.#sleep(20);
    }
    await this.#chain;
  }

  #feed(event: PeerEvent): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (this.#closing && event.kind === "tick") return;
      if (
        (event.kind === "tcp" || event.kind === "tcp-invalid" ||
          event.kind === "tcp-unauthenticated") && this.#forgotten.has(event.conn)
      ) {
        // Read before the agent closed its connection: it is over.
        log.debug("Dropped a TCP message from closed connection {conn}", { conn: event.conn });
        return;
      }
      if (event.kind === "line" && event.text.trim() !== "") {
        // Payment answers (a card number, its expiry) are never logged.
        if (this.#agent.paymentPrompt || LOOKS_SECRET.test(event.text.trim())) {
          log.debug("input (perhaps a payment detail, not logged)");
        } else log.debug("input {line}", { line: event.text });
      }
      const effects = this.#agent.handle(event);
      // TLS (or plain TCP) is served before the registration is announced.
      await this.#syncListener();
      await this.#perform(effects);
      this.#wakeup.arm(this.#closing ? undefined : this.#agent.nextDeadline());
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
          log[effect.level]("{message}", { message: effect.text });
          break;
        case "send":
          await this.#send(effect.message);
          break;
        case "tcp-send":
          await this.#sendTcp(effect.conn, effect.message);
          break;
        case "tcp-close":
          if (this.#conns.has(effect.conn)) this.#forgotten.add(effect.conn);
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
    if (this.#closing) return;
    wire.debug("send {to} {text}", { to: formatAddress(server), text: describe(message) });
    let text: string;
    try {
      text = await this.#guard.outgoing(message);
    } catch (error) {
      this.#options.print({
        event: "error",
        text: `Error: cannot send ${message.type}: ${(error as Error).message}`,
        fields: { message: (error as Error).message },
      });
      return;
    }
    try {
      await this.#socket.send(utf8.encode(text), {
        transport: "udp",
        hostname: server.hostname,
        port: server.port,
      });
    } catch (error) {
      if (this.#closing) return;
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
      try {
        await this.#datagram(data.slice(), from);
      } catch (error) {
        log.error("Handling a datagram from {from} failed: {error}", {
          from: formatAddress(from),
          error: String(error),
        });
      }
    }
  }

  /** Checks one datagram (the server's must pass the guard) and feeds the agent. */
  async #datagram(data: Uint8Array, from: Address): Promise<void> {
    if (!this.#agent.isServer(from)) {
      // The agent warns about strangers; nothing of theirs is acted on.
      const result = decode(data);
      const at = this.#clock.now();
      this.#feed(
        result.ok
          ? { kind: "message", from, message: result.message, at }
          : { kind: "invalid", from, error: result.error, at },
      );
      return;
    }
    const incoming = await this.#guard.incoming(data, (message) => this.#agent.awaits(message));
    const at = this.#clock.now();
    switch (incoming.kind) {
      case "message":
        wire.debug("recv {from} {text}", {
          from: formatAddress(from),
          text: describe(incoming.message),
        });
        this.#feed({
          kind: "message",
          from,
          message: incoming.message,
          at,
          ...(incoming.serverKey ? { serverKey: incoming.serverKey } : {}),
        });
        break;
      case "invalid":
        this.#feed({ kind: "invalid", from, error: incoming.error, at });
        break;
      case "refused":
        log.warning("Refused the answer to REGISTER {rq}: {reason}", {
          rq: incoming.rq,
          reason: incoming.reason,
        });
        this.#feed({ kind: "refused", rq: incoming.rq, reason: incoming.reason, at });
        break;
      case "dropped":
        this.#dropped(`Dropped a datagram from the server's address: ${incoming.why}`);
        break;
    }
  }

  /** Logs a dropped datagram: a warning, unless a flood of them is coming. */
  #dropped(text: string): void {
    const second = Math.floor(this.#clock.now() / 1000);
    if (this.#dropWarnings.second !== second) this.#dropWarnings = { second, count: 0 };
    if (++this.#dropWarnings.count <= DROP_WARNINGS_PER_SECOND) log.warning("{text}", { text });
    else log.debug("{text}", { text });
  }

  /**
   * Serves TLS on the TCP port while registered with a server that agreed
   * `auth`, plain TCP otherwise: the listener is swapped on the same port.
   */
  async #syncListener(): Promise<void> {
    const secure = this.#agent.authenticated;
    if (this.#closing || this.#listening?.secure === secure) return;
    const hostname = this.#options.hostname;
    const port = this.#tcpPort;
    const previous = this.#listening;
    this.#listening = undefined;
    if (previous) {
      try {
        previous.listener.close();
      } catch {
        // Closed already.
      }
      // The port is free once the pending accept has ended.
      await previous.accepting;
    }
    if (this.#closing) return;
    try {
      const { chainPem, keyPem } = this.#guard.certificates;
      const listener: Deno.Listener = secure
        ? Deno.listenTls({ transport: "tcp", hostname, port, cert: chainPem, key: keyPem })
        : Deno.listen({ transport: "tcp", hostname, port });
      this.#listening = { listener, secure, accepting: this.#accept(listener, secure) };
      log.debug("TCP port {port} serves {kind}", { port, kind: secure ? "TLS" : "plain TCP" });
    } catch (error) {
      log.error("Cannot listen on TCP port {port}: {error}", { port, error: String(error) });
      this.#options.print({
        event: "error",
        text: `Error: cannot listen on TCP port ${port}: ${String(error)}`,
        fields: { message: String(error) },
      });
    }
  }

  async #accept(listener: Deno.Listener, secure: boolean): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        // Closed: the peer stops, or the listener was swapped.
        if (this.#closing || this.#listening?.listener !== listener) break;
        if (error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors and the like: try again a little later.
        log.warning("Accepting a TCP connection failed: {error}", { error: String(error) });
        await this.#sleep(100);
        continue;
      }
      const serving = this.#serve(conn, secure).catch((error) => {
        log.error("Serving a TCP connection failed: {error}", { error: String(error) });
      }).finally(() => this.#serving.delete(serving));
      this.#serving.add(serving);
    }
  }

  /** Reads one connection from the server until it closes, feeding the agent. */
  async #serve(conn: Deno.Conn, secure: boolean): Promise<void> {
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
    log.debug("TCP connection {id} from {from}{tls}", { id, from, tls: secure ? " (TLS)" : "" });
    try {
      await this.#read(id, conn, from, secure);
    } finally {
      // After the events read from it, nothing more can come.
      this.#chain = this.#chain.then(() => void this.#forgotten.delete(id));
    }
  }

  async #read(id: number, conn: Deno.Conn, from: string, secure: boolean): Promise<void> {
    const reader = new FrameReader(conn);
    const session = secure ? this.#guard.tcpSession() : undefined;
    const timeoutMs = this.#options.tcpTimeoutMs ?? TCP_TIMEOUT_MS;
    while (this.#conns.has(id)) {
      let frame;
      // A timer of our own rather than AbortSignal.timeout: it is cleared
      // as soon as the read ends, so none outlives the connection.
      const timeout = new AbortController();
      const timer = this.#clock.set(
        () => timeout.abort(new DOMException("The read timed out", "TimeoutError")),
        timeoutMs,
      );
      try {
        frame = await reader.read({ signal: timeout.signal });
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
          at: this.#clock.now(),
        });
        return;
      } finally {
        this.#clock.clear(timer);
      }
      if (frame === undefined) {
        log.debug("TCP connection {id} from {from} closed by the server", { id, from });
        this.#closeConn(id);
        this.#feed({ kind: "tcp-closed", conn: id, cause: "remote", at: this.#clock.now() });
        return;
      }
      this.#feed(this.#tcpEvent(id, from, frame, session));
    }
  }

  /**
   * What one frame on a connection is to the agent. Over TLS (our server)
   * it must carry the session's MAC: without it, it is never acted on.
   */
  #tcpEvent(
    id: number,
    from: string,
    frame: Uint8Array,
    session: TcpSession | undefined,
  ): PeerEvent {
    const at = this.#clock.now();
    let body: Uint8Array | string = frame;
    if (session) {
      let text: string;
      try {
        text = utf8Text.decode(frame);
      } catch {
        return { kind: "tcp-unauthenticated", conn: id, why: "not UTF-8", at };
      }
      const opened = session.open(text);
      if (!opened.ok) {
        log.warning("TCP connection {id} from {from}: a message without a valid MAC ({why})", {
          id,
          from,
          why: opened.why,
        });
        const rq = rqOf(text);
        return {
          kind: "tcp-unauthenticated",
          conn: id,
          why: opened.why,
          at,
          ...(rq ? { rq } : {}),
        };
      }
      body = opened.text;
    }
    const result = decode(body, { channel: "tcp" });
    if (!result.ok) return { kind: "tcp-invalid", conn: id, error: result.error, at };
    wire.debug("recv tcp {from} {text}", { from, text: describe(result.message) });
    return { kind: "tcp", conn: id, message: result.message, at };
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
      this.#feed({ kind: "tcp-closed", conn: id, cause: "error", at: this.#clock.now() });
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
    this.#wakeup[Symbol.dispose]();
    this.#socket.close();
    const listening = this.#listening;
    try {
      listening?.listener.close();
    } catch {
      // Closed already.
    }
    for (const id of [...this.#conns.keys()]) this.#closeConn(id);
    await Promise.allSettled([this.#receiving, listening?.accepting, ...this.#serving]);
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
