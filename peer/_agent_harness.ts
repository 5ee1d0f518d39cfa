/**
 * Test helpers for the peer's state machine: an in-memory store its effects
 * are written to, and a harness that drives an {@linkcode Agent}.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Address, DecodeError, Message } from "../protocol/mod.ts";
import {
  Agent,
  type AgentOptions,
  type BuyRequest,
  type HistoryEntry,
  type InventoryItem,
  type KeyInfo,
  type NegotiationRecord,
  type Output,
  type PeerEffect,
  type PeerProfile,
  type PeerSnapshot,
  type RegistrationRecord,
  type SettingsRecord,
} from "./agent.ts";
import { assertRequestMove } from "./agent/request_states.ts";
import type { PaymentDetails } from "./payment.ts";

export const SERVER: Address = { hostname: "127.0.0.1", port: 5000 };
export const STRANGER: Address = { hostname: "127.0.0.1", port: 5999 };
export const ALICE: PeerProfile = {
  name: "alice",
  ip: "127.0.0.1",
  udpPort: 6001,
  tcpPort: 7001,
  server: SERVER,
};
export const T0 = Date.UTC(2026, 10, 25);

/** The peer's KV as the shell keeps it, to restart an agent from. */
export class MemoryStore {
  readonly records = new Map<string, unknown>();

  /**
   * Stores an event's writes, checking each stored search's move against
   * the table of `agent/request_states.ts` (so every agent test checks it).
   */
  apply(effects: PeerEffect[]): void {
    for (const effect of effects) {
      if (effect.kind === "save" && effect.key[0] === "request") {
        const before = this.records.get(JSON.stringify(effect.key)) as BuyRequest | undefined;
        assertRequestMove(before, effect.value as BuyRequest);
      }
      if (effect.kind === "save") this.records.set(JSON.stringify(effect.key), effect.value);
      if (effect.kind === "delete") this.records.delete(JSON.stringify(effect.key));
    }
  }

  snapshot(): PeerSnapshot {
    const all = <T>(kind: string) =>
      [...this.records].filter(([key]) => JSON.parse(key)[0] === kind).map(([, v]) => v as T);
    return {
      registration: all<RegistrationRecord>("registration")[0],
      settings: all<SettingsRecord>("settings")[0],
      items: all<InventoryItem>("item"),
      requests: all<BuyRequest>("request"),
      negotiations: all<NegotiationRecord>("negotiation"),
      history: all<HistoryEntry>("history"),
    };
  }
}

/** An agent, the store its effects are written to, and helpers to drive it. */
export class Harness {
  readonly store: MemoryStore;
  readonly agent: Agent;
  #rqs = 0;

  constructor(
    options: Partial<AgentOptions> = {},
    store = new MemoryStore(),
    prefix = "alice-a",
  ) {
    this.store = store;
    this.agent = new Agent(ALICE, store.snapshot(), {
      newRq: () => `${prefix}-${++this.#rqs}`,
      strictTransitions: true,
      ...options,
    });
  }

  #run(effects: PeerEffect[]): PeerEffect[] {
    this.store.apply(effects);
    return effects;
  }

  line(text: string, at = T0): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "line", text, at }));
  }

  start(at = T0): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "start", at }));
  }

  receive(message: Message, at = T0, from = SERVER): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "message", from, message, at }));
  }

  /** A message on TCP connection `conn`. */
  tcp(conn: number, message: Message, at = T0): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "tcp", conn, message, at }));
  }

  tcpInvalid(conn: number, error: DecodeError, at = T0): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "tcp-invalid", conn, error, at }));
  }

  tcpClosed(conn: number, cause: "remote" | "timeout" | "error" = "remote", at = T0): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "tcp-closed", conn, cause, at }));
  }

  /**
   * Registers with a server of ours (by default agreeing `from` and `auth`:
   * TLS on the transaction, without `ack`, so no ACK goes out), or a
   * classic one.
   */
  register(
    kind: "ours" | "classic" = "ours",
    features: readonly string[] = ["from", "auth"],
  ): void {
    const [send] = sent(this.line("register"));
    this.receive({
      type: "REGISTERED",
      rq: send!.rq,
      ...(kind === "ours" ? { extensions: [...features] } : {}),
    });
  }

  /** Feeds a tick at `at`. */
  tick(at: number): PeerEffect[] {
    return this.#run(this.agent.handle({ kind: "tick", at }));
  }
}

