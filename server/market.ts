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
 * reservations, BUY/CANCEL, timeouts, what a restart resends), on top of
 * `market_core.ts` (the shared state and bookkeeping),
 * `market_settlement.ts` (transaction outcomes and deliveries) and
 * `market_book.ts` (the offer book and liveness). The data it decides on lives in three structures that guard
 * their own invariants: the {@linkcode Registry} of peers, the
 * {@linkcode RequestTable} of searches with its indices and deadlines, and
 * the {@linkcode ReplyCache} that answers repeated datagrams. The states a
 * search goes through and the allowed changes between them are one table,
 * `request_states.ts`. Each event is handled in one {@linkcode MarketTurn},
 * which collects its effects, writes first.
 *
 * @module
 */
import { formatMoney } from "../protocol/money.ts";
import { ACKED_REQUESTS, formatAddress, type Message, type MessageOf } from "../protocol/mod.ts";
import { toCents } from "../protocol/fee.ts";
import { type Effect, MarketTurn, type MessageEvent, type ServerEvent } from "./market_turn.ts";
import type { OfferRecord, RegisteredPeer, RequestRecord } from "./records.ts";
import { isFrom, isOurs } from "./registry.ts";
import { admit, describeAdmission } from "./registration.ts";
import { OfferBook } from "./offer_book.ts";
import { cancel, negotiate, noDeal, reserve, silentFor } from "./search_messages.ts";
import { isOpen } from "./request_states.ts";
import { NEVER, type TrackedRequest } from "./request_table.ts";

import {
  DENIALS,
  type InvalidEvent,
  sameItem,
  SERVER_SET,
  STATE_ANSWERED,
  wasAsked,
} from "./market_core.ts";
import { MarketBook } from "./market_book.ts";

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

/** How many hold times a search waits for a lister whose RESERVE is still being resent. */
const HOLD_RESEND_WAITS = 4;

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
export class Market extends MarketBook {
  /** The registered peer with this name, if any. */
  peer(name: string): RegisteredPeer | undefined {
    return this.registry.get(name);
  }

  /** Every registered peer. */
  peers(): IterableIterator<RegisteredPeer> {
    return this.registry.values();
  }

  /** A search by the server's RQ#. */
  request(id: string): RequestRecord | undefined {
    return this.table.get(id)?.record;
  }

  /** Every remembered search, open or ended. */
  requests(): RequestRecord[] {
    return [...this.table.values()].map((open) => open.record);
  }

  /** The offers made against a search. */
  offers(id: string): OfferRecord[] {
    return [...this.table.get(id)?.offers.values() ?? []];
  }

  /** The offer book of our sellers. */
  get book(): OfferBook {
    return this.offerBook;
  }

  /** Whether a peer of ours is offline (its listings hidden, no search waits for it). */
  isOffline(name: string): boolean {
    return this.liveness.isOffline(name);
  }

  /** How many messages to our peers await acknowledgement. */
  get unacknowledged(): number {
    return this.unacked.size;
  }

  /** How many replies are cached for repeated datagrams. */
  get cachedReplies(): number {
    return this.replies.size;
  }

