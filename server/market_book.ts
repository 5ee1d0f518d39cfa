/**
 * The market's part for the offer book (extension `book`): listings,
 * searches decided from them (a hold asked of the cheapest lister), the
 * catalogue, and liveness (who is offline, when they are forgotten); see
 * `market_core.ts`.
 *
 * @module
 */
import { formatMoney } from "../protocol/money.ts";
import { type MessageOf } from "../protocol/mod.ts";
import { toCents } from "../protocol/fee.ts";
import { MarketTurn, type MessageEvent } from "./market_turn.ts";
import type { RegisteredPeer, RequestRecord } from "./records.ts";
import { itemKey, type ListingRecord } from "./offer_book.ts";
import { cancel, noDeal, reserve, silentFor } from "./search_messages.ts";
import { type TrackedRequest } from "./request_table.ts";

import { wasAsked } from "./market_core.ts";
import { MarketSettlement } from "./market_settlement.ts";

/**
 * Most listers one search tries (each one that declines or is silent is
 * kept in its record, so as not to be asked again); past that it ends
 * NOT_AVAILABLE.
 */
export const MAX_DECLINED = 32;

/** The offer book and liveness, on top of the market's state and settlement. */
export abstract class MarketBook extends MarketSettlement {
  // The offer book and liveness (extension `book`)

