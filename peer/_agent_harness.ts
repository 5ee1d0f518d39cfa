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
  type NegotiationRecord,
  type Output,
  type PeerEffect,
  type PeerProfile,
  type PeerSnapshot,
  type RegistrationRecord,
  type SettingsRecord,
} from "./agent.ts";
import { assertRequestMove } from "./agent/request_states.ts";

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