export function sent(effects: PeerEffect[]): Message[] {
  return effects.flatMap((effect) => effect.kind === "send" ? [effect.message] : []);
}

export function printed(effects: PeerEffect[]): Output[] {
  return effects.flatMap((effect) => effect.kind === "print" ? [effect.output] : []);
}

export function events(effects: PeerEffect[]): string[] {
  return printed(effects).map((output) => output.event);
}

export function writes(effects: PeerEffect[]) {
  return effects.filter((effect) => effect.kind === "save" || effect.kind === "delete");
}

export function only<T>(items: T[]): T {
  assert.equal(items.length, 1, `expected one, got ${JSON.stringify(items)}`);
  return items[0]!;
}

// Payment details and the two sides of a transaction.

export const CARD = "4111111111111111";
export const EXPIRY = "11/30";
export const PAYMENT: PaymentDetails = { card: CARD, expiry: EXPIRY, address: "42 Main St" };

/** What went out on each TCP connection, and which ones were closed. */
export function tcpSent(effects: PeerEffect[]): [number, Message][] {
  return effects.flatMap((effect) =>
    effect.kind === "tcp-send" ? [[effect.conn, effect.message] as [number, Message]] : []
  );
}

export function closed(effects: PeerEffect[]): number[] {
  return effects.flatMap((effect) => effect.kind === "tcp-close" ? [effect.conn] : []);
}

/** A registered buyer whose FOUND for Laptop at 480 (from bob) it is buying. */
export function buyer(
  options: {
    payment?: PaymentDetails;
    server?: "ours" | "classic";
    store?: MemoryStore;
    allowPlaintext?: boolean;
  } = {},
): { peer: Harness; rq: string } {
  const peer = new Harness(
    { autoBuy: true, payment: options.payment, allowPlaintext: options.allowPlaintext },
    options.store,
  );
  peer.register(options.server);
  const rq = only(sent(peer.line("buy Laptop 500"))).rq;
  peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480, seller: "bob" });
  return { peer, rq };
}

/** A seller whose Laptop is reserved (RESERVE S1) for a buyer. */
export function seller(
  options: { payment?: PaymentDetails; store?: MemoryStore } = {},
): Harness {
  const peer = new Harness({ payment: options.payment }, options.store);
  peer.register();
  peer.line("sell Laptop 500");
  peer.receive({ type: "RESERVE", rq: "S1", item: "laptop", price: 500 });
  return peer;
}

export const informReq = (rq = "T1", item = "Laptop", price = 480): Message => ({
  type: "INFORM_Req",
  rq,
  item,
  price,
});

/** A {@linkcode seller} with payment details that has answered INFORM_Req T1 (Laptop, 500) on connection 3. */
export function sellerInTransaction(): Harness {
  const peer = seller({ payment: PAYMENT });
  peer.tcp(3, informReq("T1", "Laptop", 500));
  return peer;
}

// Our server's extensions, keys and round trips.

export const OURS = ["from", "ack", "no-offer"];
export const SECURE = [...OURS, "auth"];
export const KEY: KeyInfo = { key: "peer-public-key", fingerprint: "peerfp" };
export const SERVER_KEY: KeyInfo = { key: "server-public-key", fingerprint: "serverfp" };

/** The round trip the REGISTER of {@linkcode registered} measures. */
export const RTT = 100;
/** The timeout that RTT gives (RFC 6298: SRTT + 4 × RTTVAR = RTT + 4 × RTT/2). */
export const RTO = 3 * RTT;

/**
 * A peer registered a minute before T0 with our server agreeing `ack` and
 * `no-offer`, its REGISTERED coming after {@linkcode RTT} ms.
 */
export function registered(features = OURS, options = {}): Harness {
  const peer = new Harness(options);
  const register = only(sent(peer.line("register", T0 - 60_000)));
  peer.receive({ type: "REGISTERED", rq: register.rq, extensions: features }, T0 - 60_000 + RTT);
  return peer;
}

export function acks(effects: ReturnType<Harness["line"]>): Message[] {
  return sent(effects).filter((message) => message.type === "ACK");
}

export function others(effects: ReturnType<Harness["line"]>): Message[] {
  return sent(effects).filter((message) => message.type !== "ACK");
}
