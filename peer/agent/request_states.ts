/**
 * Where one of this peer's searches can go, in one table: every change of
 * a {@linkcode BuyRequest}'s state the agent makes is one of these moves.
 * The agent's test harness checks every stored request against it.
 *
 * ```
 * (new) ──► searching ──► found ──► buying ──► bought
 *              │            │          │          ▲
 *              │            ▼          ▼          │
 *              ├──────► cancelled ◄────┘──────────┘ (a receipt after a late CANCEL)
 *              ├──► not_available, not_found   (no seller, no deal)
 *              ├──► denied                     (the server refused the search)
 *              └──► failed ◄── buying          (the server never answered)
 * ```
 *
 * @module
 */
import { Transitions } from "../../protocol/transitions.ts";
import type { BuyRequest, RequestState } from "./records.ts";

/** The states a search starts in. */
export const INITIAL_REQUEST_STATES: readonly RequestState[] = ["searching"];

/**
 * The states each state may move to. Staying in a state is always
 * allowed: a record is stored again when its transaction link or the
 * reason of a cancel changes.
 */
export const REQUEST_TRANSITIONS: Readonly<Record<RequestState, readonly RequestState[]>> = {
  // FOUND, NOT_AVAILABLE or NOT_FOUND, DENIED, the server's CANCEL, or no answer.
  searching: ["found", "not_available", "not_found", "denied", "cancelled", "failed"],
  // BUY (asked or auto-buy), or CANCEL by the user or the server.
  found: ["buying", "cancelled"],
  // The receipt (or a classic server's close), a cancel, or no answer to BUY.
  buying: ["bought", "cancelled", "failed"],
  // A Shipping_Info that settles the transaction after the server's CANCEL came.
  cancelled: ["bought"],
  bought: [],
  not_available: [],
  not_found: [],
  failed: [],
  denied: [],
};

/**
 * Whether a search may go from `from` (`undefined`: not stored yet) to
 * `to`.
 */
export function requestMoveAllowed(from: RequestState | undefined, to: RequestState): boolean {
  return REQUEST_MOVES.allows(from, to);
}

/**
 * Checks a move of a stored search against the table.
 *
 * @throws {RangeError} If the move is not one of the table's.
 */
export function assertRequestMove(before: BuyRequest | undefined, after: BuyRequest): void {
  if (requestMoveAllowed(before?.state, after.state)) return;
  throw new RangeError(
    `Request ${after.rq} moved from "${before?.state ?? "(new)"}" to "${after.state}": ` +
      "not a move of REQUEST_TRANSITIONS in peer/agent/request_states.ts",
  );
}

/** The table as a machine: `updateRequest` checks every change of a search with it. */
export const REQUEST_MOVES: Transitions<RequestState> = new Transitions(
  "request",
  REQUEST_TRANSITIONS,
  { initial: INITIAL_REQUEST_STATES, stay: true, source: "peer/agent/request_states.ts" },
);