  /** When the machine next needs a `tick`, if ever. */
  nextDeadline(): number | undefined {
    if (this.restored || this.resume.length > 0) return 0;
    const deadlines = [
      this.table.nextDeadline(),
      this.unacked.nextDeadline(),
      this.liveness.nextDeadline(),
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
        this.onInvalid(event, turn);
        break;
      case "tick":
        this.onTick(turn);
        break;
      case "resumed":
        this.onResumed(event.stalledMs, turn);
        break;
      case "message":
        this.onMessage(event, turn);
        break;
      case "transacted":
        this.onTransacted(event, turn);
        break;
      case "delivered": {
        const open = this.table.get(event.request);
        if (open?.record.state === "bought") {
          this.update(open, event.to === "seller" ? { shipped: true } : { receipted: true }, turn);
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
  protected onMessage(event: MessageEvent, turn: MarketTurn): void {
    const { message, from } = event;
    this.heardFrom(event, turn);
    if (message.type === "ACK") return this.onAck(event, message, turn);
    // LOOKING_FOR, BUY, CANCEL, ACCEPT and REFUSE are not cached: their
    // handlers answer a repeat with the search's current outcome, fresher
    // than a cached reply.
    const key = STATE_ANSWERED.has(message.type)
      ? undefined
      : `${formatAddress(from)} ${message.type} ${message.rq}`;
    const cached = key === undefined ? undefined : this.replies.get(key, event.at);
    if (cached) {
      for (const reply of cached) turn.emit(reply);
      turn.log(
        "debug",
        `Repeated ${message.type} ${message.rq} from ${formatAddress(from)}: answered as before`,
      );
      return;
    }
    const mark = turn.sendCount;
    this.dispatch(event, turn);
    const sender = this.registry.nameAt(from);
    if (ACKED_REQUESTS.has(message.type) && sender && this.registry.speaks(sender, "ack")) {
      const of = message.type as MessageOf<"ACK">["of"];
      this.reply(event, { type: "ACK", rq: message.rq, of }, turn);
    }
    if (key !== undefined) this.replies.remember(key, turn.sentSince(mark, from), event.at);
  }

  protected onAck(event: MessageEvent, message: MessageOf<"ACK">, turn: MarketTurn): void {
    const name = this.registry.nameAt(event.from);
    if (!name || this.unacked.ack(`${name} ${message.of} ${message.rq}`, event.at) === undefined) {
      turn.log(
        "debug",
        `Ignored ACK ${message.rq} ${message.of} from ${
          formatAddress(event.from)
        }: nothing awaited it`,
      );
      return;
    }
    // The lister has the RESERVE of its listing now: its answer gets the
    // whole hold time from here, however long a lossy link took to deliver it.
    const open = message.of === "RESERVE" ? this.table.get(message.rq) : undefined;
    if (open?.record.state === "searching" && open.record.holding === name) {
      this.update(open, { deadline: turn.at + this.timers.holdTimeout }, turn);
    }
  }

  /**
   * Replies to the datagram's source. A source that is no registered peer
   * gets no more bytes than it sent: the server cannot amplify a flood
   * toward a forged address.
   */
  protected reply(event: MessageEvent | InvalidEvent, message: Message, turn: MarketTurn): void {
    turn.send(event.from, message, this.registry.knows(event.from) ? undefined : event.bytes);
  }

  protected dispatch(event: MessageEvent, turn: MarketTurn): void {
    const { message } = event;
    switch (message.type) {
      case "REGISTER":
        return this.onRegister(event, message, turn);
      case "DE-REGISTER":
        return this.onDeregister(event, message, turn);
      case "LOOKING_FOR":
        return this.onLookingFor(event, message, turn);
      case "OFFER":
        return this.onOffer(event, message, turn);
      case "NO_OFFER":
        return this.onNoOffer(event, message, turn);
      case "ACCEPT":
      case "REFUSE":
        return this.onNegotiationAnswer(event, message, turn);
      case "BUY":
      case "CANCEL":
        return this.onBuyerAnswer(event, message, turn);
      case "LIST":
        return this.onList(event, message, turn);
      case "BROWSE":
        return this.onBrowse(event, message, turn);
      case "ALIVE":
        // Heard: that is all a keep-alive asks (the ACK follows).
        return;
      default:
        turn.log("warning", `Ignored ${message.type} ${message.rq}: not a request a server takes`);
    }
  }

  // Registration

  protected onRegister(
    event: MessageEvent,
    message: MessageOf<"REGISTER">,
    turn: MarketTurn,
  ): void {
    const { admission, registered } = admit(this.registry, event, message, {
      extensions: SERVER_SET,
      allowPlaintext: this.allowPlaintext,
      maxPeers: this.limits.peers,
      namesPerHost: this.limits.namesPerHost,
      classicNamesPerHost: this.limits.classicNamesPerHost,
      namesPerKey: this.limits.namesPerKey,
    });
    if (admission.kind === "deny") {
      const denial: Message = { type: "REGISTER-DENIED", rq: message.rq, reason: admission.reason };
      return this.reply(event, denial, turn);
    }
    if (admission.kind === "confirm") return this.reply(event, registered, turn);
    const { peer, replaces } = admission;
    if (replaces) this.registry.remove(replaces);
    // A new registration lists again in full: what it listed before goes.
    this.clearListings(peer.name, turn);
    this.registry.add(peer);
    if (replaces) this.redeliverTo(peer.name, turn);
    turn.save({ key: ["peer", peer.name], value: peer });
    turn.log("info", describeAdmission(peer, replaces !== undefined));
    this.reply(event, registered, turn);
  }

  protected onDeregister(
    event: MessageEvent,
    message: MessageOf<"DE-REGISTER">,
    turn: MarketTurn,
  ): void {
    const peer = this.registry.get(message.name);
    const deny = (why: string): void => {
      const reason = `name ${message.name} ${why}`;
      this.reply(event, { type: "DE-REGISTER-DENIED", rq: message.rq, reason }, turn);
    };
    if (!peer) return deny("not registered");
    // Strictly from its address: a classic peer's fresh sockets may ask, not leave.
    if (!isFrom(peer, event.from, event.authenticated)) {
      return deny("registered from another address");
    }
    this.endFlowsOf(peer, turn);
    this.registry.remove(peer);
    this.leave(peer.name, turn);
    turn.delete(["peer", peer.name]);
    turn.log("info", `De-registered ${peer.name}`);
    this.reply(event, { type: "DE-REGISTERED", rq: message.rq }, turn);
  }

  /** Ends every open flow in which a leaving peer takes part, telling the others. */
  protected endFlowsOf(peer: RegisteredPeer, turn: MarketTurn): void {
    const name = peer.name;
    for (const open of this.table.values()) {
      const request = open.record;
      if (!isOpen(request.state)) continue;
      if (request.state === "searching" && request.holding === name && request.buyer !== name) {
        this.holdFailed(open, `${name} left the marketplace`, false, turn);
        continue;
      }
      if (request.buyer === name) {
        if (request.state === "found" || request.state === "buying") {
          this.sendTo(request.seller!, cancel(request, "seller"), turn);
        }
        if (request.state === "searching" && request.holding !== undefined) {
          this.sendTo(request.holding, cancel(request, "seller"), turn);
        }
        this.end(open, "cancelled", "the buyer left the marketplace", turn);
      } else if (request.seller === name && request.state !== "searching") {
        const negotiating = request.state === "negotiating";
        this.sendTo(
          request.buyer,
          negotiating ? noDeal("NOT_FOUND", request) : cancel(request, "buyer"),
          turn,
        );
        const state = negotiating ? "not_found" : "cancelled";
        this.end(open, state, "the seller left the marketplace", turn);
      } else if (request.state === "searching" && this.searched(peer, request)) {
        if (open.offers.delete(name)) turn.delete(["offer", request.id, name]);
        // A seller who left will not answer: stop waiting for it.
        open.answered.add(name);
        this.decideIfAllAnswered(open, turn);
      }
    }
  }

  // Searching

  protected onLookingFor(
    event: MessageEvent,
    message: MessageOf<"LOOKING_FOR">,
    turn: MarketTurn,
  ): void {
    const buyer = this.registry.get(message.name);
    const ask = { buyerRq: message.rq, item: message.item, maxPrice: message.maxPrice };
    if (!buyer || !this.registry.sentBy(buyer, event.from, event.authenticated)) {
      turn.log(
        "warning",
        `Refused LOOKING_FOR ${message.rq} from ${event.from.hostname}: ${message.name} is not registered there`,
      );
      return this.reply(event, noDeal("NOT_AVAILABLE", ask), turn);
    }
    const existing = this.table.byBuyerRq(buyer.name, message.rq);
    if (existing) {
      // A retransmitted LOOKING_FOR: the search exists; repeat its outcome if it has one.
      const answer = this.buyerView(existing.record);
      if (answer) this.sendTo(buyer.name, answer, turn);
      return;
    }
    const cap = this.limits.openRequestsPerPeer;
    if (this.table.openCount(buyer.name) >= cap) {
      const reason = `too many open searches (${cap})`;
      turn.log("warning", `Refused LOOKING_FOR ${message.rq} from ${buyer.name}: ${reason}`);
      const refusal: Message = this.registry.speaks(buyer.name, "ack")
        ? { type: "DENIED", rq: message.rq, reason }
        : noDeal("NOT_AVAILABLE", ask);
      return this.sendTo(buyer.name, refusal, turn);
    }
    const id = this.newId();
    // Our sellers answer from the book: SEARCH asks only the peers that
    // cannot list. Classic peers get one datagram for all (no session to
    // seal it with, no ACK to track); ours without `book` each get theirs.
    const classic: RegisteredPeer[] = [];
    const ours: string[] = [];
    for (const name of this.registry.unlisted()) {
      if (name === buyer.name || this.liveness.isOffline(name)) continue;
      const peer = this.registry.get(name)!;
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
      ...(message.spelling !== undefined ? { spelling: message.spelling } : {}),
      createdAt: event.at,
      updatedAt: event.at,
      state: "searching",
      deadline: event.at + this.timers.searchTimeout,
      contacted,
    };
    const open = this.table.add(record);
    turn.save({ key: ["request", id], value: record });
    const listed = this.listed(record).length;
    turn.log(
      "info",
      `Search ${id}: ${buyer.name} looks for ${message.item} at most ${
        formatMoney(message.maxPrice)
      } (${message.rq}); ${listed} listing(s), asking ${contacted} peer(s)`,
    );
    if (listed > 0) {
      // Listings are offers already made: decided now, or when the window closes.
      if (contacted === 0) return this.decide(open, turn);
      this.update(
        open,
        { firstOfferAt: event.at, deadline: event.at + this.timers.offerWindow },
        turn,
      );
    } else if (contacted === 0) {
      this.sendTo(buyer.name, noDeal("NOT_AVAILABLE", record), turn);
      return this.end(open, "not_available", "no other peer is registered", turn);
    }
    const search: Message = {
      type: "SEARCH",
      rq: id,
      item: message.item,
      description: message.description,
    };
    // Classic sellers compare names byte for byte: the buyer's own spelling.
    if (classic.length > 0) {
      turn.fanout(
        record.spelling !== undefined ? { ...search, spelling: record.spelling } : search,
        classic,
      );
    }
    for (const seller of ours) this.sendTo(seller, search, turn);
  }

  protected onOffer(event: MessageEvent, message: MessageOf<"OFFER">, turn: MarketTurn): void {
    const open = this.table.get(message.rq);
    const seller = this.registry.get(message.name);
    if (this.isHoldAnswer(event, open, seller)) return this.held(open!, turn);
    if (this.isLateHold(event, open, seller)) {
      // It held the item for a RESERVE the search no longer wants: release it.
      return this.sendTo(seller!.name, cancel(open!.record, "seller", message.price), turn);
    }
    const problem = !open
      ? "no such search"
      : !seller || !this.registry.sentBy(seller, event.from, event.authenticated)
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
      `Search ${record.id}: ${offer.seller} offers ${message.item} at ${formatMoney(offer.price)}`,
    );
    if (record.firstOfferAt === undefined) {
      this.update(open, {
        firstOfferAt: event.at,
        deadline: event.at + this.timers.offerWindow,
      }, turn);
    }
    open.answered.add(offer.seller);
    this.decideIfAllAnswered(open, turn);
  }

  protected onNoOffer(event: MessageEvent, message: MessageOf<"NO_OFFER">, turn: MarketTurn): void {
    const open = this.table.get(message.rq);
    const seller = this.registry.get(message.name);
    if (this.isHoldAnswer(event, open, seller)) {
      return this.holdFailed(open!, `${message.name} no longer has it`, false, turn);
    }
    if (
      !open || !seller || !this.registry.sentBy(seller, event.from, event.authenticated) ||
      !wasAsked(seller, open.record) ||
      open.record.state !== "searching"
    ) {
      turn.log("debug", `Ignored NO_OFFER ${message.rq} from ${message.name}`);
      return;
    }
    open.answered.add(seller.name);
    this.decideIfAllAnswered(open, turn);
  }

  /**
   * Decides at once when every asked seller has answered: with only our own
   * peers (who say NO_OFFER), a search need not wait out its window.
   */
  protected decideIfAllAnswered(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    if (request.state !== "searching" || open.answered.size < request.contacted) return;
    // A listing's RESERVE is out: its answer decides.
    if (request.holding !== undefined) return;
    turn.log("info", `Search ${request.id}: all ${request.contacted} asked peer(s) answered`);
    this.decide(open, turn);
  }

  /** The offer window closed: pick the best offer, or negotiate, or give up. */
  protected decide(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    const offered = [...open.offers.values()]
      .filter((offer) =>
        this.registry.has(offer.seller) && !this.table.isReservedElsewhere(offer.seller, request)
      )
      .map((offer) => ({ seller: offer.seller, price: offer.price, at: offer.at, listed: false }));
    const listed = this.listed(request)
      .map((listing) => ({ ...listing, listed: true }));
    const usable = [...offered, ...listed]
      .sort((a, b) => toCents(a.price) - toCents(b.price) || a.at - b.at);
    const best = usable[0];
    if (!best) {
      const book = this.registry.speaks(request.buyer, "book");
      this.sendTo(request.buyer, noDeal("NOT_AVAILABLE", request, silentFor(request, book)), turn);
      const reason = open.offers.size === 0 && (request.declined ?? []).length === 0
        ? "no offer arrived"
        : "every offering seller's item is reserved or gone";
      return this.end(open, "not_available", reason, turn);
    }
    if (toCents(best.price) <= toCents(request.maxPrice)) {
      if (best.listed) return this.hold(open, best.seller, best.price, turn);
      return this.reserve(open, best.seller, best.price, turn);
    }
    const negotiating = this.update(open, {
      state: "negotiating",
      seller: best.seller,
      price: request.maxPrice,
      deadline: turn.at + this.timers.negotiationTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${request.id}: every offer is above ${
        formatMoney(request.maxPrice)
      }; negotiating with ${best.seller} (asked ${formatMoney(best.price)})`,
    );
    this.sendTo(best.seller, negotiate(negotiating), turn);
  }

  protected reserve(open: TrackedRequest, seller: string, price: number, turn: MarketTurn): void {
    const deadline = turn.at + this.timers.reserveTimeout;
    const request = this.update(open, { state: "found", seller, price, deadline }, turn);
    turn.log(
      "info",
      `Search ${request.id}: ${request.buyer} may buy ${request.item} from ${seller} at ${
        formatMoney(price)
      }`,
    );
    this.sendTo(request.buyer, this.buyerView(request)!, turn);
    this.sendTo(seller, reserve(request), turn);
  }

  protected onNegotiationAnswer(
    event: MessageEvent,
    message: MessageOf<"ACCEPT" | "REFUSE">,
    turn: MarketTurn,
  ): void {
    const open = this.table.get(message.rq);
    const request = open?.record;
    const seller = request?.seller ? this.registry.get(request.seller) : undefined;
    if (
      !open || !request || !seller ||
      !this.registry.sentBy(seller, event.from, event.authenticated) ||
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
        this.sendTo(seller.name, cancel(request, "seller", message.maxPrice), turn);
      }
      return;
    }
    if (message.type === "REFUSE") {
      return this.noDeal(open, `${seller.name} refused ${formatMoney(request.maxPrice)}`, turn);
    }
    if (this.table.isReservedElsewhere(seller.name, request)) {
      this.sendTo(seller.name, cancel(request, "seller", request.maxPrice), turn);
      return this.noDeal(open, `${seller.name}'s item was reserved meanwhile`, turn);
    }
    this.reserve(open, seller.name, request.maxPrice, turn);
  }

  /** A negotiation ended without a deal: NOT_FOUND to the buyer. */
  protected noDeal(open: TrackedRequest, reason: string, turn: MarketTurn): void {
    this.sendTo(open.record.buyer, noDeal("NOT_FOUND", open.record), turn);
    this.end(open, "not_found", reason, turn);
  }

  // The buyer's decision

  protected onBuyerAnswer(
    event: MessageEvent,
    message: MessageOf<"BUY" | "CANCEL">,
    turn: MarketTurn,
  ): void {
    const open = this.findByBuyerRq(event, message);
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
        this.sendTo(request.seller!, cancel(request, "seller"), turn);
        return this.end(open, "cancelled", `${request.buyer} cancelled`, turn);
      }
      const tx = this.newId();
      const buying = this.update(open, { state: "buying", deadline: NEVER, tx }, turn);
      turn.log(
        "info",
        `Search ${request.id}: ${request.buyer} buys ${request.item} from ${request.seller} at ${
          formatMoney(request.price!)
        }; transaction ${tx}`,
      );
      const plan = this.plan(buying);
      if (plan) this.transact(request.id, plan, turn);
      return;
    }
    if (
      message.type === "CANCEL" &&
      (request.state === "searching" || request.state === "negotiating")
    ) {
      // The buyer withdraws a search before its outcome: nothing is
      // reserved yet; a seller asked to negotiate that accepts later is
      // told CANCEL (see the negotiation answer).
      return this.end(open, "cancelled", `${request.buyer} cancelled the search`, turn);
    }
    if (!isOpen(request.state)) {
      // Answered after the reservation lapsed: say again that it is over.
      const answer = this.buyerView(request);
      if (answer) this.sendTo(request.buyer, answer, turn);
    }
  }

  protected findByBuyerRq(
    event: MessageEvent,
    message: MessageOf<"BUY" | "CANCEL">,
  ): TrackedRequest | undefined {
    const candidates = [...this.table.withBuyerRq(message.rq)].filter((open) =>
      sameItem(open.record.item, message.item) &&
      // Some classic peers name themselves after the RQ#: it must be the buyer.
      (message.sender === undefined || message.sender === open.record.buyer)
    );
    const buyerOf = (open: TrackedRequest) => this.registry.get(open.record.buyer);
    // The buyer at this very address first; only then one of a classic
    // buyer's fresh sockets.
    return candidates.find((open) => {
      const buyer = buyerOf(open);
      return buyer !== undefined && isFrom(buyer, event.from, event.authenticated);
    }) ?? candidates.find((open) => {
      const buyer = buyerOf(open);
      return buyer !== undefined && this.registry.sentBy(buyer, event.from, event.authenticated);
    });
  }

  // Time

  protected onTick(turn: MarketTurn): void {
    if (this.restored) {
      this.restored = false;
      this.resendAfterRestart(turn);
    }
    this.retransmit(turn);
    this.sweepLiveness(turn);
    for (const id of this.resume.splice(0)) {
      const open = this.table.get(id);
      const plan = open && this.plan(open.record);
      if (!open || !plan) continue;
      if (open.record.state === "buying") {
        turn.log("info", `Transaction ${plan.id} was interrupted by a restart; running it again`);
        this.transact(id, plan, turn);
      } else if (open.record.shipTo) {
        this.concludeSale(open.record, plan, this.owed(open.record), turn);
      }
    }
    for (let due = this.table.popDue(turn.at); due; due = this.table.popDue(turn.at)) {
      this.expire(due.request, turn.during(due.at));
    }
  }

  /**
   * The store failed for `stalledMs` and nothing was sent meanwhile: the
   * RESERVE, NEGOTIATE or FOUND handled before it went out only now, so
   * the open searches get that time back (a lister is not "silent", nor a
   * buyer "late", for time the server itself stood still).
   */
  protected onResumed(stalledMs: number, turn: MarketTurn): void {
    if (stalledMs <= 0) return;
    let moved = 0;
    for (const open of [...this.table.values()]) {
      const request = open.record;
      // Waiting on nothing timed (a purchase's TCP leg): nothing to move.
      if (!isOpen(request.state) || request.deadline === NEVER) continue;
      this.update(open, {
        deadline: request.deadline + stalledMs,
        ...(request.holdSince !== undefined ? { holdSince: request.holdSince + stalledMs } : {}),
      }, turn);
      moved++;
    }
    if (moved > 0) {
      turn.log(
        "info",
        `The store failed for ${
          (stalledMs / 1000).toFixed(1)
        } s: ${moved} open search(es) get that time back`,
      );
    }
  }

  /** A search's deadline came (`turn.at` is the deadline, not the tick). */
  protected expire(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    switch (request.state) {
      case "searching":
        if (request.holding !== undefined) {
          // Still being resent (a lossy link): wait a little longer, but
          // never more than a few hold times for a lister that is gone.
          const waited = turn.at - (request.holdSince ?? request.updatedAt);
          if (
            this.unacked.has(`${request.holding} RESERVE ${request.id}`) &&
            waited < HOLD_RESEND_WAITS * this.timers.holdTimeout
          ) {
            this.update(open, { deadline: turn.at + this.timers.holdTimeout }, turn);
            return;
          }
          // The buyer is told if no deal comes of the search.
          const silentPrice = Math.min(request.price!, request.silentPrice ?? Infinity);
          this.update(open, { silentPrice }, turn);
          return this.holdFailed(open, `${request.holding} did not answer RESERVE`, true, turn);
        }
        return this.decide(open, turn);
      case "negotiating":
        // Our seller may still be asking its user: a CANCEL withdraws the
        // question (a classic seller is told nothing it would not expect).
        if (this.registry.speaks(request.seller!, "ack")) {
          this.sendTo(request.seller!, cancel(request, "seller", request.maxPrice), turn);
        }
        return this.noDeal(open, `${request.seller} did not answer NEGOTIATE`, turn);
      case "found":
        this.cancelBothSides(request, turn);
        return this.end(open, "cancelled", "the buyer did not answer FOUND in time", turn);
      case "buying":
        return;
      default:
        // An ended search reached the end of its retention.
        this.forget(open, turn);
    }
  }

  protected onInvalid(event: InvalidEvent, turn: MarketTurn): void {
    const { error } = event;
    // Debug, not warning: a flood of junk must not flood the console too.
    turn.log(
      "debug",
      `Rejected datagram from ${event.from.hostname}:${event.from.port}: ${error.message}`,
    );
    const denial = error.keyword ? DENIALS[error.keyword] : undefined;
    if (error.rq === undefined || denial === undefined) return;
    this.reply(event, { type: denial, rq: error.rq, reason: error.message }, turn);
  }
}
