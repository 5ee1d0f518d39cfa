/**
 * The peer's shell: UDP and TCP sockets, the KV store, input lines and
 * printed output around the {@linkcode Agent} state machine.
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
import { Agent, type Output, type PeerEffect, type PeerEvent } from "./agent.ts";
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
}

/** How long `quit` waits for answers still due from the server. */
const DRAIN_TIMEOUT_MS = 3_000;
const RECEIVE_BUFFER_BYTES = 2048;
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
        { newRq: () => `${prefix}-${++counter}`, autoBuy: options.autoBuy },
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
        if (line.trim() !== "") log.debug("input {line}", { line });
        await this.#feed({ kind: "line", text: line, at: Date.now() });
      }
    })();
    await Promise.race([input, this.#stopped]);
    await this.#drain();
  }

  async #drain(): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (this.#agent.pendingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.#chain;
  }

  #feed(event: PeerEvent): Promise<void> {
    this.#chain = this.#chain.then(() => this.#perform(this.#agent.handle(event)));
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
        case "print":
          this.#options.print(effect.output);
          break;
        case "stop":
          this.#stopRequested();
          break;
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
    // The transaction leg comes with a later change; until then a
    // connection is closed at once.
    for await (const conn of this.#listener) {
      log.info("Closed a TCP connection from {from}: no transaction is expected", {
        from: formatAddress(conn.remoteAddr),
      });
      conn.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#socket.close();
    this.#listener.close();
    await Promise.allSettled([this.#receiving, this.#accepting, this.#chain]);
    await this.#store[Symbol.asyncDispose]();
  }
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
