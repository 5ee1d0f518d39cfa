/**
 * The peer's shell: UDP and TCP sockets, the KV store, the clock, input
 * lines and printed output around the {@linkcode Agent} state machine, and
 * the {@linkcode PeerGuard} that does its crypto.
 *
 * Events (input lines, datagrams, TCP messages, timer ticks) are handled
 * one at a time, in order: the agent's effects for one are performed (its
 * writes in one commit first) before the next is handled. Nothing that
 * tells of an event (a line printed, a datagram, a TCP answer, the page's
 * event stream) leaves before its writes are stored: a commit that fails
 * is tried again through a {@linkcode CommitQueue}, with every event after
 * it waiting, and past `storeTimeout` the peer stops with
 * {@linkcode StoreUnavailable}, to start again from what it stored. The
 * agent's state is then ahead of the store only while that one commit is
 * under way. The UDP socket
 * ({@linkcode UdpLink}, in `udp_link.ts`) passes the server's datagrams
 * through the guard. One timer at {@linkcode Agent.nextDeadline} feeds the
 * agent `tick` events, for its retransmissions.
 *
 * The TCP port ({@linkcode TcpServer}, in `tcp_server.ts`) serves the
 * server's transaction connections: TLS while registered with a server
 * that agreed `auth`, plain TCP otherwise, with connections that have not
 * authenticated kept apart from the {@linkcode MAX_TCP_CONNECTIONS} that
 * have. Messages are written newline-framed to our own server and bare, in
 * one write, to a classic one.
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";
import { logger } from "../log/setup.ts";
import type { RetransmitOptions } from "../transport/reliability.ts";
import { type Clock, systemClock } from "../shell/clock.ts";
import { CommitQueue, describeError, StoreUnavailable } from "../shell/commit_queue.ts";
import { Wakeup } from "../shell/wakeup.ts";
import { Agent, type KeyInfo, type Output, type PeerEffect, type PeerEvent } from "./agent.ts";
import { LOOKS_SECRET } from "./commands.ts";
import { PeerGuard } from "./guard.ts";
import type { PaymentDetails } from "./payment.ts";
import { PeerStore, type PeerWrite } from "./store.ts";
import { announcedIp, bindPreferred, serverIpCheck } from "./addresses.ts";
import { TcpServer } from "./tcp_server.ts";
import { UdpLink } from "./udp_link.ts";

export { announcedIp, isServerIp } from "./addresses.ts";
export {
  MAX_PENDING_TCP_CONNECTIONS,
  MAX_TCP_CONNECTIONS,
  TCP_TIMEOUT_MS,
  TLS_HANDSHAKE_TIMEOUT_MS,
} from "./tcp_server.ts";

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
  /**
   * Called with `true` when the next input line answers a question (y/N,
   * payment details) and with `false` after it: a terminal keeps such
   * lines out of its history.
   */
  readonly answering?: (answering: boolean) => void;
  /** How long a TCP connection may stay silent before it is closed. */
  readonly tcpTimeoutMs?: number;
  /** How long a TLS handshake on the TCP port may take before the connection is closed. */
  readonly tlsHandshakeTimeoutMs?: number;
  /** Most TCP connections waiting to authenticate at once; a new one closes the oldest. */
  readonly maxPendingTcpConnections?: number;
  /** The server's key (`--server-key`): a server signing with another is refused. */
  readonly serverKey?: string;
  /** Send card data over plain TCP to a server without TLS (`--allow-plaintext`). */
  readonly allowPlaintext?: boolean;
  /** Retransmission timing of requests to the server. */
  readonly retransmit?: Partial<RetransmitOptions>;
  /** The clock events are stamped with and timers run on (the system's by default). */
  readonly clock?: Clock;
  /**
   * How long the peer's store may keep failing its commits (a full disk)
   * before the peer gives up and stops (default 30 s).
   */
  readonly storeTimeout?: number;
}

/** How long `quit` waits for answers still due from the server. */
const DRAIN_TIMEOUT_MS = 3_000;
const log = logger("peer");

