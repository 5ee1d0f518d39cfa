/**
 * The server's durable records: what the market writes to its store and is
 * rebuilt from after a restart. Every record has one key; the shell stores
 * a record under its key and deletes by key.
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";
import type { Write } from "../protocol/effects.ts";
import type { SessionKeys } from "../security/channel.ts";
import type { RequestState } from "./request_states.ts";
import type { ListingRecord } from "./offer_book.ts";

export type { ListingRecord } from "./offer_book.ts";

/** What the server remembers of a registered peer. */
export interface RegisteredPeer {
  readonly name: string;
  /** The IP the peer announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  /** Where the REGISTER datagram came from; the server writes to this IP. */
  readonly source: Address;
  readonly registeredAt: number;
  /** Extensions agreed at registration; absent for classic peers. */
  readonly extensions?: readonly string[];
  /** For our authenticated peers: the key the name is bound to, the TLS authority and the session keys. */
  readonly auth?: {
    /** The signed timestamp of the registration accepted: a later one must be newer. */
    readonly ts?: number;
    readonly key: string;
    readonly ca: string;
    readonly keys: SessionKeys;
  };
}

/** A buyer's search, keyed by the RQ# the server gave its SEARCH. */
export interface RequestRecord {
  /** The server's RQ#: in SEARCH, OFFER, NEGOTIATE, RESERVE and the seller's CANCEL. */
  readonly id: string;
  readonly buyer: string;
  /** The buyer's RQ#: in LOOKING_FOR, FOUND, NOT_*, BUY and the buyer's CANCEL. */
  readonly buyerRq: string;
  readonly item: string;
  /** The item as a classic buyer wrote it, when not composed: its SEARCH to classic peers. */
  readonly spelling?: string;
  readonly description: string;
  readonly maxPrice: number;
  readonly createdAt: number;
  readonly state: RequestState;
  readonly updatedAt: number;
  /** When the current state's timer fires (open states), or when an ended search is forgotten. */
  readonly deadline: number;
  readonly firstOfferAt?: number;
  /** How many peers were sent SEARCH. */
  readonly contacted: number;
  /** The seller chosen or negotiated with, and the price agreed or asked. */
  readonly seller?: string;
  readonly price?: number;
  /** Why the search ended, for logs and the `requests` view. */
  readonly reason?: string;
  /** The transaction's RQ#, from BUY on. */
  readonly tx?: string;
  /** Where the seller ships, once the sale is settled. */
  readonly shipTo?: { readonly name: string; readonly address: string };
  /** Whether the seller has been sent Shipping_Info. */
  readonly shipped?: boolean;
  /** Whether our buyer has been sent its receipt (Shipping_Info too). */
  readonly receipted?: boolean;
  /**
   * While searching: the lister sent RESERVE for its listing at `price`,
   * whose OFFER (held) or NO_OFFER (declined) is awaited (extension `book`).
   */
  readonly holding?: string;
  /** When the RESERVE of that listing was first sent. */
  readonly holdSince?: number;
  /** Listers that declined or did not answer their RESERVE: not asked again. */
  readonly declined?: readonly string[];
  /**
   * The lowest price of a listing whose seller did not answer its RESERVE:
   * NOT_AVAILABLE tells a buyer with `book` of it.
   */
  readonly silentPrice?: number;
}

/** One settled or failed transaction, as the ledger keeps it. */
export interface LedgerEntry {
  readonly tx: string;
  readonly request: string;
  readonly buyerRq: string;
  readonly item: string;
  readonly price: number;
  /** The server's 10%. */
  readonly fee: number;
  /** What the seller is paid: the price less the fee. */
  readonly sellerCredit: number;
  readonly buyer: string;
  readonly seller: string;
  /** Cards as the last four digits behind asterisks. */
  readonly buyerCard?: string;
  readonly sellerCard?: string;
  readonly outcome: "completed" | "cancelled";
  readonly reason?: string;
  readonly at: number;
}

/** A seller's offer against a search. */
export interface OfferRecord {
  readonly request: string;
  readonly seller: string;
  readonly price: number;
  readonly at: number;
}

/** Every record the server stores, with its key. */
export type ServerRecord =
  | { readonly key: readonly ["peer", string]; readonly value: RegisteredPeer }
  | { readonly key: readonly ["request", string]; readonly value: RequestRecord }
  | { readonly key: readonly ["offer", string, string]; readonly value: OfferRecord }
  | { readonly key: readonly ["ledger", string]; readonly value: LedgerEntry }
  | { readonly key: readonly ["listing", string, string]; readonly value: ListingRecord };

/** A key in the server's store; the store maps it to its KV key. */
export type RecordKey = ServerRecord["key"];

/** A change to durable state: `{ kind: "save", key, value }` or `{ kind: "delete", key }`. */
export type Mutation = Write<ServerRecord>;

/** The durable state a machine starts from. */
export interface Snapshot {
  readonly peers: Iterable<RegisteredPeer>;
  readonly requests?: Iterable<RequestRecord>;
  readonly offers?: Iterable<OfferRecord>;
  /** The offer book (extension `book`). */
  readonly listings?: Iterable<ListingRecord>;
}
