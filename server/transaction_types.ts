/**
 * The values a purchase's TCP leg works on: its plan, its parties, and how it
 * went. They live in this leaf module so that `transaction.ts` (the sockets)
 * and `transaction_flow.ts` (the decisions without I/O) need not import each
 * other (`deno task check` refuses import cycles).
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";

/** One side of a transaction as the server knows it. */
export interface Party {
  readonly name: string;
  /** The peer's IP (where it registered from) and TCP port. */
  readonly address: Address;
  /** Our own peer: newline-framed messages and a receipt for the buyer. */
  readonly ours: boolean;
  /** It acknowledges Shipping_Info once stored (extension `ack`); others are told by writing it. */
  readonly acks?: boolean;
  /** The peer's pinned TLS authority (base64url DER); absent: plain TCP, a classic peer. */
  readonly ca?: string;
}

/** What a transaction needs to run. */
export interface TransactionPlan {
  /** The RQ# of INFORM_Req, Shipping_Info and CANCEL on this leg. */
  readonly id: string;
  readonly item: string;
  readonly price: number;
  readonly buyer: Party;
  readonly seller: Party;
}

/** What a party gave, fit to store: the card masked, no expiry. */
export interface PartyRecord {
  readonly name: string;
  readonly card: string;
  readonly address: string;
}

/** How collecting and charging went. */
export type TransactionOutcome =
  | { readonly ok: true; readonly buyer: PartyRecord; readonly seller: PartyRecord }
  | { readonly ok: false; readonly reason: string };

/** How a transaction ends on the wire. */
export type Conclusion =
  | { readonly ok: true; readonly buyerName: string; readonly address: string }
  | { readonly ok: false; readonly reason: string };
