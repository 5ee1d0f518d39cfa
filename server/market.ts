/**
 * The server's protocol logic as a state machine without I/O: it is fed
 * events (a decoded datagram, an undecodable one, the clock reaching a
 * deadline, a transaction's outcome) and answers with effects (messages to
 * send, records to write, lines to log, TCP legs to run). The shell in
 * `server.ts` owns the sockets, the KV store and the clock; recovery after
 * a crash is loading the stored records back into a new machine, whose
 * deadlines then fire on time or at once if overdue.
 *
 * How it is put together: this file holds the search lifecycle (who gets
 * SEARCH, which offer wins, when a window closes, negotiation,
 * reservations, BUY/CANCEL, timeouts, transaction outcomes, what a restart
 * resends). The data it decides on lives in three structures that guard
 * their own invariants: the {@linkcode Registry} of peers, the
 * {@linkcode RequestTable} of searches with its indices and deadlines, and
 * the {@linkcode ReplyCache} that answers repeated datagrams. The states a
 * search goes through and the allowed changes between them are one table,
 * `request_states.ts`. Each event is handled in one {@linkcode MarketTurn},
 * which collects its effects, writes first.
 *
 * @module
 */
import {
  ACKED_REQUESTS,
  type Address,
  formatAddress,
  type Message,
  type MessageOf,
  RELIABLE_SENDS,
} from "../protocol/mod.ts";
import { ExtensionSet } from "../protocol/extensions.ts";
import { splitPrice, toCents } from "../protocol/fee.ts";
import { Retransmitter } from "../transport/reliability.ts";
import {
  type Effect,
  MarketTurn,
  type MessageEvent,
  type SendEffect,
  type ServerEvent,
} from "./market_turn.ts";
import type {
  LedgerEntry,
  OfferRecord,
  RegisteredPeer,
  RequestRecord,
  Snapshot,
} from "./records.ts";
import { addressOf, isFrom, isOurs, Registry } from "./registry.ts";
import { admit, describeAdmission } from "./registration.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMERS,
  type MarketLimits,
  type MarketOptions,
  type MarketTimers,
  SERVER_EXTENSIONS,
} from "./market_options.ts";
import { ReplyCache } from "./reply_cache.ts";
import { itemKey, type ListingRecord, OfferBook } from "./offer_book.ts";
import { Liveness } from "./liveness.ts";
import { buyerView, cancel, negotiate, noDeal, reserve } from "./search_messages.ts";
import { isOpen, type RequestState } from "./request_states.ts";
import { NEVER, RequestTable, type TrackedRequest } from "./request_table.ts";
import type { TransactionPlan } from "./transaction.ts";

export type {
  LedgerEntry,
  ListingRecord,
  Mutation,
  OfferRecord,
  RecordKey,
  RegisteredPeer,
  RequestRecord,
  ServerRecord,
  Snapshot,
} from "./records.ts";
export type { RequestState } from "./request_states.ts";
export { type Effect, MarketTurn, type ServerEvent } from "./market_turn.ts";
export * from "./market_options.ts";

const SERVER_SET = ExtensionSet.from(SERVER_EXTENSIONS);

/** Requests whose repeats are answered from the search's state, not the cache. */
const STATE_ANSWERED: ReadonlySet<string> = new Set(["LOOKING_FOR", "BUY", "CANCEL"]);

/** How long after a restart ended searches have their outcome sent again. */
const RESEND_ENDED_WITHIN = 60_000;

/** Replies that deny a request, by the request type they answer. */
const DENIALS: Partial<Record<string, "REGISTER-DENIED" | "DE-REGISTER-DENIED">> = {
  "REGISTER": "REGISTER-DENIED",
  "DE-REGISTER": "DE-REGISTER-DENIED",
};

