/**
 * The offer book (extension `book`): what our sellers list, in memory with
 * an index by item name in lower case (as offers are matched), and the
 * catalogue `BROWSE` pages through. The book decides nothing: the market
 * asks it for the listings of an item and writes what it changes.
 *
 * A listing is set as a whole by LIST; its `seq` only grows, so a late
 * copy of an older change (datagrams reorder) is ignored. A withdrawn
 * listing (quantity 0) leaves a tombstone in memory with its `seq` until
 * the seller registers anew, when the book forgets all of its listings and
 * the seller lists them again in full.
 *
 * @module
 */
import { type CatalogueEntry, MAX_MESSAGE_BYTES } from "../protocol/mod.ts";
import { formatPrice } from "../protocol/fields.ts";

/** One seller's listing of one item, as stored under `["listing", seller, key]`. */
export interface ListingRecord {
  readonly seller: string;
  /** The item as the seller spells it. */
  readonly item: string;
  readonly price: number;
  /** How many are for sale; each sale takes one. */
  readonly quantity: number;
  readonly description: string;
  /** The seller's change counter: a LIST with a lower one is stale. */
  readonly seq: number;
  readonly at: number;
}

/** The key of an item in the book: its name in lower case. */
export function itemKey(item: string): string {
  return item.toLowerCase();
}

/** What a LIST did to the book. */
export type ListOutcome = "listed" | "withdrawn" | "stale";

/** The bytes a CATALOGUE may take: a datagram less the MAC and room for RQ# and counts. */
export const CATALOGUE_BUDGET = MAX_MESSAGE_BYTES - 48 - 64 - 2 * 17 - 16;

/** The offer book of our sellers. */
export class OfferBook {
  /** item key → seller → listing (quantity > 0). */
  readonly #byItem = new Map<string, Map<string, ListingRecord>>();
  /** seller → item key → the latest seq seen (listed or withdrawn). */
  readonly #seqs = new Map<string, Map<string, number>>();
  /** The item keys in order, rebuilt when an item comes or goes. */
  #sorted: string[] | undefined;
  #size = 0;

  /** How many listings are in the book. */
  get size(): number {
    return this.#size;
  }

  /** How many distinct items are listed. */
  get items(): number {
    return this.#byItem.size;
  }

  /** Loads a stored listing (after a restart). */
  restore(listing: ListingRecord): void {
    this.apply(listing);
  }

  /**
   * Sets a seller's listing, or withdraws it with quantity 0.
   *
   * @returns `"stale"` when a later change is known already: nothing changed.
   */
  apply(listing: ListingRecord): ListOutcome {
    const key = itemKey(listing.item);
    let seqs = this.#seqs.get(listing.seller);
    const known = seqs?.get(key);
    if (known !== undefined && known >= listing.seq) return "stale";
    if (!seqs) this.#seqs.set(listing.seller, seqs = new Map());
    seqs.set(key, listing.seq);
    if (listing.quantity > 0) {
      this.#put(key, listing);
      return "listed";
    }
    this.#remove(key, listing.seller);
    return "withdrawn";
  }

  /** One seller's listing of an item, if it lists it. */
  get(seller: string, item: string): ListingRecord | undefined {
    return this.#byItem.get(itemKey(item))?.get(seller);
  }

  /** Every listing of an item (any spelling), in no order. */
  listings(item: string): Iterable<ListingRecord> {
    return this.#byItem.get(itemKey(item))?.values() ?? [];
  }

  /** A sale took one: the listing's quantity goes down (and it goes at 0), its seq kept. */
  sold(seller: string, item: string, at: number): ListingRecord | undefined {
    const listing = this.get(seller, item);
    if (!listing) return undefined;
    const after: ListingRecord = { ...listing, quantity: listing.quantity - 1, at };
    if (after.quantity > 0) this.#put(itemKey(item), after);
    else this.#remove(itemKey(item), seller);
    return after;
  }

  /**
   * Forgets every listing of a seller (it registered anew, or left).
   *
   * @returns The item keys it listed, to delete from the store.
   */
  clearSeller(seller: string): string[] {
    const seqs = this.#seqs.get(seller);
    if (!seqs) return [];
    this.#seqs.delete(seller);
    const keys: string[] = [];
    for (const key of seqs.keys()) {
      if (this.#remove(key, seller)) keys.push(key);
    }
    return keys;
  }

  /**
   * One page of the catalogue: for each item whose name starts with
   * `prefix` (case-insensitive) and has a visible listing, its lowest
   * price, how many sellers list it and how many are for sale in all.
   *
   * @param visible Whether a seller's listings may be shown (online, registered).
   * @returns The entries from index `from` on that fit `budget` bytes as
   *   CATALOGUE words, the index after them, and how many entries match.
   */
  catalogue(
    prefix: string,
    from: number,
    visible: (seller: string) => boolean,
    budget = CATALOGUE_BUDGET,
  ): { entries: CatalogueEntry[]; next: number; total: number } {
    const sorted = this.#sorted ??= [...this.#byItem.keys()].sort();
    const wanted = prefix.toLowerCase();
    const entries: CatalogueEntry[] = [];
    let total = 0;
    let next = from;
    let bytes = 0;
    let full = false;
    for (let i = lowerBound(sorted, wanted); i < sorted.length; i++) {
      const key = sorted[i]!;
      if (!key.startsWith(wanted)) break;
      const entry = summarise(this.#byItem.get(key)!, visible);
      if (!entry) continue;
      const index = total++;
      if (index < from || full) continue;
      const words = `${entry.item} ${formatPrice(entry.price)} ${entry.sellers} ${entry.quantity}`;
      if (bytes + words.length + 1 > budget) {
        full = true;
        continue;
      }
      bytes += words.length + 1;
      entries.push(entry);
      next = index + 1;
    }
    return { entries, next: full ? next : total, total };
  }

  #put(key: string, listing: ListingRecord): void {
    let sellers = this.#byItem.get(key);
    if (!sellers) {
      this.#byItem.set(key, sellers = new Map());
      this.#sorted = undefined;
    }
    if (!sellers.has(listing.seller)) this.#size++;
    sellers.set(listing.seller, listing);
  }

  #remove(key: string, seller: string): boolean {
    const sellers = this.#byItem.get(key);
    if (!sellers?.delete(seller)) return false;
    this.#size--;
    if (sellers.size === 0) {
      this.#byItem.delete(key);
      this.#sorted = undefined;
    }
    return true;
  }
}

function summarise(
  sellers: Map<string, ListingRecord>,
  visible: (seller: string) => boolean,
): CatalogueEntry | undefined {
  let best: ListingRecord | undefined;
  let count = 0;
  let quantity = 0;
  for (const listing of sellers.values()) {
    if (!visible(listing.seller)) continue;
    count++;
    quantity += listing.quantity;
    if (!best || listing.price < best.price) best = listing;
  }
  return best && { item: best.item, price: best.price, sellers: count, quantity };
}

function lowerBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
