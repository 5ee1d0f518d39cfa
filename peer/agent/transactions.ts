/**
 * The TCP transactions this peer takes part in, as buyer or seller: which
 * purchase or reserved item an INFORM_Req is for, the link stored with it
 * so a later connection still finds it, and how one ends: sold, bought (the
 * history entry with the fee split) or cancelled.
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import { type MessageOf } from "../../protocol/mod.ts";
import { FEE_PERCENT, splitPrice } from "../../protocol/fee.ts";
import type { AgentTurn } from "./effects.ts";
import {
  type BuyRequest,
  endReservation,
  type HistoryEntry,
  type InventoryItem,
  type TransactionLink,
} from "./records.ts";
import {
  type AgentState,
  OPEN_STATES,
  putItem,
  remember,
  removeItem,
  sortedRequests,
  type Transaction,
  updateRequest,
} from "./state.ts";

/**
 * Who this peer is in a transaction: the buyer of a purchase being bought,
 * else the seller of a reserved item; at the asked price first, so that a
 * peer buying an item while selling one of the same name tells the two
 * apart. A purchase or an item already in another open transaction does
 * not count.
 */
export function roleFor(
  state: AgentState,
  message: MessageOf<"INFORM_Req">,
): Pick<Transaction, "role" | "item" | "ref" | "counterparty"> | undefined {
  const key = message.item.toLowerCase();
  const busy = new Set([...state.transactions.values()].map((tx) => `${tx.role} ${tx.ref}`));
  const buying = sortedRequests(state).filter((request) =>
    request.state === "buying" && (request.foundItem ?? request.item).toLowerCase() === key &&
    !busy.has(`buyer ${request.rq}`)
  );
  const item = state.items.get(key);
  const selling = item?.reservedFor !== undefined && !busy.has(`seller ${key}`) ? item : undefined;
  const asBuyer = (request: BuyRequest) => ({
    role: "buyer" as const,
    item: request.foundItem ?? request.item,
    ref: request.rq,
    ...(request.seller === undefined ? {} : { counterparty: request.seller }),
  });
  const asSeller = (item: InventoryItem) => ({
    role: "seller" as const,
    item: item.item,
    ref: key,
  });
  const atPrice = buying.find((request) => request.price === message.price);
  if (atPrice) return asBuyer(atPrice);
  if (selling?.reservedPrice === message.price) return asSeller(selling);
  if (buying[0]) return asBuyer(buying[0]);
  if (selling) return asSeller(selling);
  // Our server retransmits RESERVE, but the buyer's BUY may start the
  // transaction before a lost RESERVE comes again: an item for sale at
  // that price (or its floor) is held now.
  const unreserved = item && item.reservedFor === undefined && item.transaction === undefined &&
    !busy.has(`seller ${key}`);
  if (
    unreserved && state.extensions.has("ack") && message.price >= (item.floor ?? item.price)
  ) return asSeller(item);
  return undefined;
}

/** Stores which transaction a purchase or a reserved item is in. */
export function link(state: AgentState, turn: AgentTurn, transaction: Transaction): void {
  const link: TransactionLink = { tx: transaction.rq, price: transaction.price };
  if (transaction.role === "buyer") {
    const request = state.requests.get(transaction.ref);
    if (!request) return;
    // Not `updateRequest`: the link is no change of state (nor of its time).
    const updated: BuyRequest = { ...request, transaction: link };
    state.requests.set(request.rq, updated);
    turn.save({ key: ["request", request.rq], value: updated });
    return;
  }
  const item = state.items.get(transaction.ref);
  if (!item) return;
  putItem(state, turn, transaction.ref, {
    ...item,
    // Not reserved yet (its RESERVE is late): held for this transaction.
    ...(item.reservedFor === undefined
      ? { reservedFor: transaction.rq, reservedPrice: transaction.price }
      : {}),
    transaction: link,
  });
}

/**
 * The transaction a Shipping_Info or CANCEL settles: the one on its
 * connection, or (on a new connection, after a server restart) the one
 * whose RQ# a purchase or an item remembers.
 */
export function transactionOf(
  state: AgentState,
  conn: number,
  rq: string,
): Transaction | undefined {
  const current = state.transactions.get(conn);
  if (current) return current.rq === rq ? current : undefined;
  for (const request of state.requests.values()) {
    if (request.transaction?.tx !== rq || request.state === "bought") continue;
    return {
      rq,
      role: "buyer",
      item: request.foundItem ?? request.item,
      price: request.transaction.price,
      ref: request.rq,
      ...(request.seller === undefined ? {} : { counterparty: request.seller }),
      answered: true,
    };
  }
  for (const [key, item] of state.items) {
    if (item.transaction?.tx !== rq) continue;
    return {
      rq,
      role: "seller",
      item: item.item,
      price: item.transaction.price,
      ref: key,
      answered: true,
    };
  }
  return undefined;
}