type InvalidEvent = Extract<ServerEvent, { kind: "invalid" }>;

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
  readonly #timers: MarketTimers;
  readonly #allowPlaintext: boolean;
  readonly #limits: MarketLimits;
  readonly #newId: () => string;
  readonly #registry = new Registry();
  readonly #table: RequestTable;
  /** `host:port TYPE rq` → what was answered: repeats get it again. */
  readonly #replies: ReplyCache<SendEffect>;
  /** Messages to our peers awaiting ACK, keyed `name TYPE rq`. */
  readonly #unacked: Retransmitter<{ to: Address; message: Message }>;
  /**
   * The plans of the TCP legs running, by transaction RQ#: a leg whose
   * purchase ended while it ran (a party left) is still ended on the wire
   * with them, though a party is no longer registered. In memory only: a
   * restart ends every leg it ran.
   */
  readonly #legs = new Map<string, TransactionPlan>();
  /** What our sellers list (extension `book`). */
  readonly #book = new OfferBook();
  /** Which of our peers are offline. */
  readonly #liveness: Liveness;
  /** A restart's resends are still to do. */
  #restored = false;
  /** Work a restart left half done, taken up at the first tick. */
  #resume: string[] = [];

  constructor(snapshot: Snapshot = { peers: [] }, options: MarketOptions = {}) {
    this.#timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#allowPlaintext = options.allowPlaintext ?? false;
    this.#unacked = new Retransmitter(options.retransmit);
    this.#liveness = new Liveness(options.liveness);
    this.#replies = new ReplyCache({
      cap: this.#limits.replyCache,
      ttl: this.#limits.replyCacheTtl,
    });
    this.#table = new RequestTable({ undelivered: (record) => this.#owed(record).length > 0 });
    let counter = 0;
    const boot = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
    this.#newId = options.newId ?? (() => `s${boot}-${++counter}`);
    for (const peer of snapshot.peers) this.#registry.add(peer);
    for (const record of snapshot.requests ?? []) {
      this.#table.add(record);
      this.#restored = true;
    }
    for (const offer of snapshot.offers ?? []) this.#table.addOffer(offer);
    for (const listing of snapshot.listings ?? []) this.#book.restore(listing);
    for (const { record } of this.#table.values()) {
      if (record.state === "buying" || this.#owed(record).length > 0) this.#resume.push(record.id);
    }
  }

  /** The registered peer with this name, if any. */
  peer(name: string): RegisteredPeer | undefined {
    return this.#registry.get(name);
  }

  /** Every registered peer. */
  peers(): IterableIterator<RegisteredPeer> {
    return this.#registry.values();
  }

  /** A search by the server's RQ#. */
  request(id: string): RequestRecord | undefined {
    return this.#table.get(id)?.record;
  }

  /** Every remembered search, open or ended. */
  requests(): RequestRecord[] {
    return [...this.#table.values()].map((open) => open.record);
  }

  /** The offers made against a search. */
  offers(id: string): OfferRecord[] {
    return [...this.#table.get(id)?.offers.values() ?? []];
  }

  /** The offer book of our sellers. */
  get book(): OfferBook {
    return this.#book;
  }

  /** Whether a peer of ours is offline (its listings hidden, no search waits for it). */
  isOffline(name: string): boolean {
    return this.#liveness.isOffline(name);
  }

  /** How many messages to our peers await acknowledgement. */
  get unacknowledged(): number {
    return this.#unacked.size;
  }

  /** How many replies are cached for repeated datagrams. */
  get cachedReplies(): number {
    return this.#replies.size;
  }

  /** When the machine next needs a `tick`, if ever. */
  nextDeadline(): number | undefined {
    if (this.#restored || this.#resume.length > 0) return 0;
    const deadlines = [
      this.#table.nextDeadline(),
      this.#unacked.nextDeadline(),
      this.#liveness.nextDeadline(),
    ].filter((at) => at !== undefined);
    return deadlines.length === 0 ? undefined : Math.min(...deadlines);
  }

  /**
   * Feeds one event to the machine.
   *
   * @returns The effects, in order: writes come before the sends they
   *   justify, so a shell that commits writes first never announces state
   *   it has not stored.
   */
  handle(event: ServerEvent): Effect[] {
    const turn = new MarketTurn(event.at);
    switch (event.kind) {
      case "invalid":
        this.#onInvalid(event, turn);
        break;
      case "tick":
        this.#onTick(turn);
        break;
      case "message":
        this.#onMessage(event, turn);
        break;
      case "transacted":
        this.#onTransacted(event, turn);
        break;
      case "delivered": {
        const open = this.#table.get(event.request);
        if (open?.record.state === "bought") {
          this.#update(open, event.to === "seller" ? { shipped: true } : { receipted: true }, turn);
        }
        break;
      }
    }
    return turn.effects();
  }

  /**
   * Handles a datagram once: a repeat (same sender, type and RQ#) within the
   * cache's lifetime gets the replies the first one got, and changes
   * nothing. Requests from our peers are acknowledged.
   */
  #onMessage(event: MessageEvent, turn: MarketTurn): void {
    const { message, from } = event;
    this.#heardFrom(event, turn);
    if (message.type === "ACK") return this.#onAck(event, message, turn);
    // LOOKING_FOR, BUY and CANCEL are not cached: their handlers answer a
    // repeat with the search's current outcome, fresher than a cached reply.
    const key = STATE_ANSWERED.has(message.type)
      ? undefined
      : `${formatAddress(from)} ${message.type} ${message.rq}`;
    const cached = key === undefined ? undefined : this.#replies.get(key, event.at);
    if (cached) {
      for (const reply of cached) turn.emit(reply);
      turn.log(
        "debug",
        `Repeated ${message.type} ${message.rq} from ${formatAddress(from)}: answered as before`,
      );
      return;
    }
    const mark = turn.sendCount;
    this.#dispatch(event, turn);
    const sender = this.#registry.nameAt(from);
    if (ACKED_REQUESTS.has(message.type) && sender && this.#registry.speaks(sender, "ack")) {
      const of = message.type as MessageOf<"ACK">["of"];
      this.#reply(event, { type: "ACK", rq: message.rq, of }, turn);
    }
    if (key !== undefined) this.#replies.remember(key, turn.sentSince(mark, from), event.at);
  }

  #onAck(event: MessageEvent, message: MessageOf<"ACK">, turn: MarketTurn): void {
    const name = this.#registry.nameAt(event.from);
    if (!name || this.#unacked.ack(`${name} ${message.of} ${message.rq}`, event.at) === undefined) {
      turn.log(
        "debug",
        `Ignored ACK ${message.rq} ${message.of} from ${
          formatAddress(event.from)
        }: nothing awaited it`,
      );
    }
  }

  /**
   * Replies to the datagram's source. A source that is no registered peer
   * gets no more bytes than it sent: the server cannot amplify a flood
   * toward a forged address.
   */
  #reply(event: MessageEvent | InvalidEvent, message: Message, turn: MarketTurn): void {
    turn.send(event.from, message, this.#registry.knows(event.from) ? undefined : event.bytes);
  }

  #dispatch(event: MessageEvent, turn: MarketTurn): void {
    const { message } = event;
    switch (message.type) {
      case "REGISTER":
        return this.#onRegister(event, message, turn);
      case "DE-REGISTER":
        return this.#onDeregister(event, message, turn);
      case "LOOKING_FOR":
        return this.#onLookingFor(event, message, turn);
      case "OFFER":
        return this.#onOffer(event, message, turn);
      case "NO_OFFER":
        return this.#onNoOffer(event, message, turn);
      case "ACCEPT":
      case "REFUSE":
        return this.#onNegotiationAnswer(event, message, turn);
      case "BUY":
      case "CANCEL":
        return this.#onBuyerAnswer(event, message, turn);
      case "LIST":
        return this.#onList(event, message, turn);
      case "BROWSE":
        return this.#onBrowse(event, message, turn);
      case "ALIVE":
        // Heard: that is all a keep-alive asks (the ACK follows).
        return;
      default:
        turn.log("warning", `Ignored ${message.type} ${message.rq}: not a request a server takes`);
    }
  }

  // Registration

  #onRegister(event: MessageEvent, message: MessageOf<"REGISTER">, turn: MarketTurn): void {
    const { admission, registered } = admit(this.#registry, event, message, {
      extensions: SERVER_SET,
      allowPlaintext: this.#allowPlaintext,
      maxPeers: this.#limits.peers,
      namesPerHost: this.#limits.namesPerHost,
      classicNamesPerHost: this.#limits.classicNamesPerHost,
      namesPerKey: this.#limits.namesPerKey,
    });
    if (admission.kind === "deny") {
      const denial: Message = { type: "REGISTER-DENIED", rq: message.rq, reason: admission.reason };
      return this.#reply(event, denial, turn);
    }
    if (admission.kind === "confirm") return this.#reply(event, registered, turn);
    const { peer, replaces } = admission;
    if (replaces) this.#registry.remove(replaces);
    // A new registration lists again in full: what it listed before goes.
    this.#clearListings(peer.name, turn);
    this.#registry.add(peer);
    if (replaces) this.#redeliverTo(peer.name, turn);
    turn.save({ key: ["peer", peer.name], value: peer });
    turn.log("info", describeAdmission(peer, replaces !== undefined));
    this.#reply(event, registered, turn);
  }

  #onDeregister(event: MessageEvent, message: MessageOf<"DE-REGISTER">, turn: MarketTurn): void {
    const peer = this.#registry.get(message.name);
    const deny = (why: string): void => {
      const reason = `name ${message.name} ${why}`;
      this.#reply(event, { type: "DE-REGISTER-DENIED", rq: message.rq, reason }, turn);
    };
    if (!peer) return deny("not registered");
    // Strictly from its address: a classic peer's fresh sockets may ask, not leave.
    if (!isFrom(peer, event.from, event.authenticated)) {
      return deny("registered from another address");
    }
    this.#endFlowsOf(peer, turn);
    this.#registry.remove(peer);
    this.#leave(peer.name, turn);
    turn.delete(["peer", peer.name]);
    turn.log("info", `De-registered ${peer.name}`);
    this.#reply(event, { type: "DE-REGISTERED", rq: message.rq }, turn);
  }

  /** Ends every open flow in which a leaving peer takes part, telling the others. */
  #endFlowsOf(peer: RegisteredPeer, turn: MarketTurn): void {
    const name = peer.name;
    for (const open of this.#table.values()) {
      const request = open.record;
      if (!isOpen(request.state)) continue;
      if (request.state === "searching" && request.holding === name && request.buyer !== name) {
        this.#holdFailed(open, `${name} left the marketplace`, false, turn);
        continue;
      }
      if (request.buyer === name) {
        if (request.state === "found" || request.state === "buying") {
          this.#sendTo(request.seller!, cancel(request, "seller"), turn);
        }
        if (request.state === "searching" && request.holding !== undefined) {
          this.#sendTo(request.holding, cancel(request, "seller"), turn);
        }
        this.#end(open, "cancelled", "the buyer left the marketplace", turn);
      } else if (request.seller === name && request.state !== "searching") {
        const negotiating = request.state === "negotiating";
        this.#sendTo(
          request.buyer,
          negotiating ? noDeal("NOT_FOUND", request) : cancel(request, "buyer"),
          turn,
        );
        const state = negotiating ? "not_found" : "cancelled";
        this.#end(open, state, "the seller left the marketplace", turn);
      } else if (request.state === "searching" && this.#searched(peer, request)) {
        if (open.offers.delete(name)) turn.delete(["offer", request.id, name]);
        // A seller who left will not answer: stop waiting for it.
        open.answered.add(name);
        this.#decideIfAllAnswered(open, turn);
      }
    }
  }

  // Searching

  #onLookingFor(event: MessageEvent, message: MessageOf<"LOOKING_FOR">, turn: MarketTurn): void {
    const buyer = this.#registry.get(message.name);
    const ask = { buyerRq: message.rq, item: message.item, maxPrice: message.maxPrice };
    if (!buyer || !this.#registry.sentBy(buyer, event.from, event.authenticated)) {
      turn.log(
        "warning",
        `Refused LOOKING_FOR ${message.rq} from ${event.from.hostname}: ${message.name} is not registered there`,
      );
      return this.#reply(event, noDeal("NOT_AVAILABLE", ask), turn);
    }
    const existing = this.#table.byBuyerRq(buyer.name, message.rq);
    if (existing) {
      // A retransmitted LOOKING_FOR: the search exists; repeat its outcome if it has one.
      const answer = this.#buyerView(existing.record);
      if (answer) this.#sendTo(buyer.name, answer, turn);
      return;
    }
    const cap = this.#limits.openRequestsPerPeer;
    if (this.#table.openCount(buyer.name) >= cap) {
      const reason = `too many open searches (${cap})`;
      turn.log("warning", `Refused LOOKING_FOR ${message.rq} from ${buyer.name}: ${reason}`);
      const refusal: Message = this.#registry.speaks(buyer.name, "ack")
        ? { type: "DENIED", rq: message.rq, reason }
        : noDeal("NOT_AVAILABLE", ask);
      return this.#sendTo(buyer.name, refusal, turn);
    }
    const id = this.#newId();
    // Our sellers answer from the book: SEARCH asks only the peers that
    // cannot list. Classic peers get one datagram for all (no session to
    // seal it with, no ACK to track); ours without `book` each get theirs.
    const classic: RegisteredPeer[] = [];
    const ours: string[] = [];
    for (const name of this.#registry.unlisted()) {
      if (name === buyer.name || this.#liveness.isOffline(name)) continue;
      const peer = this.#registry.get(name)!;
      if (isOurs(peer)) ours.push(name);
      else classic.push(peer);
    }
    const contacted = classic.length + ours.length;
    const record: RequestRecord = {
      id,
      buyer: buyer.name,
      buyerRq: message.rq,
      item: message.item,
      description: message.description,
      maxPrice: message.maxPrice,
      createdAt: event.at,
      updatedAt: event.at,
      state: "searching",
      deadline: event.at + this.#timers.searchTimeout,
      contacted,
    };
    const open = this.#table.add(record);
    turn.save({ key: ["request", id], value: record });
    const listed = this.#listed(record).length;
    turn.log(
      "info",
      `Search ${id}: ${buyer.name} looks for ${message.item} at most ${message.maxPrice} (${message.rq}); ${listed} listing(s), asking ${contacted} peer(s)`,
    );
    if (listed > 0) {
      // Listings are offers already made: decided now, or when the window closes.
      if (contacted === 0) return this.#decide(open, turn);
      this.#update(
        open,
        { firstOfferAt: event.at, deadline: event.at + this.#timers.offerWindow },
        turn,
      );
    } else if (contacted === 0) {
      this.#sendTo(buyer.name, noDeal("NOT_AVAILABLE", record), turn);
      return this.#end(open, "not_available", "no other peer is registered", turn);
    }
    const search: Message = {
      type: "SEARCH",
      rq: id,
      item: message.item,
      description: message.description,
    };
    if (classic.length > 0) turn.fanout(search, classic);
    for (const seller of ours) this.#sendTo(seller, search, turn);
  }

  #onOffer(event: MessageEvent, message: MessageOf<"OFFER">, turn: MarketTurn): void {
    const open = this.#table.get(message.rq);
    const seller = this.#registry.get(message.name);
    if (this.#isHoldAnswer(event, open, seller)) return this.#held(open!, turn);
    if (this.#isLateHold(event, open, seller)) {
      // It held the item for a RESERVE the search no longer wants: release it.
      return this.#sendTo(seller!.name, cancel(open!.record, "seller", message.price), turn);
    }
    const problem = !open
      ? "no such search"
      : !seller || !this.#registry.sentBy(seller, event.from, event.authenticated)
      ? `${message.name} is not registered from ${formatAddress(event.from)}`
      : !wasAsked(seller, open.record)
      ? `${message.name} was not asked`
      : !sameItem(open.record.item, message.item)
      ? `the search is for ${open.record.item}`
      : open.record.state !== "searching"
      ? "the offer window has closed"
      : open.offers.has(seller.name)
      ? "already offered"
      : undefined;
    if (problem || !open || !seller) {
      turn.log("debug", `Ignored OFFER ${message.rq} from ${message.name}: ${problem}`);
      return;
    }
    const record = open.record;
    const offer: OfferRecord = {
      request: record.id,
      seller: seller.name,
      price: message.price,
      at: event.at,
    };
    open.offers.set(offer.seller, offer);
    turn.save({ key: ["offer", record.id, offer.seller], value: offer });
    turn.log(
      "info",
      `Search ${record.id}: ${offer.seller} offers ${message.item} at ${offer.price}`,
    );
    if (record.firstOfferAt === undefined) {
      this.#update(open, {
        firstOfferAt: event.at,
        deadline: event.at + this.#timers.offerWindow,
      }, turn);
    }
    open.answered.add(offer.seller);
    this.#decideIfAllAnswered(open, turn);
  }

  #onNoOffer(event: MessageEvent, message: MessageOf<"NO_OFFER">, turn: MarketTurn): void {
    const open = this.#table.get(message.rq);
    const seller = this.#registry.get(message.name);
    if (this.#isHoldAnswer(event, open, seller)) {
      return this.#holdFailed(open!, `${message.name} no longer has it`, false, turn);
    }
    if (
      !open || !seller || !this.#registry.sentBy(seller, event.from, event.authenticated) ||
      !wasAsked(seller, open.record) ||
      open.record.state !== "searching"
    ) {
      turn.log("debug", `Ignored NO_OFFER ${message.rq} from ${message.name}`);
      return;
    }
    open.answered.add(seller.name);
    this.#decideIfAllAnswered(open, turn);
  }

  /**
   * Decides at once when every asked seller has answered: with only our own
   * peers (who say NO_OFFER), a search need not wait out its window.
   */
  #decideIfAllAnswered(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    if (request.state !== "searching" || open.answered.size < request.contacted) return;
    // A listing's RESERVE is out: its answer decides.
    if (request.holding !== undefined) return;
    turn.log("info", `Search ${request.id}: all ${request.contacted} asked peer(s) answered`);
    this.#decide(open, turn);
  }

  /** The offer window closed: pick the best offer, or negotiate, or give up. */
  #decide(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    const offered = [...open.offers.values()]
      .filter((offer) =>
        this.#registry.has(offer.seller) && !this.#table.isReservedElsewhere(offer.seller, request)
      )
      .map((offer) => ({ seller: offer.seller, price: offer.price, at: offer.at, listed: false }));
    const listed = this.#listed(request)
      .map((listing) => ({ ...listing, listed: true }));
    const usable = [...offered, ...listed]
      .sort((a, b) => toCents(a.price) - toCents(b.price) || a.at - b.at);
    const best = usable[0];
    if (!best) {
      this.#sendTo(request.buyer, noDeal("NOT_AVAILABLE", request), turn);
      const reason = open.offers.size === 0 && (request.declined ?? []).length === 0
        ? "no offer arrived"
        : "every offering seller's item is reserved or gone";
      return this.#end(open, "not_available", reason, turn);
    }
    if (toCents(best.price) <= toCents(request.maxPrice)) {
      if (best.listed) return this.#hold(open, best.seller, best.price, turn);
      return this.#reserve(open, best.seller, best.price, turn);
    }
    const negotiating = this.#update(open, {
      state: "negotiating",
      seller: best.seller,
      price: request.maxPrice,
      deadline: turn.at + this.#timers.negotiationTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${request.id}: every offer is above ${request.maxPrice}; negotiating with ${best.seller} (asked ${best.price})`,
    );
    this.#sendTo(best.seller, negotiate(negotiating), turn);
  }

  #reserve(open: TrackedRequest, seller: string, price: number, turn: MarketTurn): void {
    const deadline = turn.at + this.#timers.reserveTimeout;
    const request = this.#update(open, { state: "found", seller, price, deadline }, turn);
    turn.log(
      "info",
      `Search ${request.id}: ${request.buyer} may buy ${request.item} from ${seller} at ${price}`,
    );
    this.#sendTo(request.buyer, this.#buyerView(request)!, turn);
    this.#sendTo(seller, reserve(request), turn);
  }

  #onNegotiationAnswer(
    event: MessageEvent,
    message: MessageOf<"ACCEPT" | "REFUSE">,
    turn: MarketTurn,
  ): void {
    const open = this.#table.get(message.rq);
    const request = open?.record;
    const seller = request?.seller ? this.#registry.get(request.seller) : undefined;
    if (
      !open || !request || !seller ||
      !this.#registry.sentBy(seller, event.from, event.authenticated) ||
      (message.sender !== undefined && message.sender !== seller.name)
    ) {
      turn.log(
        "debug",
        `Ignored ${message.type} ${message.rq} from ${event.from.hostname}: no negotiation with it`,
      );
      return;
    }
    if (request.state !== "negotiating") {
      // Too late (the negotiation timed out, or the buyer left). A seller
      // who accepted has put the item aside: release it.
      if (message.type === "ACCEPT" && !(request.state === "found" || request.state === "buying")) {
        this.#sendTo(seller.name, cancel(request, "seller", message.maxPrice), turn);
      }
      return;
    }
    if (message.type === "REFUSE") {
      return this.#noDeal(open, `${seller.name} refused ${request.maxPrice}`, turn);
    }
    if (this.#table.isReservedElsewhere(seller.name, request)) {
      this.#sendTo(seller.name, cancel(request, "seller", request.maxPrice), turn);
      return this.#noDeal(open, `${seller.name}'s item was reserved meanwhile`, turn);
    }
    this.#reserve(open, seller.name, request.maxPrice, turn);
  }

  /** A negotiation ended without a deal: NOT_FOUND to the buyer. */
  #noDeal(open: TrackedRequest, reason: string, turn: MarketTurn): void {
    this.#sendTo(open.record.buyer, noDeal("NOT_FOUND", open.record), turn);
    this.#end(open, "not_found", reason, turn);
  }

  // The buyer's decision

  #onBuyerAnswer(
    event: MessageEvent,
    message: MessageOf<"BUY" | "CANCEL">,
    turn: MarketTurn,
  ): void {
    const open = this.#findByBuyerRq(event, message);
    if (!open) {
      turn.log(
        "debug",
        `Ignored ${message.type} ${message.rq} from ${event.from.hostname}: no such purchase for that peer`,
      );
      return;
    }
    const request = open.record;
    if (request.state === "found") {
      if (message.type === "CANCEL") {
        this.#sendTo(request.seller!, cancel(request, "seller"), turn);
        return this.#end(open, "cancelled", `${request.buyer} cancelled`, turn);
      }
      const tx = this.#newId();
      const buying = this.#update(open, { state: "buying", deadline: NEVER, tx }, turn);
      turn.log(
        "info",
        `Search ${request.id}: ${request.buyer} buys ${request.item} from ${request.seller} at ${request.price}; transaction ${tx}`,
      );
      const plan = this.#plan(buying);
      if (plan) this.#transact(request.id, plan, turn);
      return;
    }
    if (
      message.type === "CANCEL" &&
      (request.state === "searching" || request.state === "negotiating")
    ) {
      // The buyer withdraws a search before its outcome: nothing is
      // reserved yet; a seller asked to negotiate that accepts later is
      // told CANCEL (see the negotiation answer).
      return this.#end(open, "cancelled", `${request.buyer} cancelled the search`, turn);
    }
    if (!isOpen(request.state)) {
      // Answered after the reservation lapsed: say again that it is over.
      const answer = this.#buyerView(request);
      if (answer) this.#sendTo(request.buyer, answer, turn);
    }
  }

  #findByBuyerRq(
    event: MessageEvent,
    message: MessageOf<"BUY" | "CANCEL">,
  ): TrackedRequest | undefined {
    const candidates = [...this.#table.withBuyerRq(message.rq)].filter((open) =>
      sameItem(open.record.item, message.item) &&
      // Some classic peers name themselves after the RQ#: it must be the buyer.
      (message.sender === undefined || message.sender === open.record.buyer)
    );
    const buyerOf = (open: TrackedRequest) => this.#registry.get(open.record.buyer);
    // The buyer at this very address first; only then one of a classic
    // buyer's fresh sockets.
    return candidates.find((open) => {
      const buyer = buyerOf(open);
      return buyer !== undefined && isFrom(buyer, event.from, event.authenticated);
    }) ?? candidates.find((open) => {
      const buyer = buyerOf(open);
      return buyer !== undefined && this.#registry.sentBy(buyer, event.from, event.authenticated);
    });
  }

  // The transaction

  #plan(request: RequestRecord): TransactionPlan | undefined {
    const buyer = this.#registry.get(request.buyer);
    const seller = this.#registry.get(request.seller!);
    if (!buyer || !seller || !request.tx) return undefined;
    const party = (peer: RegisteredPeer) => ({
      name: peer.name,
      address: { hostname: peer.source.hostname, port: peer.tcpPort },
      ours: isOurs(peer),
      ...(this.#registry.speaks(peer.name, "ack") ? { acks: true } : {}),
      ...(peer.auth ? { ca: peer.auth.ca } : {}),
    });
    return {
      id: request.tx,
      item: request.item,
      price: request.price!,
      buyer: party(buyer),
      seller: party(seller),
    };
  }

  /** Starts a purchase's TCP leg, and keeps its plan while it runs. */
  #transact(request: string, plan: TransactionPlan, turn: MarketTurn): void {
    this.#legs.set(plan.id, plan);
    turn.transact(request, plan);
  }

  #onTransacted(event: Extract<ServerEvent, { kind: "transacted" }>, turn: MarketTurn): void {
    const open = this.#table.get(event.request);
    const request = open?.record;
    const leg = this.#legs.get(event.tx);
    this.#legs.delete(event.tx);
    if (request?.state === "cancelled" && request.tx === event.tx && leg) {
      return this.#endedDuringLeg(event, request, leg, turn);
    }
    if (!open || !request || request.state !== "buying" || request.tx !== event.tx) {
      turn.log(
        "warning",
        `Ignored the outcome of transaction ${event.tx}: its purchase is not waiting for it`,
      );
      return;
    }
    const plan = this.#plan(request);
    const { outcome } = event;
    const { fee, sellerShare } = splitPrice(request.price!);
    const entry: LedgerEntry = {
      tx: event.tx,
      request: request.id,
      buyerRq: request.buyerRq,
      item: request.item,
      price: request.price!,
      fee: outcome.ok ? fee : 0,
      sellerCredit: outcome.ok ? sellerShare : 0,
      buyer: request.buyer,
      seller: request.seller!,
      ...(outcome.ok ? { buyerCard: outcome.buyer.card, sellerCard: outcome.seller.card } : {}),
      outcome: outcome.ok ? "completed" : "cancelled",
      ...(outcome.ok ? {} : { reason: outcome.reason }),
      at: event.at,
    };
    turn.save({ key: ["ledger", event.tx], value: entry });
    if (outcome.ok) {
      const bought = this.#update(open, {
        state: "bought",
        shipTo: { name: outcome.buyer.name, address: outcome.buyer.address },
        shipped: false,
        receipted: false,
        deadline: event.at + this.#timers.retention,
      }, turn);
      turn.log(
        "info",
        `Transaction ${event.tx}: ${request.buyer} paid ${request.price} for ${request.item}; ${request.seller} is credited ${sellerShare}, fee ${fee}`,
      );
      this.#soldFromListing(request.seller!, request.item, turn);
      if (plan) this.#concludeSale(bought, plan, this.#owed(bought), turn);
      return;
    }
    turn.log("warning", `Transaction ${event.tx} failed: ${outcome.reason}`);
    if (plan) {
      turn.conclude({
        request: request.id,
        plan,
        conclusion: { ok: false, reason: outcome.reason },
        deliver: [],
      });
    }
    // Over UDP too, in case a TCP connection never came up.
    this.#cancelBothSides(request, turn);
    this.#end(open, "cancelled", `transaction failed: ${outcome.reason}`, turn);
  }

  /**
   * The outcome of a leg whose purchase ended while it ran (a party left
   * the marketplace): no sale, whatever the outcome. The leg ends with
   * CANCEL on its connections, so a seller that took INFORM_Req for an
   * item the UDP CANCEL had released (it holds it for the transaction
   * then) lets it go; the ledger keeps the attempt.
   */
  #endedDuringLeg(
    event: Extract<ServerEvent, { kind: "transacted" }>,
    request: RequestRecord,
    plan: TransactionPlan,
    turn: MarketTurn,
  ): void {
    const reason = `the purchase ended during the transaction: ${request.reason ?? "cancelled"}`;
    const entry: LedgerEntry = {
      tx: event.tx,
      request: request.id,
      buyerRq: request.buyerRq,
      item: request.item,
      price: request.price!,
      fee: 0,
      sellerCredit: 0,
      buyer: request.buyer,
      seller: request.seller!,
      outcome: "cancelled",
      reason,
      at: event.at,
    };
    turn.save({ key: ["ledger", event.tx], value: entry });
    turn.log(
      "warning",
      `Transaction ${event.tx} ended after its purchase ${request.id}: ${reason}${
        event.outcome.ok ? " (the charge went through: refund it)" : ""
      }`,
    );
    turn.conclude({ request: request.id, plan, conclusion: { ok: false, reason }, deliver: [] });
  }

  /** Ends a settled sale's TCP leg and has Shipping_Info delivered to `deliver`. */
  #concludeSale(
    request: RequestRecord,
    plan: TransactionPlan,
    deliver: readonly ("seller" | "buyer")[],
    turn: MarketTurn,
  ): void {
    const { name, address } = request.shipTo!;
    const conclusion = { ok: true, buyerName: name, address } as const;
    turn.conclude({ request: request.id, plan, conclusion, deliver });
  }

  /**
   * A party came back (restarted, perhaps at a new address): the sales it
   * has yet to hear of go to it again, at the address it has now.
   */
  #redeliverTo(name: string, turn: MarketTurn): void {
    for (const { record } of this.#table.undeliveredSales()) {
      if (record.seller !== name && record.buyer !== name) continue;
      const plan = this.#plan(record);
      if (!plan || !record.shipTo) continue;
      const deliver = this.#owed(record).filter((role) => plan[role].name === name);
      if (deliver.length > 0) this.#concludeSale(record, plan, deliver, turn);
    }
  }

  /** Who has yet to hear of a settled sale: the seller, and our own buyer (its receipt). */
  #owed(request: RequestRecord): ("seller" | "buyer")[] {
    if (request.state !== "bought") return [];
    const buyer = this.#registry.get(request.buyer);
    const ours = buyer !== undefined && isOurs(buyer);
    return [
      ...(request.shipped ? [] : ["seller" as const]),
      ...(ours && !request.receipted ? ["buyer" as const] : []),
    ];
  }

  /** Tells both sides a purchase is off: the seller releases the item, the buyer stops waiting. */
  #cancelBothSides(request: RequestRecord, turn: MarketTurn): void {
    this.#sendTo(request.seller!, cancel(request, "seller"), turn);
    this.#sendTo(request.buyer, cancel(request, "buyer"), turn);
  }

  // Time

  #onTick(turn: MarketTurn): void {
    if (this.#restored) {
      this.#restored = false;
      this.#resendAfterRestart(turn);
    }
    this.#retransmit(turn);
    this.#sweepLiveness(turn);
    for (const id of this.#resume.splice(0)) {
      const open = this.#table.get(id);
      const plan = open && this.#plan(open.record);
      if (!open || !plan) continue;
      if (open.record.state === "buying") {
        turn.log("info", `Transaction ${plan.id} was interrupted by a restart; running it again`);
        this.#transact(id, plan, turn);
      } else if (open.record.shipTo) {
        this.#concludeSale(open.record, plan, this.#owed(open.record), turn);
      }
    }
    for (let due = this.#table.popDue(turn.at); due; due = this.#table.popDue(turn.at)) {
      this.#expire(due.request, turn.during(due.at));
    }
  }

  /** A search's deadline came (`turn.at` is the deadline, not the tick). */
  #expire(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    switch (request.state) {
      case "searching":
        if (request.holding !== undefined) {
          return this.#holdFailed(open, `${request.holding} did not answer RESERVE`, true, turn);
        }
        return this.#decide(open, turn);
      case "negotiating":
        return this.#noDeal(open, `${request.seller} did not answer NEGOTIATE`, turn);
      case "found":
        this.#cancelBothSides(request, turn);
        return this.#end(open, "cancelled", "the buyer did not answer FOUND in time", turn);
      case "buying":
        return;
      default:
        // An ended search reached the end of its retention.
        this.#forget(open, turn);
    }
  }

  // Bookkeeping

  /** Changes a search at the turn's time and writes it. */
  #update(open: TrackedRequest, change: Partial<RequestRecord>, turn: MarketTurn): RequestRecord {
    const record = this.#table.change(open, change, turn.at);
    turn.save({ key: ["request", record.id], value: record });
    return record;
  }

  #end(open: TrackedRequest, state: RequestState, reason: string, turn: MarketTurn): void {
    this.#update(open, { state, reason, deadline: turn.at + this.#timers.retention }, turn);
    turn.log("info", `Search ${open.record.id} ended ${state}: ${reason}`);
  }

  #forget(open: TrackedRequest, turn: MarketTurn): void {
    const { id } = open.record;
    this.#table.forget(open);
    turn.delete(["request", id]);
    for (const seller of open.offers.keys()) turn.delete(["offer", id, seller]);
  }

  /** What the buyer has been told of a search, to repeat after a retransmission. */
  #buyerView(request: RequestRecord): Message | undefined {
    return buyerView(request, this.#registry.speaks(request.buyer, "from"));
  }

  #sendTo(name: string, message: Message, turn: MarketTurn): void {
    const peer = this.#registry.get(name);
    if (!peer) {
      turn.log("debug", `Dropped ${message.type} ${message.rq} for ${name}: no longer registered`);
      return;
    }
    const to = addressOf(peer);
    turn.send(to, message);
    if (
      RELIABLE_SENDS.has(message.type) && this.#registry.speaks(name, "ack") &&
      this.#unacked.size < this.#limits.unacked
    ) {
      this.#unacked.track(`${name} ${message.type} ${message.rq}`, { to, message }, name, turn.now);
    }
  }

  /** Sends again what our peers have not acknowledged, and gives up on the hopeless. */
  #retransmit(turn: MarketTurn): void {
    const { resend, expired } = this.#unacked.due(turn.at);
    for (const { payload } of resend) turn.send(payload.to, payload.message);
    for (const { key, attempt } of expired) {
      turn.log("warning", `Gave up on ${key} after ${attempt} sends without ACK`);
      // The retransmitter's keys start with the peer's name.
      const name = key.slice(0, key.indexOf(" "));
      if (this.#registry.has(name) && this.#liveness.lost(name, turn.at)) {
        this.#wentOffline(name, "it stopped acknowledging", turn);
      }
    }
  }

  /**
   * After a restart, what our peers may have missed is sent again: the
   * messages awaiting acknowledgement were in memory only.
   */
  #resendAfterRestart(turn: MarketTurn): void {
    const acks = (name: string) => this.#registry.speaks(name, "ack");
    for (const { record: request } of this.#table.values()) {
      switch (request.state) {
        // A search's SEARCHes are not sent again: resending to every asked
        // peer of every open search would cost searches × peers; the offers
        // are stored, so the window or the search timeout still decides it.
        case "negotiating":
          if (acks(request.seller!)) this.#sendTo(request.seller!, negotiate(request), turn);
          break;
        case "searching":
          // A RESERVE of a listing awaits its answer.
          if (request.holding !== undefined && acks(request.holding)) {
            this.#sendTo(request.holding, reserve(request), turn);
          }
          break;
        case "found":
          if (acks(request.seller!)) this.#sendTo(request.seller!, reserve(request), turn);
          if (acks(request.buyer)) this.#sendTo(request.buyer, this.#buyerView(request)!, turn);
          break;
        case "not_available":
        case "not_found":
        case "cancelled":
          if (turn.at - request.updatedAt > RESEND_ENDED_WITHIN) break;
          if (acks(request.buyer)) this.#sendTo(request.buyer, this.#buyerView(request)!, turn);
          // The CANCEL that released the seller's item was in memory only.
          if (mayHoldFor(request) && acks(request.seller!)) {
            this.#sendTo(request.seller!, cancel(request, "seller"), turn);
          }
          break;
      }
    }
  }

  // The offer book and liveness (extension `book`)

  #onList(event: MessageEvent, message: MessageOf<"LIST">, turn: MarketTurn): void {
    const seller = this.#registry.get(message.name);
    if (
      !seller || !this.#registry.sentBy(seller, event.from, event.authenticated) ||
      !this.#registry.speaks(seller.name, "book")
    ) {
      turn.log("debug", `Ignored LIST ${message.rq} from ${message.name}: not a lister here`);
      return;
    }
    const listing: ListingRecord = {
      seller: seller.name,
      item: message.item,
      price: message.price,
      quantity: message.quantity,
      description: message.description,
      seq: message.seq,
      at: event.at,
    };
    const key = ["listing", seller.name, itemKey(message.item)] as const;
    switch (this.#book.apply(listing)) {
      case "listed":
        turn.save({ key, value: listing });
        turn.log(
          "debug",
          `${seller.name} lists ${message.quantity} × ${message.item} at ${message.price}`,
        );
        return;
      case "withdrawn":
        turn.delete(key);
        turn.log("debug", `${seller.name} no longer lists ${message.item}`);
        return;
      case "stale":
        turn.log("debug", `Ignored LIST ${message.rq} from ${seller.name}: a later one came first`);
    }
  }

  #onBrowse(event: MessageEvent, message: MessageOf<"BROWSE">, turn: MarketTurn): void {
    const peer = this.#registry.get(message.name);
    if (
      !peer || !this.#registry.sentBy(peer, event.from, event.authenticated) ||
      !this.#registry.speaks(peer.name, "book")
    ) {
      turn.log("debug", `Ignored BROWSE ${message.rq} from ${message.name}: not registered there`);
      return;
    }
    const page = this.#book.catalogue(
      message.prefix,
      message.from,
      (seller) => this.#registry.has(seller) && !this.#liveness.isOffline(seller),
    );
    this.#sendTo(peer.name, { type: "CATALOGUE", rq: message.rq, ...page }, turn);
  }

  /**
   * The listings a search may take, cheapest first: registered, online
   * sellers other than the buyer, that did not decline it and hold the
   * item for no other search.
   */
  #listed(request: RequestRecord): { seller: string; price: number; at: number }[] {
    const declined = request.declined ?? [];
    const listed: { seller: string; price: number; at: number }[] = [];
    for (const listing of this.#book.listings(request.item)) {
      const seller = listing.seller;
      if (
        seller === request.buyer || declined.includes(seller) || !this.#registry.has(seller) ||
        this.#liveness.isOffline(seller) || this.#table.isReservedElsewhere(seller, request)
      ) continue;
      listed.push({ seller, price: listing.price, at: listing.at });
    }
    return listed.sort((a, b) => toCents(a.price) - toCents(b.price) || a.at - b.at);
  }

  /** Whether a peer was sent the search's SEARCH: one that cannot list (no `book`). */
  #searched(peer: RegisteredPeer, request: RequestRecord): boolean {
    return wasAsked(peer, request) && !this.#registry.speaks(peer.name, "book");
  }

  /** The cheapest listing within the max: RESERVE to its seller, whose answer decides. */
  #hold(open: TrackedRequest, seller: string, price: number, turn: MarketTurn): void {
    const request = this.#update(open, {
      holding: seller,
      price,
      deadline: turn.at + this.#timers.holdTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${request.id}: RESERVE ${request.item} at ${price} from ${seller}'s listing`,
    );
    this.#sendTo(seller, reserve(request), turn);
  }

  /** Whether a datagram is the awaited answer of the lister a search holds. */
  #isHoldAnswer(
    event: MessageEvent,
    open: TrackedRequest | undefined,
    seller: RegisteredPeer | undefined,
  ): boolean {
    return open !== undefined && seller !== undefined && open.record.state === "searching" &&
      open.record.holding === seller.name &&
      this.#registry.sentBy(seller, event.from, event.authenticated);
  }

  /**
   * Whether an OFFER is a lister's late "held" for a RESERVE its search
   * gave up on (declined, timed out, or the search ended without it).
   */
  #isLateHold(
    event: MessageEvent,
    open: TrackedRequest | undefined,
    seller: RegisteredPeer | undefined,
  ): boolean {
    if (!open || !seller || !this.#registry.speaks(seller.name, "book")) return false;
    if (!this.#registry.sentBy(seller, event.from, event.authenticated)) return false;
    const request = open.record;
    return (request.declined ?? []).includes(seller.name) && request.seller !== seller.name;
  }

  /** The lister holds the item: FOUND to the buyer (its RESERVE went already). */
  #held(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    const found = this.#update(open, {
      state: "found",
      seller: request.holding,
      holding: undefined,
      deadline: turn.at + this.#timers.reserveTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${found.id}: ${found.buyer} may buy ${found.item} from ${found.seller} at ${found.price}`,
    );
    this.#sendTo(found.buyer, this.#buyerView(found)!, turn);
  }

  /** The lister declined, left or is silent: the next cheapest, or the end. */
  #holdFailed(open: TrackedRequest, why: string, release: boolean, turn: MarketTurn): void {
    const request = open.record;
    const seller = request.holding!;
    // Its RESERVE is answered or given up: not sent again.
    this.#unacked.forget(`${seller} RESERVE ${request.id}`);
    // A silent lister may have held it all the same.
    if (release) this.#sendTo(seller, cancel(request, "seller"), turn);
    this.#update(open, {
      holding: undefined,
      price: undefined,
      declined: [...(request.declined ?? []), seller],
    }, turn);
    turn.log("info", `Search ${request.id}: ${why}; trying the next listing`);
    this.#decide(open, turn);
  }

  /** A sale from a listing takes one off its quantity until the seller lists anew. */
  #soldFromListing(seller: string, item: string, turn: MarketTurn): void {
    const after = this.#book.sold(seller, item, turn.at);
    if (!after) return;
    const key = ["listing", seller, itemKey(item)] as const;
    if (after.quantity > 0) turn.save({ key, value: after });
    else turn.delete(key);
  }

  #clearListings(name: string, turn: MarketTurn): void {
    for (const key of this.#book.clearSeller(name)) turn.delete(["listing", name, key]);
  }

  /** A peer left (or was forgotten): its listings and liveness go with it. */
  #leave(name: string, turn: MarketTurn): void {
    this.#clearListings(name, turn);
    this.#liveness.remove(name);
  }

  #heardFrom(event: MessageEvent, turn: MarketTurn): void {
    const name = event.authenticated ?? this.#registry.nameAt(event.from);
    if (name === undefined || !this.#registry.has(name)) return;
    if (this.#liveness.heard(name, event.at, this.#registry.speaks(name, "book"))) {
      turn.log("info", `${name} is online again`);
    }
  }

  /** A peer went offline: searches stop waiting for it; its listings are hidden. */
  #wentOffline(name: string, why: string, turn: MarketTurn): void {
    turn.log("warning", `${name} is offline: ${why}`);
    const peer = this.#registry.get(name);
    for (const open of this.#table.values()) {
      const request = open.record;
      if (request.state !== "searching") continue;
      if (request.holding === name) {
        this.#holdFailed(open, `${name} is offline`, true, turn);
      } else if (peer && this.#searched(peer, request) && !open.answered.has(name)) {
        open.answered.add(name);
        this.#decideIfAllAnswered(open, turn);
      }
    }
  }

  #sweepLiveness(turn: MarketTurn): void {
    const { offline, forget } = this.#liveness.sweep(turn.at);
    for (const name of offline) this.#wentOffline(name, "it fell silent", turn);
    for (const name of forget) {
      const peer = this.#registry.get(name);
      if (!peer) {
        this.#liveness.remove(name);
        continue;
      }
      this.#endFlowsOf(peer, turn);
      this.#registry.remove(peer);
      this.#leave(name, turn);
      turn.delete(["peer", name]);
      turn.log("info", `De-registered ${name}: offline for too long`);
    }
  }

  #onInvalid(event: InvalidEvent, turn: MarketTurn): void {
    const { error } = event;
    // Debug, not warning: a flood of junk must not flood the console too.
    turn.log(
      "debug",
      `Rejected datagram from ${event.from.hostname}:${event.from.port}: ${error.message}`,
    );
    const denial = error.keyword ? DENIALS[error.keyword] : undefined;
    if (error.rq === undefined || denial === undefined) return;
    this.#reply(event, { type: denial, rq: error.rq, reason: error.message }, turn);
  }
}

/**
 * Whether the seller of an ended search may still hold its item for it,
 * for want of the CANCEL the market sent it: one reserved (found, perhaps
 * bought for a while) and cancelled, or one negotiated, which the seller
 * may have accepted (and held) when it ended without a deal.
 */
function mayHoldFor(request: RequestRecord): boolean {
  if (request.seller === undefined) return false;
  return request.state === "not_found" ||
    request.state === "cancelled" && request.price !== undefined;
}

/** Whether a peer was sent a search's SEARCH: it was registered then, and is not the buyer. */
function wasAsked(peer: RegisteredPeer, request: RequestRecord): boolean {
  return peer.name !== request.buyer && peer.registeredAt <= request.createdAt;
}

function sameItem(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
