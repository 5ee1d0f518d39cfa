/**
 * Where one of the seller's items stands, in one table: every change of an
 * {@linkcode InventoryItem} the agent stores is one of these moves. The
 * state is not a field of the record: it is read from the fields that
 * hold it (`reservedFor`, `transaction`) and from the record being
 * removed, so the records stay as they are stored.
 *
 * ```
 * (new) ──► listed ──► reserved ──► in_transaction ──► sold
 *             │ ▲ ▲        │              │
 *             │ │ └────────┘              │  (CANCEL, a lapsed hold, leaving)
 *             │ └─────────────────────────┘  (one of several sold, or the sale failed)
 *             ├──► in_transaction            (INFORM_Req before RESERVE)
 *             └──► removed                   (unsell)
 * ```
 *
 * @module
 */
import { Transitions } from "../../protocol/transitions.ts";
import type { InventoryItem } from "./records.ts";

/** Where an item stands; `sold` and `removed` are items no longer stored. */
export type ItemState = "listed" | "reserved" | "in_transaction" | "sold" | "removed";

/**
 * The states each state may move to. Staying in a state is always
 * allowed: a price, a description or a quantity changes in any state, and
 * a late RESERVE names the search a transaction's hold is for.
 */
export const ITEM_TRANSITIONS: Readonly<Record<ItemState, readonly ItemState[]>> = {
  // RESERVE or ACCEPT; INFORM_Req ahead of its RESERVE; unsell.
  listed: ["reserved", "in_transaction", "removed"],
  // INFORM_Req; or the server's CANCEL, a lapsed hold, leaving the marketplace.
  reserved: ["in_transaction", "listed"],
  // Shipping_Info for the last one; one of several sold, or the sale failed.
  in_transaction: ["sold", "listed"],
  sold: [],
  removed: [],
};

/** The table as a machine: `putItem` and `removeItem` check every change with it. */
export const ITEM_MOVES: Transitions<ItemState> = new Transitions("item", ITEM_TRANSITIONS, {
  initial: ["listed"],
  stay: true,
  source: "peer/agent/item_states.ts",
});

/** The state a stored item is in. */
export function itemState(item: InventoryItem): ItemState {
  if (item.transaction !== undefined) return "in_transaction";
  return item.reservedFor === undefined ? "listed" : "reserved";
}