/** Drops a connection's transaction and closes it. */
export function forget(state: AgentState, turn: AgentTurn, conn: number): void {
  state.transactions.delete(conn);
  state.waiting = state.waiting.filter((waiting) => waiting !== conn);
  turn.tcpClose(conn);
}

/** Records a sale: the item leaves the inventory, the history gets the entry. */
export function recordSale(
  state: AgentState,
  turn: AgentTurn,
  transaction: Transaction,
  message: MessageOf<"Shipping_Info">,
): void {
  const { fee, sellerShare: credit } = splitPrice(transaction.price);
  const sold = state.items.get(transaction.ref);
  if (sold && (sold.quantity ?? 1) > 1) {
    // One of several: the others stay for sale.
    const left = (sold.quantity ?? 1) - 1;
    putItem(state, turn, transaction.ref, { ...endReservation(sold), quantity: left });
  } else removeItem(state, turn, transaction.ref, "sold");
  record(state, turn, {
    tx: transaction.rq,
    role: "seller",
    item: transaction.item,
    price: transaction.price,
    fee,
    credit,
    counterparty: message.name,
    address: message.address,
    at: turn.at,
  });
  turn.print(
    "Shipping_Info",
    `Sold ${transaction.item} to ${message.name} for ${formatMoney(transaction.price)} ` +
      `(you get ${formatMoney(credit)} after the ${FEE_PERCENT}% fee): ` +
      `ship to ${message.address}`,
    {
      rq: transaction.rq,
      role: "seller",
      item: transaction.item,
      price: transaction.price,
      fee,
      credit,
      buyer: message.name,
      address: message.address,
    },
  );
}

/**
 * Records a purchase: on our server's receipt (a Shipping_Info to the
 * buyer), or when a classic server closes the connection without CANCEL.
 */
export function recordPurchase(
  state: AgentState,
  turn: AgentTurn,
  transaction: Transaction,
  address: string | undefined,
  receipt: boolean,
): void {
  const { fee, sellerShare: credit } = splitPrice(transaction.price);
  const request = state.requests.get(transaction.ref);
  if (request && request.state !== "bought") {
    updateRequest(state, turn, request, { state: "bought", price: transaction.price });
  }
  const seller = transaction.counterparty;
  record(state, turn, {
    tx: transaction.rq,
    role: "buyer",
    item: transaction.item,
    price: transaction.price,
    fee,
    credit,
    ...(seller === undefined ? {} : { counterparty: seller }),
    ...(address === undefined ? {} : { address }),
    request: transaction.ref,
    at: turn.at,
  });
  const from = seller === undefined ? "" : ` from ${seller}`;
  const ships = address === undefined ? "" : `; it ships to ${address}`;
  turn.print(
    receipt ? "Shipping_Info" : "bought",
    `Bought ${transaction.item}${from} for ${formatMoney(transaction.price)}${ships}`,
    {
      rq: transaction.rq,
      request: transaction.ref,
      role: "buyer",
      item: transaction.item,
      price: transaction.price,
      fee,
      credit,
      seller,
      address,
      receipt,
    },
  );
}

/**
 * The server's reason as this peer reads it: "the buyer alice did not
 * answer in time" is "you did not answer in time" to the buyer alice.
 */
export function toYou(state: AgentState, role: "buyer" | "seller", reason: string): string {
  const self = `the ${role} ${state.profile.name} `;
  return reason.startsWith(self) ? `you ${reason.slice(self.length)}` : reason;
}

function record(state: AgentState, turn: AgentTurn, entry: HistoryEntry): void {
  state.history.set(entry.tx, entry);
  turn.save({ key: ["history", entry.tx], value: entry });
}

/**
 * A transaction failed: the seller's item is for sale again, the buyer's
 * purchase is cancelled with the reason. The server's CANCEL datagram that
 * may follow (or come first) then changes nothing more.
 */
export function cancelTransaction(
  state: AgentState,
  turn: AgentTurn,
  transaction: Transaction,
  reason: string,
  by: "server" | "you",
  show = true,
): void {
  if (transaction.role === "seller") {
    const item = state.items.get(transaction.ref);
    if (item?.reservedFor !== undefined) {
      remember(state, { type: "CANCEL", rq: item.reservedFor, item: item.item, price: 0 });
      putItem(state, turn, transaction.ref, endReservation(item));
    }
  } else {
    const request = state.requests.get(transaction.ref);
    if (request && (OPEN_STATES.has(request.state) || request.state === "cancelled")) {
      updateRequest(state, turn, request, {
        state: "cancelled",
        cancelledBy: request.state === "cancelled"
          ? request.cancelledBy
          : by === "you"
          ? "user"
          : "server",
        reason,
      });
    }
  }
  if (!show) return;
  const what = transaction.role === "seller" ? "Sale" : "Purchase";
  turn.print(
    "CANCEL",
    `${what} of ${transaction.item} cancelled: ${toYou(state, transaction.role, reason)}`,
    { rq: transaction.rq, reason, role: transaction.role, item: transaction.item, by },
  );
}
