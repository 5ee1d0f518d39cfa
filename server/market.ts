/**
 * The server's protocol logic as a state machine without I/O: it is fed
 * events (a decoded datagram, an undecodable one, the clock reaching a
 * deadline) and answers with effects (messages to send, records to write,
 * lines to log). The shell in `server.ts` owns the sockets, the KV store and
 * the clock; recovery after a crash is loading the stored records back into
 * a new machine.
 *
 * @module
 */
import type { Address, DecodeError, Message, MessageOf } from "../protocol/mod.ts";

/** What the server remembers of a registered peer. */
export interface PeerRecord {
  readonly name: string;
  /** The IP the peer announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  /** Where the REGISTER datagram came from; the server writes to this IP. */
  readonly source: Address;
  readonly registeredAt: number;
}

/** A key in the server's store; the store maps it to its KV key. */
export type RecordKey = readonly ["peer", string];

/** A change to durable state. */
export type Mutation =
  | { readonly op: "set"; readonly key: RecordKey; readonly value: PeerRecord }
  | { readonly op: "delete"; readonly key: RecordKey };

/** What the machine asks its shell to do. */
export type Effect =
  | { readonly kind: "send"; readonly to: Address; readonly message: Message }
  | Mutation & { readonly kind: "write" }
  | {
    readonly kind: "log";
    readonly level: "debug" | "info" | "warning";
    readonly text: string;
  };

/** What happens to the machine. */
export type ServerEvent =
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    /** Size of the datagram, to bound what is sent back. */
    readonly bytes: number;
    readonly at: number;
  }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly bytes: number;
    readonly at: number;
  };

/** The durable state a machine starts from. */
export interface Snapshot {
  readonly peers: Iterable<PeerRecord>;
}

/** Replies that deny a request, by the request type they answer. */
const DENIALS: Partial<Record<string, "REGISTER-DENIED" | "DE-REGISTER-DENIED">> = {
  "REGISTER": "REGISTER-DENIED",
  "DE-REGISTER": "DE-REGISTER-DENIED",
};

/**
 * The marketplace's state machine.
 *
 * @example
 * ```ts
 * const market = new Market();
 * const effects = market.handle({
 *   kind: "message",
 *   from: { hostname: "127.0.0.1", port: 6000 },
 *   message: { type: "REGISTER", rq: "r1", name: "alice", ip: "127.0.0.1", udpPort: 6000, tcpPort: 6001 },
 *   bytes: 40,
 *   at: Date.now(),
 * });
 * ```
 */
export class Market {
  readonly #peers = new Map<string, PeerRecord>();

  constructor(snapshot: Snapshot = { peers: [] }) {
    for (const peer of snapshot.peers) this.#addPeer(peer);
  }

  #addPeer(peer: PeerRecord): void {
    this.#peers.set(peer.name, peer);
  }

  #removePeer(peer: PeerRecord): void {
    this.#peers.delete(peer.name);
  }

  /** The registered peer with this name, if any. */
  peer(name: string): PeerRecord | undefined {
    return this.#peers.get(name);
  }

  /** Every registered peer. */
  peers(): IterableIterator<PeerRecord> {
    return this.#peers.values();
  }

  /**
   * Feeds one event to the machine.
   *
   * @returns The effects, in order: writes come before the sends they
   *   justify, so a shell that commits writes first never announces state
   *   it has not stored.
   */
  handle(event: ServerEvent): Effect[] {
    const effects: Effect[] = [];
    if (event.kind === "invalid") {
      this.#answerInvalid(event, effects);
      return effects;
    }
    const { message } = event;
    switch (message.type) {
      case "REGISTER":
        this.#register(event, message, effects);
        break;
      case "DE-REGISTER":
        this.#deregister(event, message, effects);
        break;
      default:
        effects.push({
          kind: "log",
          level: "warning",
          text: `Ignored ${message.type} ${message.rq}: not a request a server takes`,
        });
    }
    return effects;
  }

  #register(
    event: Extract<ServerEvent, { kind: "message" }>,
    message: MessageOf<"REGISTER">,
    effects: Effect[],
  ): void {
    const existing = this.#peers.get(message.name);
    if (existing) {
      if (sameRegistration(existing, message, event.from)) {
        // A repeated REGISTER (a lost reply, a retransmission) is not a
        // second peer: confirm it again and change nothing.
        effects.push(this.#reply(event, { type: "REGISTERED", rq: message.rq }));
        return;
      }
      effects.push(
        this.#reply(event, {
          type: "REGISTER-DENIED",
          rq: message.rq,
          reason: `name ${message.name} in use`,
        }),
      );
      return;
    }
    const peer: PeerRecord = {
      name: message.name,
      ip: message.ip,
      udpPort: message.udpPort,
      tcpPort: message.tcpPort,
      source: event.from,
      registeredAt: event.at,
    };
    this.#addPeer(peer);
    effects.push(
      { kind: "write", op: "set", key: ["peer", peer.name], value: peer },
      {
        kind: "log",
        level: "info",
        text:
          `Registered ${peer.name} at ${peer.source.hostname} (UDP ${peer.udpPort}, TCP ${peer.tcpPort})`,
      },
      this.#reply(event, { type: "REGISTERED", rq: message.rq }),
    );
  }

  #deregister(
    event: Extract<ServerEvent, { kind: "message" }>,
    message: MessageOf<"DE-REGISTER">,
    effects: Effect[],
  ): void {
    const peer = this.#peers.get(message.name);
    if (!peer) {
      effects.push(this.#reply(event, {
        type: "DE-REGISTER-DENIED",
        rq: message.rq,
        reason: `name ${message.name} not registered`,
      }));
      return;
    }
    if (peer.source.hostname !== event.from.hostname) {
      effects.push(this.#reply(event, {
        type: "DE-REGISTER-DENIED",
        rq: message.rq,
        reason: `name ${message.name} registered from another address`,
      }));
      return;
    }
    this.#removePeer(peer);
    effects.push(
      { kind: "write", op: "delete", key: ["peer", peer.name] },
      { kind: "log", level: "info", text: `De-registered ${peer.name}` },
      this.#reply(event, { type: "DE-REGISTERED", rq: message.rq }),
    );
  }

  #answerInvalid(
    event: Extract<ServerEvent, { kind: "invalid" }>,
    effects: Effect[],
  ): void {
    const { error } = event;
    effects.push({
      kind: "log",
      level: "warning",
      text: `Rejected datagram from ${event.from.hostname}:${event.from.port}: ${error.message}`,
    });
    const denial = error.keyword ? DENIALS[error.keyword] : undefined;
    if (error.rq === undefined || denial === undefined) return;
    effects.push(this.#reply(event, {
      type: denial,
      rq: error.rq,
      reason: error.message,
    }));
  }

  /** A reply to the datagram's source. */
  #reply(event: ServerEvent, message: Message): Effect {
    return { kind: "send", to: event.from, message };
  }
}

function sameRegistration(
  peer: PeerRecord,
  message: MessageOf<"REGISTER">,
  from: Address,
): boolean {
  return peer.ip === message.ip && peer.udpPort === message.udpPort &&
    peer.tcpPort === message.tcpPort &&
    peer.source.hostname === from.hostname && peer.source.port === from.port;
}
