/**
 * The market's searches and the indices it answers from: by the server's
 * RQ#, by buyer and buyer's RQ#, by buyer's RQ# alone, the open count per
 * buyer, the reservations, the deadline queue and the settled sales not yet
 * delivered.
 *
 * Every change to a search goes through {@linkcode RequestTable.change}, so
 * the indices follow the record and cannot drift from it. The table does
 * not decide anything: the market does, and writes the records.
 *
 * @module
 */
import { DeadlineQueue } from "../transport/deadlines.ts";
import type { OfferRecord, RequestRecord } from "./records.ts";
import { holdsReservation, isOpen } from "./request_states.ts";

/** The deadline of a state that waits on something other than the clock. */
export const NEVER = Number.MAX_SAFE_INTEGER;

/** A search with the offers it got. */
export interface TrackedRequest {
  /** The current record; replaced by {@linkcode RequestTable.change}. */
  readonly record: RequestRecord;
  /** Offers by seller. */
  readonly offers: Map<string, OfferRecord>;
  /** Asked sellers that answered, with an offer or NO_OFFER (or left). */
  readonly answered: Set<string>;
}

interface Entry extends TrackedRequest {
  record: RequestRecord;
}

/** Options for {@linkcode RequestTable}. */
export interface RequestTableOptions {
  /** Whether a settled sale has a party still to hear of it. */
  readonly undelivered: (record: RequestRecord) => boolean;
}

/** The searches, indexed. */
export class RequestTable {
  readonly #undelivered: (record: RequestRecord) => boolean;
  readonly #byId = new Map<string, Entry>();
  /** `buyer\0buyerRq` → request id. */
  readonly #byBuyerRq = new Map<string, string>();
  /** `buyerRq` → request ids (classic buyers may reuse small RQ#s). */
  readonly #byRq = new Map<string, Set<string>>();
  /** Open searches by buyer. */
  readonly #openByBuyer = new Map<string, number>();
  /** `seller\0item in lower case` → the request holding it. */
  readonly #reservations = new Map<string, string>();
  readonly #deadlines = new DeadlineQueue();
  /** Settled sales a party has yet to hear of. */
  readonly #undeliveredSales = new Set<string>();

  constructor(options: RequestTableOptions) {
    this.#undelivered = options.undelivered;
  }

  /** How many searches are remembered, open or ended. */
  get size(): number {
    return this.#byId.size;
  }

  /** A search by the server's RQ#. */
  get(id: string): TrackedRequest | undefined {
    return this.#byId.get(id);
  }

  /** Every remembered search. */
  values(): IterableIterator<TrackedRequest> {
    return this.#byId.values();
  }

  /** The search a buyer started with its RQ#. */
  byBuyerRq(buyer: string, rq: string): TrackedRequest | undefined {
    const id = this.#byBuyerRq.get(`${buyer}\0${rq}`);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** Every search some buyer started with this RQ#. */
  *withBuyerRq(rq: string): Generator<TrackedRequest> {
    for (const id of this.#byRq.get(rq) ?? []) {
      const entry = this.#byId.get(id);
      if (entry) yield entry;
    }
  }

  /** How many open searches `buyer` has. */
  openCount(buyer: string): number {
    return this.#openByBuyer.get(buyer) ?? 0;
  }

  /** Whether the seller's item is held by a search other than `request`. */
  isReservedElsewhere(seller: string, request: RequestRecord): boolean {
    const holder = this.#reservations.get(reservationKey(seller, request.item));
    return holder !== undefined && holder !== request.id;
  }

  /** The settled sales a party has yet to hear of. */
  *undeliveredSales(): Generator<TrackedRequest> {
    for (const id of this.#undeliveredSales) {
      const entry = this.#byId.get(id);
      if (entry) yield entry;
    }
  }

  /** Adds a search (a new one, or one restored from the store) to every index. */
  add(record: RequestRecord): TrackedRequest {
    const entry: Entry = { record, offers: new Map(), answered: new Set() };
    if (isOpen(record.state)) this.#countOpen(record.buyer, 1);
    this.#byId.set(record.id, entry);
    this.#byBuyerRq.set(`${record.buyer}\0${record.buyerRq}`, record.id);
    let ids = this.#byRq.get(record.buyerRq);
    if (!ids) this.#byRq.set(record.buyerRq, ids = new Set());
    ids.add(record.id);
    if (holdsReservation(record.state) && record.seller) {
      this.#reservations.set(reservationKey(record.seller, record.item), record.id);
    }
    if (record.deadline !== NEVER) this.#deadlines.push({ at: record.deadline, key: record.id });
    this.#trackDelivery(record);
    return entry;
  }

  /** Adds a stored offer to its search, if the search is remembered. */
  addOffer(offer: OfferRecord): void {
    const entry = this.#byId.get(offer.request);
    entry?.offers.set(offer.seller, offer);
    entry?.answered.add(offer.seller);
  }

  /**
   * Changes a search's record at `at` and updates the indices.
   *
   * @returns The new record, for the market to write.
   */
  change(request: TrackedRequest, change: Partial<RequestRecord>, at: number): RequestRecord {
    const entry = request as Entry;
    const before = entry.record;
    const record: RequestRecord = { ...before, ...change, updatedAt: at };
    entry.record = record;
    if (isOpen(before.state) && !isOpen(record.state)) this.#countOpen(record.buyer, -1);
    const holds = holdsReservation(record.state);
    if (holds && record.seller) {
      this.#reservations.set(reservationKey(record.seller, record.item), record.id);
    }
    if (before.seller && !holds) {
      const key = reservationKey(before.seller, before.item);
      if (this.#reservations.get(key) === record.id) this.#reservations.delete(key);
    }
    if (record.deadline !== before.deadline && record.deadline !== NEVER) {
      this.#deadlines.push({ at: record.deadline, key: record.id });
    }
    if (record.state === "bought" || before.state === "bought") this.#trackDelivery(record);
    return record;
  }

  /** Removes a search from every index. */
  forget(request: TrackedRequest): void {
    const record = request.record;
    this.#byId.delete(record.id);
    this.#undeliveredSales.delete(record.id);
    this.#byBuyerRq.delete(`${record.buyer}\0${record.buyerRq}`);
    const ids = this.#byRq.get(record.buyerRq);
    ids?.delete(record.id);
    if (ids?.size === 0) this.#byRq.delete(record.buyerRq);
  }

  /**
   * The next search whose deadline is due by `now`, with that deadline;
   * deadlines a later change replaced are skipped.
   */
  popDue(now: number): { request: TrackedRequest; at: number } | undefined {
    for (let due = this.#deadlines.popDue(now); due; due = this.#deadlines.popDue(now)) {
      const entry = this.#byId.get(due.key);
      if (entry && entry.record.deadline === due.at) return { request: entry, at: due.at };
    }
    return undefined;
  }

  /** The earliest deadline queued (possibly one a change replaced: a tick then finds nothing due). */
  nextDeadline(): number | undefined {
    return this.#deadlines.peek()?.at;
  }

  #countOpen(buyer: string, change: number): void {
    const count = (this.#openByBuyer.get(buyer) ?? 0) + change;
    if (count > 0) this.#openByBuyer.set(buyer, count);
    else this.#openByBuyer.delete(buyer);
  }

  #trackDelivery(record: RequestRecord): void {
    if (this.#undelivered(record)) this.#undeliveredSales.add(record.id);
    else this.#undeliveredSales.delete(record.id);
  }
}

function reservationKey(seller: string, item: string): string {
  return `${seller}\0${item.toLowerCase()}`;
}
