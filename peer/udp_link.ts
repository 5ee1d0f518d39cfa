/**
 * The peer's UDP socket to the server. Datagrams to the server go through
 * the {@linkcode PeerGuard} (a REGISTER offering `auth` is signed,
 * everything else sealed once a session exists); datagrams from the
 * server's address must pass it before the agent sees them. Strangers'
 * datagrams reach the agent only to be warned about.
 *
 * @module
 */
import { type Address, decode, describe, formatAddress, type Message } from "../protocol/mod.ts";
import { logger } from "../log/setup.ts";
import type { Clock } from "../shell/clock.ts";
import type { Output, PeerEvent } from "./agent.ts";
import type { PeerGuard } from "./guard.ts";
import { LimitedWarnings } from "./_warnings.ts";

const RECEIVE_BUFFER_BYTES = 2048;
/** Most warnings a second about dropped datagrams; the rest go to the debug log. */
const DROP_WARNINGS_PER_SECOND = 1;
const utf8 = new TextEncoder();
/** Reads a classic server's words as they come, bad bytes and all. */
const lenient = new TextDecoder();
const log = logger("peer");
const wire = logger("peer", "wire");

/** What the UDP socket tells the agent. */
export type UdpEvent = Extract<PeerEvent, { kind: "message" | "invalid" | "refused" }>;

/** Options for {@linkcode UdpLink}. */
export interface UdpLinkOptions {
  /** The server's UDP address. */
  readonly server: Address;
  readonly guard: PeerGuard;
  readonly clock: Clock;
  /** Whether a datagram from `from` is the server's (to be checked by the guard). */
  readonly isServer: (from: Address) => boolean;
  /** Whether the agent waits for an answer like `message` (see {@linkcode PeerGuard.incoming}). */
  readonly awaits: (message: Message) => boolean;
  /** Hands an event to the agent, after the ones before it. */
  readonly deliver: (event: UdpEvent) => void;
  /** Where errors the user should see are printed. */
  readonly print: (output: Output) => void;
}

/** The UDP socket of a peer, read until it is disposed. */
export class UdpLink implements AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #options: UdpLinkOptions;
  readonly #receiving: Promise<void>;
  readonly #dropWarnings: LimitedWarnings;
  #closing = false;

  constructor(socket: Deno.DatagramConn, options: UdpLinkOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#dropWarnings = new LimitedWarnings(log, {
      clock: options.clock,
      perSecond: DROP_WARNINGS_PER_SECOND,
    });
    this.#receiving = this.#receive();
  }

  /** The last error a send to the server met, until one succeeds. */
  #sendError: string | undefined;

  /** The bound UDP port. */
  get port(): number {
    return (this.#socket.addr as Deno.NetAddr).port;
  }

  /** Sends a message to the server through the guard; failures are printed. */
  async send(message: Message): Promise<void> {
    const { server, print } = this.#options;
    if (this.#closing) return;
    wire.debug("send {to} {text}", { to: formatAddress(server), text: describe(message) });
    let text: string;
    try {
      text = await this.#options.guard.outgoing(message);
    } catch (error) {
      print({
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
      this.#sendError = undefined;
    } catch (error) {
      if (this.#closing) return;
      // Every retry fails the same way (a host that does not resolve): say
      // it once, and again only when it changes or after a send went out.
      const why = String(error);
      if (why === this.#sendError) {
        log.debug("Send failed again: {error}", { error: why });
        return;
      }
      this.#sendError = why;
      print({
        event: "error",
        text: `Error: cannot reach the server at ${formatAddress(server)}: ${why}`,
        fields: { message: why },
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
    const { clock, deliver } = this.#options;
    if (!this.#options.isServer(from)) {
      // The agent warns about strangers; nothing of theirs is acted on.
      const result = decode(data);
      const at = clock.now();
      deliver(
        result.ok
          ? { kind: "message", from, message: result.message, at }
          : { kind: "invalid", from, error: result.error, at },
      );
      return;
    }
    const incoming = await this.#options.guard.incoming(data, this.#options.awaits);
    const at = clock.now();
    switch (incoming.kind) {
      case "message":
        wire.debug("recv {from} {text}", {
          from: formatAddress(from),
          text: describe(incoming.message),
        });
        deliver({
          kind: "message",
          from,
          message: incoming.message,
          at,
          ...(incoming.serverKey ? { serverKey: incoming.serverKey } : {}),
        });
        break;
      case "invalid":
        deliver({
          kind: "invalid",
          from,
          error: incoming.error,
          at,
          // A classic server's own words (`ERROR: …`) may end a search.
          ...(incoming.error.code === "unknown_type" ? { text: lenient.decode(data) } : {}),
        });
        break;
      case "refused":
        log.warning("Refused the answer to REGISTER {rq}: {reason}", {
          rq: incoming.rq,
          reason: incoming.reason,
        });
        deliver({ kind: "refused", rq: incoming.rq, reason: incoming.reason, at });
        break;
      case "dropped":
        // A warning, unless a flood of them is coming.
        this.#dropWarnings.warn("{text}", {
          text: `Dropped a datagram from the server's address: ${incoming.why}`,
        });
        break;
    }
  }

  /** Closes the socket and waits for its reader to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#socket.close();
    await this.#receiving;
  }
}
