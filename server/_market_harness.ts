/**
 * A test harness for the market state machine: peers registered on it, the
 * messages it sent to each, and the records it wrote. No sockets, no KV, no
 * clock: time is the `at` of each event.
 *
 * Every request record it is fed is checked against the transition table
 * (`request_states.ts`): the stored state before → the written one must be
 * allowed, so every market test checks the lifecycle too.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Address, Message } from "../protocol/mod.ts";
import { isWrite } from "../protocol/effects.ts";
import { canTransition, type RequestState } from "./request_states.ts";
import { sendPort } from "./registry.ts";
import {
  type Effect,
  Market,
  type MarketOptions,
  type MarketTimers,
  type Mutation,
  type Snapshot,
} from "./market.ts";

export const T0 = Date.UTC(2026, 10, 25, 12);
export const TIMERS: MarketTimers = {
  offerWindow: 1_000,
  searchTimeout: 5_000,
  negotiationTimeout: 2_000,
  reserveTimeout: 3_000,
  retention: 60_000,
  holdTimeout: 1_000,
};

/** A market plus the peers registered on it and everything it sent. */
export class Harness {
  market: Market;
  ports = new Map<string, number>();
  outbox: { to: string; message: Message }[] = [];
  writes: Mutation[] = [];
  #ids = 0;

  constructor(snapshot?: Snapshot, options: MarketOptions = {}) {
    this.market = new Market(snapshot, {
      allowPlaintext: true,
      strictTransitions: true,
      timers: TIMERS,
      newId: () => `S${++this.#ids}`,
      ...options,
    });
    // What a restarted store holds is what it started from plus new writes.
    for (const peer of snapshot?.peers ?? []) {
      this.writes.push({ kind: "save", key: ["peer", peer.name], value: peer });
    }
    for (const request of snapshot?.requests ?? []) {
      this.writes.push({ kind: "save", key: ["request", request.id], value: request });
    }
    for (const offer of snapshot?.offers ?? []) {
      this.writes.push({
        kind: "save",
        key: ["offer", offer.request, offer.seller],
        value: offer,
      });
    }
    for (const listing of snapshot?.listings ?? []) {
      const key = ["listing", listing.seller, listing.item.toLowerCase()] as const;
      this.writes.push({ kind: "save", key, value: listing });
    }
  }

  address(name: string): Address {
    return { hostname: "127.0.0.1", port: this.ports.get(name)! };
  }

  feed(effects: Effect[]): Effect[] {
    for (const effect of effects) {
      if (effect.kind === "send") {
        const to = [...this.ports].find(([, port]) => port === effect.to.port)?.[0] ?? "?";
        this.outbox.push({ to, message: effect.message });
      } else if (effect.kind === "fanout") {
        for (const peer of effect.peers) {
          const to = [...this.ports].find(([, port]) => port === sendPort(peer))?.[0] ?? "?";
          this.outbox.push({ to, message: effect.message });
        }
      } else if (isWrite(effect)) {
        this.#checkTransition(effect);
        this.writes.push(effect);
      }
    }
    return effects;
  }

  /** Fails the test when a written request changes state in a way the table does not allow. */
  #checkTransition(write: Mutation): void {
    if (write.kind !== "save" || write.key[0] !== "request") return;
    const id = write.key[1];
    let before: RequestState | undefined;
    for (let i = this.writes.length - 1; i >= 0; i--) {
      const earlier = this.writes[i]!;
      if (earlier.key[0] !== "request" || earlier.key[1] !== id) continue;
      if (earlier.kind === "save") before = (earlier.value as { state: RequestState }).state;
      break;
    }
    const after = (write.value as { state: RequestState }).state;
    assert.ok(
      canTransition(before, after),
      `Request ${id} changed from ${
        before ?? "nothing"
      } to ${after}, which request_states.ts does not allow`,
    );
  }

  from(name: string, message: Message, at = T0): Effect[] {
    return this.feed(this.market.handle({
      kind: "message",
      from: this.address(name),
      message,
      bytes: 60,
      at,
    }));
  }

  register(name: string, ours: boolean | string[] = false, at = T0 - 1_000): void {
    const port = 6000 + this.ports.size;
    this.ports.set(name, port);
    this.from(name, {
      type: "REGISTER",
      rq: `${name}-reg`,
      name,
      ip: "127.0.0.1",
      udpPort: port,
      tcpPort: port + 1000,
      ...(ours ? { extensions: ours === true ? ["from"] : ours } : {}),
    }, at);
    assert.equal(this.take(name)[0]?.type, "REGISTERED");
  }

  /** A market restarted from what this one stored, its peers at the same ports. */
  restarted(): Harness {
    const restored = new Harness(this.stored());
    restored.ports = this.ports;
    return restored;
  }

  tick(at: number): Effect[] {
    return this.feed(this.market.handle({ kind: "tick", at }));
  }

  /** Messages sent to `name` since the last call, emptying the outbox for it. */
  take(name: string): Message[] {
    const mine = this.outbox.filter((entry) => entry.to === name).map((entry) => entry.message);
    this.outbox = this.outbox.filter((entry) => entry.to !== name);
    return mine;
  }

  /** The durable records as the store would hold them after these writes. */
  stored(): Snapshot {
    const records = new Map<string, Mutation>();
    for (const write of this.writes) records.set(JSON.stringify(write.key), write);
    const values = [...records.values()].filter((write) => write.kind === "save");
    const of = (kind: string) =>
      values.filter((write) => write.key[0] === kind).map((write) =>
        (write as { value: unknown }).value
      );
    return {
      peers: of("peer") as never,
      requests: of("request") as never,
      offers: of("offer") as never,
      listings: of("listing") as never,
    };
  }
}

export function lookingFor(rq: string, name: string, item: string, maxPrice: number): Message {
  return { type: "LOOKING_FOR", rq, name, item, description: "any", maxPrice };
}

export function offer(rq: string, name: string, item: string, price: number): Message {
  return { type: "OFFER", rq, name, item, price };
}

/**
 * A market where each of `buyers` has asked for a Laptop up to 500 and s1
 * has offered one at 400 (search S1, S2, …), the offer window still open.
 */
export function foundSetup(buyers = ["buyer"]) {
  const h = new Harness();
  for (const buyer of buyers) h.register(buyer);
  h.register("s1");
  h.register("idle");
  buyers.forEach((buyer, i) => {
    h.from(buyer, lookingFor(`b${i + 1}`, buyer, "Laptop", 500));
    h.from("s1", offer(`S${i + 1}`, "s1", "Laptop", 400));
  });
  return h;
}

/** A party to a settled transaction, its card masked as the ledger keeps it. */
export const party = (name: string) => ({
  name,
  card: "************1111",
  address: `${name} street`,
});
