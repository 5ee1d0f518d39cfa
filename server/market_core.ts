/**
 * The market's shared state and bookkeeping: the tables every part of the
 * machine reads and changes (registry, request table, reply cache,
 * retransmitter, offer book, liveness), and the steps they all take
 * (change a search's record, end it, send to a peer, retransmit). The
 * parts build on it, one concern each: `market_settlement.ts` (the TCP
 * leg's outcome and deliveries), `market_book.ts` (the offer book and
 * liveness), and `market.ts` (registration, the search lifecycle, time).
 * One machine in a few files, as quinn-proto's `connection/` is: the
 * parts share this state, so they are layers of one class rather than
 * objects of their own.
 *
 * @module
 */
import { type Address, type Message, RELIABLE_SENDS } from "../protocol/mod.ts";
import { ExtensionSet } from "../protocol/extensions.ts";
import { Retransmitter } from "../transport/reliability.ts";
import { MarketTurn, type SendEffect, type ServerEvent } from "./market_turn.ts";
import type { RegisteredPeer, RequestRecord, Snapshot } from "./records.ts";
import { addressOf, Registry } from "./registry.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMERS,
  type MarketLimits,
  type MarketOptions,
  type MarketTimers,
  SERVER_EXTENSIONS,
} from "./market_options.ts";
import { ReplyCache } from "./reply_cache.ts";
import { OfferBook } from "./offer_book.ts";
import { Liveness } from "./liveness.ts";
import { buyerView, cancel, negotiate, reserve } from "./search_messages.ts";
import { type RequestState, SEARCH_MOVES } from "./request_states.ts";
import { RequestTable, type TrackedRequest } from "./request_table.ts";
import type { TransactionPlan } from "./transaction.ts";

export const SERVER_SET = ExtensionSet.from(SERVER_EXTENSIONS);

/** Requests whose repeats are answered from the search's state, not the cache. */
export const STATE_ANSWERED: ReadonlySet<string> = new Set([
  "LOOKING_FOR",
  "BUY",
  "CANCEL",
  // A late repeat of an answer to NEGOTIATE is told the search's state now
  // (CANCEL once it is over), never the RESERVE it got while it was open.
  "ACCEPT",
  "REFUSE",
]);

/** How long after a restart ended searches have their outcome sent again. */
export const RESEND_ENDED_WITHIN = 60_000;

/** Replies that deny a request, by the request type they answer. */
export const DENIALS: Partial<Record<string, "REGISTER-DENIED" | "DE-REGISTER-DENIED">> = {
  "REGISTER": "REGISTER-DENIED",
  "DE-REGISTER": "DE-REGISTER-DENIED",
};

export type InvalidEvent = Extract<ServerEvent, { kind: "invalid" }>;

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

/** The market's state and the steps every part shares. */
export abstract class MarketCore {
  protected readonly timers: MarketTimers;
  protected readonly allowPlaintext: boolean;
  protected readonly limits: MarketLimits;
  protected readonly newId: () => string;
  /** Whether a move the search's table does not allow throws rather than is refused. */
  protected readonly strictTransitions: boolean;
  protected readonly registry = new Registry();
  protected readonly table: RequestTable;
  /** `host:port TYPE rq` → what was answered: repeats get it again. */
  protected readonly replies: ReplyCache<SendEffect>;
  /** Messages to our peers awaiting ACK, keyed `name TYPE rq`. */
  protected readonly unacked: Retransmitter<{ to: Address; message: Message }>;
  /**
   * The plans of the TCP legs running, by transaction RQ#: a leg whose
   * purchase ended while it ran (a party left) is still ended on the wire
   * with them, though a party is no longer registered. In memory only: a
   * restart ends every leg it ran.
   */
  protected readonly legs = new Map<string, TransactionPlan>();
  /** What our sellers list (extension `book`). */
  protected readonly offerBook = new OfferBook();
  /** Which of our peers are offline. */
  protected readonly liveness: Liveness;
  /** A restart's resends are still to do. */
  protected restored = false;
  /** Work a restart left half done, taken up at the first tick. */
  protected resume: string[] = [];

  constructor(snapshot: Snapshot = { peers: [] }, options: MarketOptions = {}) {
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.allowPlaintext = options.allowPlaintext ?? false;
    this.strictTransitions = options.strictTransitions ?? false;
    this.unacked = new Retransmitter(options.retransmit);
    this.liveness = new Liveness(options.liveness);
    this.replies = new ReplyCache({
      cap: this.limits.replyCache,
      ttl: this.limits.replyCacheTtl,
    });
    this.table = new RequestTable({ undelivered: (record) => this.owed(record).length > 0 });
    let counter = 0;
    const boot = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
    this.newId = options.newId ?? (() => `s${boot}-${++counter}`);
    for (const peer of snapshot.peers) this.registry.add(peer);
    for (const record of snapshot.requests ?? []) {
      this.table.add(record);
      this.restored = true;
    }
    for (const offer of snapshot.offers ?? []) this.table.addOffer(offer);
    for (const listing of snapshot.listings ?? []) this.offerBook.restore(listing);
    for (const { record } of this.table.values()) {
      if (record.state === "buying" || this.owed(record).length > 0) this.resume.push(record.id);
    }
  }

  // Bookkeeping

  /**
   * Changes a search at the turn's time and writes it, if its table allows
   * the move; a move it does not allow throws in strict mode, and is
   * otherwise refused (logged, nothing changed: the record as it was is
   * returned).
   */
  protected update(
    open: TrackedRequest,
    change: Partial<RequestRecord>,
    turn: MarketTurn,
  ): RequestRecord {
    const from = open.record.state;
    const guard = {
      strict: this.strictTransitions,
      refuse: (text: string) => turn.log("warning", text),
    };
    if (!SEARCH_MOVES.move(from, change.state ?? from, guard, open.record.id)) return open.record;
    const record = this.table.change(open, change, turn.at);
    turn.save({ key: ["request", record.id], value: record });
    return record;
  }