/** A running peer. */
export class ShopPeer implements AsyncDisposable {
  readonly #options: PeerOptions;
  readonly #udp: UdpLink;
  readonly #tcp: TcpServer;
  readonly #store: PeerStore;
  readonly #guard: PeerGuard;
  readonly #agent: Agent;
  #closing = false;
  #stopRequested: () => void = () => {};
  readonly #stopped: Promise<void>;
  /** Effects are performed one event at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  /** Whether input is a secret now (see {@linkcode PeerOptions.secretInput}). */
  #secret = false;
  /** Whether input answers a question now (see {@linkcode PeerOptions.answering}). */
  #answering = false;
  readonly #clock: Clock;
  /** The one timer, set for the agent's next retransmission. */
  readonly #wakeup: Wakeup;
  /** The agent's writes, stored in order and tried again while they fail. */
  readonly #commits: CommitQueue<readonly PeerWrite[]>;
  /** Why the peer stopped: its store failed past the bound. */
  #failure: StoreUnavailable | undefined;

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
    this.#store = store;
    this.#commits = new CommitQueue({
      apply: (writes) => store.apply(writes),
      retryFor: options.storeTimeout ?? 30_000,
      clock: this.#clock,
      onStall: (error) => this.#stalled(error),
      onRecover: (stalledMs, tries) => this.#recovered(stalledMs, tries),
    });
    this.#guard = guard;
    this.#agent = agent;
    this.#stopped = new Promise((resolve) => (this.#stopRequested = resolve));
    this.#tcp = new TcpServer(listener, {
      hostname: options.hostname,
      clock: this.#clock,
      fromServer: serverIpCheck(options.server.hostname),
      certificates: guard.certificates,
      session: () => guard.tcpSession(),
      deliver: (event) => void this.#feed(event),
      after: (task) => void (this.#chain = this.#chain.then(task)),
      timeoutMs: options.tcpTimeoutMs,
      handshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
      maxPending: options.maxPendingTcpConnections,
    });
    this.#udp = new UdpLink(socket, {
      server: options.server,
      guard,
      clock: this.#clock,
      isServer: (from) => agent.isServer(from),
      awaits: (message) => agent.awaits(message),
      deliver: (event) => void this.#feed(event),
      print: options.print,
    });
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

  /** This peer's name in the marketplace. */
  get name(): string {
    return this.#options.name;
  }

  /** The bound UDP and TCP ports. */
  get ports(): { udp: number; tcp: number } {
    return { udp: this.#udp.port, tcp: this.#tcp.port };
  }

  /** This peer's public key and its fingerprint. */
  get key(): KeyInfo {
    return this.#guard.key;
  }

  /** The state machine, for inspection. */
  get agent(): Agent {
    return this.#agent;
  }

  /**
   * Resolves once every write the agent has made is stored: what the agent
   * shows then is what the store holds.
   *
   * @throws {StoreUnavailable} If the store failed past the bound.
   */
  settled(): Promise<void> {
    return this.#commits.settled();
  }

  /**
   * Resolves once every event fed so far is handled: its writes stored and
   * its outputs printed (the page reads a command's errors this way).
   */
  idle(): Promise<void> {
    return this.#chain.then(() => this.#commits.settled());
  }

  /** Whether the TCP port serves TLS now. */
  get tls(): boolean {
    return this.#tcp.secure;
  }

  /**
   * Runs input lines (commands, or answers to the questions asked) until
   * `quit` or the end of input, then waits (a little) for answers still due.
   * Server messages are handled meanwhile: a search never blocks input.
   *
   * @throws {StoreUnavailable} If the peer's store failed every commit for
   *   `storeTimeout`: the peer stopped, and told nobody of what it could
   *   not store.
   */
  async run(lines: AsyncIterable<string>): Promise<void> {
    await this.#feed({ kind: "start", at: this.#clock.now() });
    const input = (async () => {
      for await (const line of lines) {
        if (this.#closing || this.#failure) break;
        await this.#feed({ kind: "line", text: line, at: this.#clock.now() });
      }
    })();
    await Promise.race([input, this.#stopped]);
    await this.#drain();
    if (this.#failure) throw this.#failure;
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
      this.#clock.now() < deadline && !this.#closing && !this.#failure
    ) {
      await this.#sleep(20);
    }
    await this.#chain;
  }

  #feed(event: PeerEvent): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      // Past a store that failed, nothing more is acted on.
      if (this.#failure || (this.#closing && event.kind === "tick")) return;
      if (
        (event.kind === "tcp" || event.kind === "tcp-invalid" ||
          event.kind === "tcp-unauthenticated") && this.#tcp.forgot(event.conn)
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
      await this.#perform(effects);
      this.#wakeup.arm(this.#closing || this.#failure ? undefined : this.#agent.nextDeadline());
    }).catch((error) => {
      if (error instanceof StoreUnavailable) return this.#giveUp(error);
      // Nothing an event does may stop the ones after it.
      log.error("Handling {kind} failed: {error}", { kind: event.kind, error: String(error) });
    });
    return this.#chain;
  }

  async #perform(effects: PeerEffect[]): Promise<void> {
    // The agent puts an event's writes first; they go in one commit, and
    // nothing is sent or printed for the event until it is stored (tried
    // again while it fails, the events after it waiting).
    const writes = effects.filter((effect): effect is PeerWrite =>
      effect.kind === "save" || effect.kind === "delete"
    );
    if (writes.length > 0) await this.#commits.push(writes);
    // TLS (or plain TCP) is served before the registration is announced.
    await this.#syncListener();
    for (const effect of effects) {
      switch (effect.kind) {
        case "save":
        case "delete":
          break;
        case "log":
          log[effect.level]("{message}", { message: effect.text });
          break;
        case "send":
          await this.#udp.send(effect.message);
          break;
        case "tcp-send":
          // Our server reads newline-framed messages; a classic one reads
          // one recv, so it gets the bare message in one write.
          await this.#tcp.send(effect.conn, effect.message, {
            framed: this.#agent.serverKind === "ours",
          });
          break;
        case "tcp-close":
          this.#tcp.close(effect.conn);
          break;
        case "print":
          this.#options.print(effect.output);
          break;
        case "stop":
          this.#stopRequested();
          break;
      }
    }
    const answering = this.#agent.answering;
    if (answering !== this.#answering) {
      this.#answering = answering;
      this.#options.answering?.(answering);
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

  /** The store started failing: said once, until it works again. */
  #stalled(error: unknown): void {
    const why = describeError(error);
    const bound = ((this.#options.storeTimeout ?? 30_000) / 1000).toFixed(0);
    // In the file; the user sees the line printed.
    log.info("Cannot store the peer's state: {error}; trying again", { error: why });
    this.#options.print({
      event: "warning",
      text: `Cannot store ${this.#options.name}'s state: ${why}; nothing is shown or sent ` +
        `until it is stored (trying again for up to ${bound} s)`,
      fields: { message: why, store: "failing" },
    });
  }

  #recovered(stalledMs: number, tries: number): void {
    const after = (stalledMs / 1000).toFixed(1);
    log.info("The peer's state is stored again after {after} s", { after });
    this.#options.print({
      event: "stored",
      text: `${this.#options.name}'s state is stored again after ${after} s; carrying on`,
      fields: { stalledMs, tries },
    });
  }

  /** The store failed past the bound: stop, with nothing more acted on or told. */
  #giveUp(failure: StoreUnavailable): void {
    if (this.#failure) return;
    this.#failure = failure;
    this.#wakeup.arm(undefined);
    // In the file; the command line says it on standard error.
    log.info("Stopping: {error}", { error: failure.message });
    this.#stopRequested();
  }

  /**
   * Serves TLS on the TCP port while registered with a server that agreed
   * `auth`, plain TCP otherwise: the listener is swapped on the same port.
   */
  async #syncListener(): Promise<void> {
    if (this.#closing) return;
    try {
      await this.#tcp.listen(this.#agent.authenticated);
    } catch (error) {
      const port = this.#tcp.port;
      log.error("Cannot listen on TCP port {port}: {error}", { port, error: String(error) });
      this.#options.print({
        event: "error",
        text: `Error: cannot listen on TCP port ${port}: ${String(error)}`,
        fields: { message: String(error) },
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#wakeup[Symbol.dispose]();
    await Promise.allSettled([this.#udp[Symbol.asyncDispose](), this.#tcp[Symbol.asyncDispose]()]);
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
