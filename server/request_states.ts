/**
 * Where a search stands, and every change of state the market may make, in
 * one table. The market reads its predicates (is a search open, does it
 * hold the seller's item); the test harness checks every written request
 * against {@linkcode canTransition}, so a new path through the lifecycle
 * must be added here on purpose.
 *
 * ```text
 *   searching ──► negotiating ──► found ──► buying ──► bought
 *       │              │            │          │
 *       ├─► not_available           │          │
 *       │              └─► not_found│          │
 *       └──────────────┴────────────┴──────────┴─► cancelled
 * ```
 *
 * - `searching`: SEARCH sent, offers collected until the window closes (or
 *   every asked seller answered, or the search times out);
 * - `negotiating`: NEGOTIATE sent to the cheapest seller above the max;
 * - `found`: FOUND to the buyer, the seller's item reserved;
 * - `buying`: BUY received, the TCP transaction runs;
 * - `bought`: settled; it stays `bought` while Shipping_Info is delivered;
 * - `not_available`, `not_found`, `cancelled`: ended, kept for the
 *   retention time to answer retransmissions, then forgotten.
 *
 * @module
 */
import { Transitions } from "../protocol/transitions.ts";

/** Where a search stands. */
export type RequestState =
  | "searching"
  | "negotiating"
  | "found"
  | "buying"
  | "bought"
  | "not_available"
  | "not_found"
  | "cancelled";

/** The state a new search starts in. */
export const INITIAL_STATE: RequestState = "searching";

/**
 * The states each state may change to. A state listed among its own
 * successors may be rewritten without changing (the first offer sets the
 * window's deadline; a delivery marks a sale shipped).
 */
export const TRANSITIONS: { readonly [S in RequestState]: readonly RequestState[] } = {
  // The window or the last answer decides; the buyer may leave meanwhile.
  searching: ["searching", "negotiating", "found", "not_available", "cancelled"],
  // The seller accepts, refuses, is silent or leaves; or the buyer leaves.
  negotiating: ["found", "not_found", "cancelled"],
  // BUY, or CANCEL, a lapsed reservation, or a party leaving.
  found: ["buying", "cancelled"],
  // The transaction's outcome, or a party leaving.
  buying: ["bought", "cancelled"],
  // Deliveries of Shipping_Info and the receipt.
  bought: ["bought"],
  not_available: [],
  not_found: [],
  cancelled: [],
};

/** States in which a search is still open: it counts against the buyer's cap and leaving ends it. */
const OPEN: ReadonlySet<RequestState> = new Set(["searching", "negotiating", "found", "buying"]);

/** Whether a search in `state` is still open. */
export function isOpen(state: RequestState): boolean {
  return OPEN.has(state);
}

/** Whether a search in `state` holds the seller's item (no other buyer may be offered it). */
export function holdsReservation(state: RequestState): boolean {
  return state === "found" || state === "buying";
}

/**
 * Whether a stored request may change from `from` to `to`; `from` is
 * `undefined` for a request not stored before.
 *
 * @example
 * ```ts
 * canTransition("found", "buying"); // true
 * canTransition("cancelled", "found"); // false
 * ```
 */
export function canTransition(from: RequestState | undefined, to: RequestState): boolean {
  return SEARCH_MOVES.allows(from, to);
}

/** The table as a machine: the market checks every change of a search with it. */
export const SEARCH_MOVES: Transitions<RequestState> = new Transitions("search", TRANSITIONS, {
  initial: [INITIAL_STATE],
  source: "server/request_states.ts",
});