  protected end(open: TrackedRequest, state: RequestState, reason: string, turn: MarketTurn): void {
    const before = open.record;
    const change = { state, reason, deadline: turn.at + this.timers.retention };
    // A refused move leaves the record as it was, and the search not ended.
    if (this.update(open, change, turn) === before) return;
    turn.log("info", `Search ${open.record.id} ended ${state}: ${reason}`);
  }

  protected forget(open: TrackedRequest, turn: MarketTurn): void {
    const { id } = open.record;
    this.table.forget(open);
    turn.delete(["request", id]);
    for (const seller of open.offers.keys()) turn.delete(["offer", id, seller]);
  }

  /** What the buyer has been told of a search, to repeat after a retransmission. */
  protected buyerView(request: RequestRecord): Message | undefined {
    return buyerView(request, this.registry.speaks(request.buyer, "from"), {
      book: this.registry.speaks(request.buyer, "book"),
    });
  }

  protected sendTo(name: string, message: Message, turn: MarketTurn): void {
    const peer = this.registry.get(name);
    if (!peer) {
      turn.log("debug", `Dropped ${message.type} ${message.rq} for ${name}: no longer registered`);
      return;
    }
    const to = addressOf(peer);
    turn.send(to, message);
    if (
      RELIABLE_SENDS.has(message.type) && this.registry.speaks(name, "ack") &&
      this.unacked.size < this.limits.unacked
    ) {
      this.unacked.track(`${name} ${message.type} ${message.rq}`, { to, message }, name, turn.now);
    }
  }

  /** Sends again what our peers have not acknowledged, and gives up on the hopeless. */
  protected retransmit(turn: MarketTurn): void {
    const { resend, expired } = this.unacked.due(turn.at);
    for (const { payload } of resend) turn.send(payload.to, payload.message);
    for (const { key, attempt } of expired) {
      turn.log("warning", `Gave up on ${key} after ${attempt} sends without ACK`);
      // The retransmitter's keys start with the peer's name.
      const name = key.slice(0, key.indexOf(" "));
      if (this.registry.has(name) && this.liveness.lost(name, turn.at)) {
        this.wentOffline(name, "it stopped acknowledging", turn);
      }
    }
  }

  /**
   * After a restart, what our peers may have missed is sent again: the
   * messages awaiting acknowledgement were in memory only.
   */
  protected resendAfterRestart(turn: MarketTurn): void {
    const acks = (name: string) => this.registry.speaks(name, "ack");
    for (const { record: request } of this.table.values()) {
      switch (request.state) {
        // A search's SEARCHes are not sent again: resending to every asked
        // peer of every open search would cost searches × peers; the offers
        // are stored, so the window or the search timeout still decides it.
        case "negotiating":
          if (acks(request.seller!)) this.sendTo(request.seller!, negotiate(request), turn);
          break;
        case "searching":
          // A RESERVE of a listing awaits its answer.
          if (request.holding !== undefined && acks(request.holding)) {
            this.sendTo(request.holding, reserve(request), turn);
          }
          break;
        case "found":
          if (acks(request.seller!)) this.sendTo(request.seller!, reserve(request), turn);
          if (acks(request.buyer)) this.sendTo(request.buyer, this.buyerView(request)!, turn);
          break;
        case "not_available":
        case "not_found":
        case "cancelled":
          if (turn.at - request.updatedAt > RESEND_ENDED_WITHIN) break;
          if (acks(request.buyer)) this.sendTo(request.buyer, this.buyerView(request)!, turn);
          // The CANCEL that released the seller's item was in memory only.
          if (mayHoldFor(request) && acks(request.seller!)) {
            this.sendTo(request.seller!, cancel(request, "seller"), turn);
          }
          break;
      }
    }
  }

  // Steps of the other parts that these call: settlement (owed),
  // the book (wentOffline, soldFromListing), the lifecycle (the rest).

  /** Who of a settled sale's parties has not been told yet. */
  protected abstract owed(request: RequestRecord): ("seller" | "buyer")[];
  /** Marks a peer offline: its listings hidden, not waited for. */
  protected abstract wentOffline(name: string, why: string, turn: MarketTurn): void;
  /** Takes one of the item from its seller's listing after a sale. */
  protected abstract soldFromListing(seller: string, item: string, turn: MarketTurn): void;
  /** Ends every open flow in which a leaving peer takes part. */
  protected abstract endFlowsOf(peer: RegisteredPeer, turn: MarketTurn): void;
  /** Decides a search once every asked seller has answered. */
  protected abstract decideIfAllAnswered(open: TrackedRequest, turn: MarketTurn): void;
  /** Decides a search from its offers (and listings). */
  protected abstract decide(open: TrackedRequest, turn: MarketTurn): void;
}

/**
 * Whether the seller of an ended search may still hold its item for it,
 * for want of the CANCEL the market sent it: one reserved (found, perhaps
 * bought for a while) and cancelled, or one negotiated, which the seller
 * may have accepted (and held) when it ended without a deal.
 */
export function mayHoldFor(request: RequestRecord): boolean {
  if (request.seller === undefined) return false;
  return request.state === "not_found" ||
    request.state === "cancelled" && request.price !== undefined;
}

/** Whether a peer was sent a search's SEARCH: it was registered then, and is not the buyer. */
export function wasAsked(peer: RegisteredPeer, request: RequestRecord): boolean {
  return peer.name !== request.buyer && peer.registeredAt <= request.createdAt;
}

export function sameItem(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