  protected onList(event: MessageEvent, message: MessageOf<"LIST">, turn: MarketTurn): void {
    const seller = this.registry.get(message.name);
    if (
      !seller || !this.registry.sentBy(seller, event.from, event.authenticated) ||
      !this.registry.speaks(seller.name, "book")
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
    switch (this.offerBook.apply(listing)) {
      case "listed":
        turn.save({ key, value: listing });
        turn.log(
          "debug",
          `${seller.name} lists ${message.quantity} × ${message.item} at ${
            formatMoney(message.price)
          }`,
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

  protected onBrowse(event: MessageEvent, message: MessageOf<"BROWSE">, turn: MarketTurn): void {
    const peer = this.registry.get(message.name);
    if (
      !peer || !this.registry.sentBy(peer, event.from, event.authenticated) ||
      !this.registry.speaks(peer.name, "book")
    ) {
      turn.log("debug", `Ignored BROWSE ${message.rq} from ${message.name}: not registered there`);
      return;
    }
    const page = this.offerBook.catalogue(
      message.prefix,
      message.from,
      (seller) => this.registry.has(seller) && !this.liveness.isOffline(seller),
    );
    this.sendTo(peer.name, { type: "CATALOGUE", rq: message.rq, ...page }, turn);
  }

  /**
   * The listings a search may take, cheapest first: registered, online
   * sellers other than the buyer, that did not decline it and hold the
   * item for no other search.
   */
  protected listed(request: RequestRecord): { seller: string; price: number; at: number }[] {
    const declined = request.declined ?? [];
    const listed: { seller: string; price: number; at: number }[] = [];
    for (const listing of this.offerBook.listings(request.item)) {
      const seller = listing.seller;
      if (
        seller === request.buyer || declined.includes(seller) || !this.registry.has(seller) ||
        this.liveness.isOffline(seller) || this.table.isReservedElsewhere(seller, request)
      ) continue;
      listed.push({ seller, price: listing.price, at: listing.at });
    }
    return listed.sort((a, b) => toCents(a.price) - toCents(b.price) || a.at - b.at);
  }

  /** Whether a peer was sent the search's SEARCH: one that cannot list (no `book`). */
  protected searched(peer: RegisteredPeer, request: RequestRecord): boolean {
    return wasAsked(peer, request) && !this.registry.speaks(peer.name, "book");
  }

  /** The cheapest listing within the max: RESERVE to its seller, whose answer decides. */
  protected hold(open: TrackedRequest, seller: string, price: number, turn: MarketTurn): void {
    const request = this.update(open, {
      holding: seller,
      holdSince: turn.at,
      price,
      deadline: turn.at + this.timers.holdTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${request.id}: RESERVE ${request.item} at ${
        formatMoney(price)
      } from ${seller}'s listing`,
    );
    this.sendTo(seller, reserve(request), turn);
  }

  /** Whether a datagram is the awaited answer of the lister a search holds. */
  protected isHoldAnswer(
    event: MessageEvent,
    open: TrackedRequest | undefined,
    seller: RegisteredPeer | undefined,
  ): boolean {
    return open !== undefined && seller !== undefined && open.record.state === "searching" &&
      open.record.holding === seller.name &&
      this.registry.sentBy(seller, event.from, event.authenticated);
  }

  /**
   * Whether an OFFER is a lister's late "held" for a RESERVE its search
   * gave up on (declined, timed out, or the search ended without it).
   */
  protected isLateHold(
    event: MessageEvent,
    open: TrackedRequest | undefined,
    seller: RegisteredPeer | undefined,
  ): boolean {
    if (!open || !seller || !this.registry.speaks(seller.name, "book")) return false;
    if (!this.registry.sentBy(seller, event.from, event.authenticated)) return false;
    const request = open.record;
    return (request.declined ?? []).includes(seller.name) && request.seller !== seller.name;
  }

  /** The lister holds the item: FOUND to the buyer (its RESERVE went already). */
  protected held(open: TrackedRequest, turn: MarketTurn): void {
    const request = open.record;
    // Another search's RESERVE of the same listing was held first: one item
    // is never held for two (the seller is told to let this one go).
    if (this.table.isReservedElsewhere(request.holding!, request)) {
      return this.holdFailed(
        open,
        `${request.holding}'s ${request.item} is held for another search`,
        true,
        turn,
      );
    }
    const found = this.update(open, {
      state: "found",
      seller: request.holding,
      holding: undefined,
      deadline: turn.at + this.timers.reserveTimeout,
    }, turn);
    turn.log(
      "info",
      `Search ${found.id}: ${found.buyer} may buy ${found.item} from ${found.seller} at ${
        formatMoney(found.price!)
      }`,
    );
    this.sendTo(found.buyer, this.buyerView(found)!, turn);
  }

  /** The lister declined, left or is silent: the next cheapest, or the end. */
  protected holdFailed(
    open: TrackedRequest,
    why: string,
    release: boolean,
    turn: MarketTurn,
  ): void {
    const request = open.record;
    const seller = request.holding!;
    // Its RESERVE is answered or given up: not sent again.
    this.unacked.forget(`${seller} RESERVE ${request.id}`);
    // A silent lister may have held it all the same.
    if (release) this.sendTo(seller, cancel(request, "seller"), turn);
    const declined = [...(request.declined ?? []), seller];
    const updated = this.update(open, { holding: undefined, price: undefined, declined }, turn);
    // Bounded: listers that register, list, decline and leave by the
    // thousand cannot grow one search's record past what a store holds.
    if (declined.length >= MAX_DECLINED) {
      const book = this.registry.speaks(updated.buyer, "book");
      this.sendTo(updated.buyer, noDeal("NOT_AVAILABLE", updated, silentFor(updated, book)), turn);
      return this.end(
        open,
        "not_available",
        `${why}; ${MAX_DECLINED} listers declined or did not answer`,
        turn,
      );
    }
    turn.log("info", `Search ${request.id}: ${why}; trying the next listing`);
    this.decide(open, turn);
  }

  /** A sale from a listing takes one off its quantity until the seller lists anew. */
  protected soldFromListing(seller: string, item: string, turn: MarketTurn): void {
    const after = this.offerBook.sold(seller, item, turn.at);
    if (!after) return;
    const key = ["listing", seller, itemKey(item)] as const;
    if (after.quantity > 0) turn.save({ key, value: after });
    else turn.delete(key);
  }

  protected clearListings(name: string, turn: MarketTurn): void {
    for (const key of this.offerBook.clearSeller(name)) turn.delete(["listing", name, key]);
  }

  /** A peer left (or was forgotten): its listings and liveness go with it. */
  protected leave(name: string, turn: MarketTurn): void {
    this.clearListings(name, turn);
    this.liveness.remove(name);
  }

  protected heardFrom(event: MessageEvent, turn: MarketTurn): void {
    const name = event.authenticated ?? this.registry.nameAt(event.from);
    if (name === undefined || !this.registry.has(name)) return;
    if (this.liveness.heard(name, event.at, this.registry.speaks(name, "book"))) {
      turn.log("info", `${name} is online again`);
    }
  }

  /** A peer went offline: searches stop waiting for it; its listings are hidden. */
  protected wentOffline(name: string, why: string, turn: MarketTurn): void {
    turn.log("warning", `${name} is offline: ${why}`);
    const peer = this.registry.get(name);
    for (const open of this.table.values()) {
      const request = open.record;
      if (request.state !== "searching") continue;
      if (request.holding === name) {
        this.holdFailed(open, `${name} is offline`, true, turn);
      } else if (peer && this.searched(peer, request) && !open.answered.has(name)) {
        open.answered.add(name);
        this.decideIfAllAnswered(open, turn);
      }
    }
  }

  protected sweepLiveness(turn: MarketTurn): void {
    const { offline, forget } = this.liveness.sweep(turn.at);
    for (const name of offline) this.wentOffline(name, "it fell silent", turn);
    for (const name of forget) {
      const peer = this.registry.get(name);
      if (!peer) {
        this.liveness.remove(name);
        continue;
      }
      this.endFlowsOf(peer, turn);
      this.registry.remove(peer);
      this.leave(name, turn);
      turn.delete(["peer", name]);
      turn.log("info", `De-registered ${name}: offline for too long`);
    }
  }
}
