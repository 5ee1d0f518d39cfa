/**
 * What goes into the market and what comes out: its events, its effects,
 * and the {@linkcode MarketTurn} that collects one event's effects.
 *
 * @module
 */
import type { Address, DecodeError, Message } from "../protocol/mod.ts";
import { type LogEffect, Turn } from "../protocol/effects.ts";
import type { SessionKeys } from "../security/channel.ts";
import type { Mutation, RegisteredPeer, ServerRecord } from "./records.ts";
import type { Conclusion, TransactionOutcome, TransactionPlan } from "./transaction.ts";

/** A datagram for the shell to send. */
export interface SendEffect {
  readonly kind: "send";
  readonly to: Address;
  readonly message: Message;
  /** Most bytes the reply may take (replies to unregistered sources). */
  readonly limit?: number;
}

/**
 * One datagram for many classic peers (a search's SEARCH): the shell
 * encodes it once and sends it to each peer at {@linkcode sendPort} of its
 * source host, in slices that let other work in between, skipping any peer
 * no longer registered by then. Nothing is kept per recipient: `peers`
 * holds the registry's own records.
 */
export interface FanoutEffect {
  readonly kind: "fanout";
  readonly message: Message;
  readonly peers: readonly RegisteredPeer[];
}

/** Run the TCP leg of a purchase; answer with a `transacted` event. */
export interface TransactEffect {
  readonly kind: "transact";
  readonly request: string;
  readonly plan: TransactionPlan;
}

/**
 * End a transaction's TCP leg; answer with a `delivered` event for each
 * party of `deliver` that was told of the sale.
 */
export interface ConcludeEffect {
  readonly kind: "conclude";
  readonly request: string;
  readonly plan: TransactionPlan;
  readonly conclusion: Conclusion;
  /** Who still has to hear of a settled sale. */
  readonly deliver: readonly ("seller" | "buyer")[];
}

/** What the machine asks its shell to do. */
export type Effect =
  | SendEffect
  | FanoutEffect
  | Mutation
  | LogEffect
  | TransactEffect
  | ConcludeEffect;

/** What happens to the machine. */
export type ServerEvent =
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    /** Size of the datagram, to bound what is sent back. */
    readonly bytes: number;
    readonly at: number;
    /** The peer whose session key authenticated the datagram. */
    readonly authenticated?: string;
    /** A signed registration the shell verified, with its session keys. */
    readonly registration?: {
      readonly proof: { readonly key: string; readonly ca: string; readonly ts?: number };
      readonly keys: SessionKeys;
    };
  }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly bytes: number;
    readonly at: number;
  }
  /** The clock reached `at`: whatever is due by then happens. */
  | { readonly kind: "tick"; readonly at: number }
  /**
   * The store takes commits again after failing for `stalledMs`: nothing
   * was sent meanwhile, so time stood still for the peers, and every open
   * search's deadline moves on by as much.
   */
  | { readonly kind: "resumed"; readonly at: number; readonly stalledMs: number }
  /** A transaction's TCP leg collected and charged, or failed. */
  | {
    readonly kind: "transacted";
    readonly request: string;
    readonly tx: string;
    readonly outcome: TransactionOutcome;
    readonly at: number;
  }
  /** A party was told of a settled sale (Shipping_Info, or our buyer's receipt). */
  | {
    readonly kind: "delivered";
    readonly request: string;
    readonly to: "seller" | "buyer";
    readonly at: number;
  };

/**
 * One event's handling by the market: its time and what it asks of the
 * shell, writes first.
 *
 * A deadline that fires in a tick is handled in a {@linkcode MarketTurn.at}
 * sub-turn: the records it changes carry the deadline's time, not the
 * tick's, so a late tick decides exactly what a punctual one would.
 *
 * @example
 * ```ts
 * const turn = new MarketTurn(Date.now());
 * turn.save({ key: ["peer", peer.name], value: peer });
 * turn.send(peer.source, { type: "REGISTERED", rq: "r1" });
 * turn.effects(); // the save, then the send
 * ```
 */
export class MarketTurn extends Turn<Effect> {
  /** When the event arrived; a sub-turn's `at` may be earlier. */
  readonly now: number;
  readonly #parent: MarketTurn | undefined;
  /** Datagrams sent in this turn, in order, to find the replies to cache. */
  readonly #sends: SendEffect[] = [];

  constructor(at: number, parent?: MarketTurn) {
    super(at);
    this.#parent = parent;
    this.now = parent?.now ?? at;
  }

  /** The same collector, for changes that take effect at `at`. */
  during(at: number): MarketTurn {
    return at === this.at ? this : new MarketTurn(at, this.#root());
  }

  override emit(effect: Effect): void {
    if (this.#parent) return this.#parent.emit(effect);
    if (effect.kind === "send") this.#sends.push(effect);
    super.emit(effect);
  }

  /** Sends `message` to `to`, cut to `limit` bytes if given. */
  send(to: Address, message: Message, limit?: number): void {
    this.emit(
      limit === undefined ? { kind: "send", to, message } : { kind: "send", to, message, limit },
    );
  }

  /** Sends `message` to each of `peers` (classic peers: nothing to seal or track). */
  fanout(message: Message, peers: readonly RegisteredPeer[]): void {
    this.emit({ kind: "fanout", message, peers });
  }

  /** Stores a record. */
  save(record: ServerRecord): void {
    this.emit({ kind: "save", ...record } as Mutation);
  }

  /** Deletes a record. */
  delete(key: ServerRecord["key"]): void {
    this.emit({ kind: "delete", key });
  }

  /** Runs a purchase's TCP leg. */
  transact(request: string, plan: TransactionPlan): void {
    this.emit({ kind: "transact", request, plan });
  }

  /** Ends a purchase's TCP leg and delivers a settled sale. */
  conclude(effect: Omit<ConcludeEffect, "kind">): void {
    this.emit({ kind: "conclude", ...effect });
  }

  /** How many datagrams this turn has sent so far, to mark where a handler's replies start. */
  get sendCount(): number {
    return this.#root().#sends.length;
  }

  /** The datagrams sent since `mark` (a {@linkcode MarketTurn.sendCount}) to `to`. */
  sentSince(mark: number, to: Address): SendEffect[] {
    const sends = this.#root().#sends;
    const replies: SendEffect[] = [];
    for (let i = mark; i < sends.length; i++) {
      const send = sends[i]!;
      if (send.to.hostname === to.hostname && send.to.port === to.port) replies.push(send);
    }
    return replies;
  }

  #root(): MarketTurn {
    return this.#parent ?? this;
  }
}

/** A decoded datagram, as the market is fed it. */
export type MessageEvent = Extract<ServerEvent, { kind: "message" }>;
