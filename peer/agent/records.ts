/**
 * The records the peer keeps in its store, one type per kind, and the
 * union {@linkcode AgentRecord} the agent's `save` effects carry. A restart
 * rebuilds the agent from them (see {@linkcode PeerSnapshot}).
 *
 * @module
 */

/** What the server is: ours (it accepted extensions), classic, or not known yet. */
export type ServerKind = "ours" | "classic" | "unknown";

/** The peer's durable registration state. */
export interface RegistrationRecord {
  readonly registered: boolean;
  readonly server: string;
  readonly changedAt: number;
  /** Which kind of server answered the last REGISTER; absent before any answer. */
  readonly serverKind?: "ours" | "classic";
  /** The extensions our server accepted, like `from`. */
  readonly features?: readonly string[];
}

/** Settings changed with `set`. */
export interface SettingsRecord {
  readonly autoBuy: boolean;
  readonly changedAt: number;
}

/** One item of the inventory, keyed by its lower-case name. */
export interface InventoryItem {
  /** The name as the seller typed it, used in OFFER. */
  readonly item: string;
  readonly price: number;
  readonly description: string;
  /** The lowest NEGOTIATE max accepted without asking. */
  readonly floor?: number;
  /** How many are for sale (absent: one); each sale takes one. */
  readonly quantity?: number;
  /** The server's RQ# of the request this item is held for. */
  readonly reservedFor?: string;
  /** The price it is held at (RESERVE's, or the NEGOTIATE max accepted). */
  readonly reservedPrice?: number;
  /** When it was held (for a classic server's hold that is never ended). */
  readonly reservedAt?: number;
  /** The transaction selling it, once the server sent INFORM_Req. */
  readonly transaction?: TransactionLink;
  /**
   * The RQ#s of its latest reservations that ended (the server's CANCEL, a
   * failed transaction, leaving the marketplace), oldest first: a late copy
   * of one's RESERVE holds nothing, after a restart too.
   */
  readonly ended?: readonly string[];
  readonly addedAt: number;
}

/**
 * The transaction (the RQ# of INFORM_Req) a reserved item or a purchase is
 * in, kept so that a Shipping_Info arriving on a new connection (after a
 * server restart) still finds what it settles.
 */
export interface TransactionLink {
  readonly tx: string;
  readonly price: number;
}

/** Which side of a sale this peer is on. */
export type Role = "buyer" | "seller";

/** A completed sale or purchase, keyed by the transaction's RQ#. */
export interface HistoryEntry {
  /** The RQ# of INFORM_Req and Shipping_Info. */
  readonly tx: string;
  readonly role: Role;
  readonly item: string;
  /** What the buyer paid. */
  readonly price: number;
  /** The server's share: 10% of the price. */
  readonly fee: number;
  /** What the seller got: the price less the fee. */
  readonly credit: number;
  /** The buyer for a sale; the seller for a purchase, when known. */
  readonly counterparty?: string;
  /** Where the item ships. */
  readonly address?: string;
  /** The buyer's request (its LOOKING_FOR RQ#), for a purchase. */
  readonly request?: string;
  readonly at: number;
}

/** Where one of this peer's searches stands (see `request_states.ts` for the moves). */
export type RequestState =
  | "searching"
  | "found"
  | "buying"
  | "bought"
  | "cancelled"
  | "not_available"
  | "not_found"
  /** The server did not answer LOOKING_FOR (or BUY) after every retry. */
  | "failed"
  /** The server refused the search with DENIED (e.g. too many open ones). */
  | "denied";

/** One of this peer's searches (a LOOKING_FOR it sent). */
export interface BuyRequest {
  readonly rq: string;
  readonly item: string;
  readonly description: string;
  readonly maxPrice: number;
  readonly state: RequestState;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The FOUND price. */
  readonly price?: number;
  /** The seller, when the server named it in FOUND. */
  readonly seller?: string;
  /** The item as FOUND spelled it, used in BUY and CANCEL. */
  readonly foundItem?: string;
  /** Who ended a cancelled request. */
  readonly cancelledBy?: "user" | "server";
  /** Why the transaction was cancelled or the search denied or failed. */
  readonly reason?: string;
  /** The transaction paying for it, once the server sent INFORM_Req. */
  readonly transaction?: TransactionLink;
}

/** A NEGOTIATE this peer received as a seller, and its answer. */
export interface NegotiationRecord {
  /** The server's RQ# of the NEGOTIATE. */
  readonly rq: string;
  /** The item as NEGOTIATE spelled it. */
  readonly item: string;
  readonly maxPrice: number;
  /** `withdrawn`: the server ended it (its CANCEL) while the user was asked. */
  readonly state: "asking" | "accepted" | "refused" | "withdrawn";
  readonly askedAt: number;
  readonly answeredAt?: number;
}

/** A record in the peer's store, with its key. */
export type AgentRecord =
  | { readonly key: readonly ["registration"]; readonly value: RegistrationRecord }
  | { readonly key: readonly ["settings"]; readonly value: SettingsRecord }
  | { readonly key: readonly ["item", string]; readonly value: InventoryItem }
  | { readonly key: readonly ["request", string]; readonly value: BuyRequest }
  | { readonly key: readonly ["negotiation", string]; readonly value: NegotiationRecord }
  | { readonly key: readonly ["history", string]; readonly value: HistoryEntry };

/** A key in the peer's store. */
export type AgentKey = AgentRecord["key"];

/** The stored state an agent starts from. */
export interface PeerSnapshot {
  readonly registration?: RegistrationRecord;
  readonly settings?: SettingsRecord;
  readonly items?: readonly InventoryItem[];
  readonly requests?: readonly BuyRequest[];
  readonly negotiations?: readonly NegotiationRecord[];
  readonly history?: readonly HistoryEntry[];
}

/** The item without its reservation and transaction: for sale again. */
export function released(item: InventoryItem): InventoryItem {
  const { reservedFor: _, reservedPrice: __, reservedAt: ____, transaction: ___, ...free } = item;
  return free;
}

/** How many ended reservations an item remembers (see `InventoryItem.ended`). */
export const ENDED_KEPT = 8;

/**
 * The item for sale again once its reservation `rq` (by default the one
 * it is held for) has ended for good: `rq` is remembered among its ended
 * ones.
 */
export function endReservation(item: InventoryItem, rq = item.reservedFor): InventoryItem {
  const free = released(item);
  if (rq === undefined || item.ended?.includes(rq)) return free;
  return { ...free, ended: [...(item.ended ?? []), rq].slice(-ENDED_KEPT) };
}

/** Whether reservation `rq` of the item has ended (its RESERVE is a late copy). */
export function reservationEnded(item: InventoryItem, rq: string): boolean {
  return item.ended?.includes(rq) ?? false;
}
