/**
 * Selling: the inventory (`sell`, `unsell`), the answers to the server's
 * SEARCH (OFFER or NO_OFFER, the same again for a repeat), RESERVE and the
 * CANCEL that releases it, and NEGOTIATE with its ACCEPT or REFUSE (by the
 * item's floor, or by asking the user).
 *
 * @module
 */
import { type Message, type MessageOf } from "../../protocol/mod.ts";
import { formatMoney, toCents } from "../../protocol/money.ts";
import type { CommandOf } from "../commands.ts";
import type { AgentTurn } from "./effects.ts";
import {
  endReservation,
  type InventoryItem,
  type NegotiationRecord,
  released,
  reservationEnded,
} from "./records.ts";
import {
  type AgentState,
  keepAnswer,
  legOpen,
  putItem,
  remember,
  removeItem,
  RESUME_WITHIN_MS,
} from "./state.ts";

/** Why a floor cannot go with a price, if it cannot (compared in whole cents). */
function floorProblem(item: string, price: number, floor: number | undefined): string | undefined {
  if (floor === undefined || toCents(floor) <= toCents(price)) return undefined;
  return `Cannot sell ${item} at ${formatMoney(price)} with a floor of ${formatMoney(floor)}: ` +
    "the floor is the least you accept, so it must not be above the price";
}

/** The `sell` command: lists an item not listed yet. */
export function sell(state: AgentState, turn: AgentTurn, args: CommandOf<"sell">["args"]): void {
  const key = args.item.toLowerCase();
  const existing = state.items.get(key);
  if (existing) {
    turn.error(
      `${existing.item} is already listed at ${formatMoney(existing.price)}: ` +
        `use \`price ${existing.item} ${formatMoney(args.price)}\` to change it, ` +
        `or \`unsell ${existing.item}\` first to list it anew`,
    );
    return;
  }
  const problem = floorProblem(args.item, args.price, args.floor);
  if (problem) return turn.error(problem);
  const item: InventoryItem = {
    item: args.item,
    price: args.price,
    description: args.description,
    ...(args.floor === undefined ? {} : { floor: args.floor }),
    ...(args.quantity === undefined || args.quantity === 1 ? {} : { quantity: args.quantity }),
    addedAt: turn.at,
  };
  putItem(state, turn, key, item);
  const floor = item.floor === undefined ? "" : ` (floor ${formatMoney(item.floor)})`;
  const many = item.quantity === undefined ? "" : `${item.quantity} × `;
  // Sold to nobody until the server knows this peer.
  const later = state.registered ? "" : "; for sale once you register";
  turn.print(
    "sell",
    `Selling ${many}${item.item} at ${formatMoney(item.price)}${floor}${later}`,
    {
      item: item.item,
      price: item.price,
      quantity: item.quantity ?? 1,
      floor: item.floor,
      description: item.description,
    },
  );
}

/**
 * The item `price` or `edit` changes, or `undefined` with the error said:
 * one not listed, or one reserved for a buyer (`what` may change after).
 */
function changeable(
  state: AgentState,
  turn: AgentTurn,
  args: { readonly item: string; readonly price: number },
  what: string,
): InventoryItem | undefined {
  const existing = state.items.get(args.item.toLowerCase());
  if (!existing) {
    turn.error(
      `${args.item} is not listed: use \`sell ${args.item} ${formatMoney(args.price)}\` to list it`,
    );
    return undefined;
  }
  if (existing.reservedFor !== undefined) {
    turn.error(
      `${existing.item} is reserved for a buyer (${existing.reservedFor}): ` +
        `${what} can change once the sale ends or the server cancels it`,
    );
    return undefined;
  }
  return existing;
}

/**
 * The `price` command: changes the price of an item listed, and its floor
 * (`floor` a price to set, `null` to remove, `undefined` to keep it).
 */
export function reprice(
  state: AgentState,
  turn: AgentTurn,
  args: CommandOf<"price">["args"],
): void {
  const key = args.item.toLowerCase();
  const existing = changeable(state, turn, args, "its price");
  if (!existing) return;
  const floor = args.floor === null ? undefined : args.floor ?? existing.floor;
  const problem = floorProblem(existing.item, args.price, floor);
  if (problem) {
    const keep = args.floor === undefined && floor !== undefined
      ? ` (give --floor PRICE or --no-floor with the new price)`
      : "";
    return turn.error(problem + keep);
  }
  const { floor: _old, ...rest } = existing;
  const item: InventoryItem = {
    ...rest,
    price: args.price,
    ...(floor === undefined ? {} : { floor }),
  };
  putItem(state, turn, key, item);
  const floorText = floor === undefined ? ", no floor" : ` (floor ${formatMoney(floor)})`;
  turn.print(
    "price",
    `${item.item} now at ${formatMoney(item.price)}${floorText}; was ${
      formatMoney(existing.price)
    }`,
    { item: item.item, price: item.price, floor, was: existing.price, wasFloor: existing.floor },
  );
}

/**
 * The `edit` command: changes an item listed, all at once: its price, and
 * its description, floor and quantity where given (`floor` `null` removes
 * it). A reserved item is not changed.
 */
export function edit(state: AgentState, turn: AgentTurn, args: CommandOf<"edit">["args"]): void {
  const key = args.item.toLowerCase();
  const existing = changeable(state, turn, args, "it");
  if (!existing) return;
  const floor = args.floor === null ? undefined : args.floor ?? existing.floor;
  const problem = floorProblem(existing.item, args.price, floor);
  if (problem) return turn.error(problem);
  const quantity = args.quantity ?? existing.quantity ?? 1;
  const { floor: _floor, quantity: _quantity, ...rest } = existing;
  const item: InventoryItem = {
    ...rest,
    price: args.price,
    description: args.description ?? existing.description,
    ...(floor === undefined ? {} : { floor }),
    ...(quantity === 1 ? {} : { quantity }),
  };
  putItem(state, turn, key, item);
  const floorText = floor === undefined ? ", no floor" : ` (floor ${formatMoney(floor)})`;
  const many = quantity === 1 ? "" : `${quantity} × `;
  turn.print(
    "edit",
    `${many}${item.item} now at ${formatMoney(item.price)}${floorText}; was ${
      formatMoney(existing.price)
    }`,
    {
      item: item.item,
      price: item.price,
      floor,
      quantity,
      description: item.description,
      was: existing.price,
    },
  );
}

/** The `unsell` command: removes an item not reserved. */
export function unsell(state: AgentState, turn: AgentTurn, name: string): void {
  const key = name.toLowerCase();
  const item = state.items.get(key);
  if (!item) {
    turn.error(`${name} is not in the inventory: type inventory to list it`);
    return;
  }
  if (item.reservedFor !== undefined) {
    turn.error(
      `${item.item} is reserved for a buyer (${item.reservedFor}): ` +
        "it can be removed once the sale ends or the server cancels it",
    );
    return;
  }
  removeItem(state, turn, key, "removed");
  turn.print("unsell", `Removed ${item.item} from the inventory`, { item: item.item });
}

/** SEARCH: an OFFER for an item for sale, else NO_OFFER (to a server that agreed it). */
export function onSearch(state: AgentState, turn: AgentTurn, message: MessageOf<"SEARCH">): void {
  // A repeated SEARCH gets the same answer again (the server keeps one),
  // whatever happened to the item since.
  const answered = state.answers.get(message.rq);
  if (answered) {
    turn.send(answered);
    turn.log("debug", `Repeated SEARCH ${message.rq}: answered ${answered.type} again`);
    return;
  }
  const name = state.profile.name;
  const item = state.items.get(message.item.toLowerCase());
  if (!item || item.reservedFor !== undefined) {
    turn.log(
      "debug",
      `SEARCH ${message.rq} for ${message.item}: ${item ? "reserved" : "not in the inventory"}`,
    );
    if (!state.extensions.has("no-offer")) return;
    // Our server then decides as soon as every seller answered.
    const none: Message = { type: "NO_OFFER", rq: message.rq, name, item: message.item };
    keepAnswer(state, none);
    turn.send(none);
    return;
  }
  const offer: Message = {
    type: "OFFER",
    rq: message.rq,
    name,
    item: item.item,
    price: item.price,
  };
  keepAnswer(state, offer);
  turn.send(offer);
  if (remember(state, message)) {
    turn.log("debug", `Repeated SEARCH ${message.rq}: offered again`);
    return;
  }
  turn.print(
    "OFFER",
    `Offered ${item.item} at ${formatMoney(item.price)} (search ${message.rq})`,
    { rq: message.rq, item: item.item, price: item.price, description: message.description },
  );
}

/** RESERVE: the item is held for the buyer the server chose. */
export function onReserve(state: AgentState, turn: AgentTurn, message: MessageOf<"RESERVE">): void {
  const key = message.item.toLowerCase();
  const item = state.items.get(key);
  if (!state.registered && state.serverKind !== "unknown") {
    // This peer left the marketplace: a late copy from before, of a search
    // the server ended when it left.
    turn.log("debug", `RESERVE ${message.rq} came after this peer left: not held`);
    return;
  }
  if (state.recent.has(`CANCEL ${message.rq}`) || (item && reservationEnded(item, message.rq))) {
    // The server's CANCEL overtook this RESERVE, or this is a late copy
    // of one whose reservation ended (before a restart, perhaps): nothing
    // to hold.
    turn.log("debug", `RESERVE ${message.rq} came after its CANCEL: not held`);
    return;
  }
  if (!item && soldLately(state, message.item, turn.at)) {
    // A RESERVE sent again after the sale it led to.
    turn.log("debug", `RESERVE ${message.rq} for ${message.item}, sold already`);
    return;
  }
  if (!item) {
    turn.warn(
      `Cannot hold ${message.item} for RESERVE ${message.rq}: it is not in the inventory`,
      { rq: message.rq, item: message.item, price: message.price },
    );
    return;
  }
  if (item.reservedFor === message.rq) {
    // Held already: after our ACCEPT (the server confirms it with RESERVE),
    // or a repeated datagram, which is not shown twice.
    if (remember(state, message)) {
      turn.log("debug", `Repeated RESERVE ${message.rq}: ${item.item} is held already`);
    } else printReserved(turn, item, message);
    return;
  }
  if (item.reservedFor !== undefined && item.reservedFor === item.transaction?.tx) {
    // Held when the transaction came before this RESERVE: it names the search.
    remember(state, message);
    putItem(state, turn, key, { ...item, reservedFor: message.rq });
    turn.log("debug", `RESERVE ${message.rq} came after its transaction ${item.transaction.tx}`);
    return;
  }
  if (item.reservedFor !== undefined) {
    turn.warn(
      `Cannot hold ${item.item} for RESERVE ${message.rq}: it is reserved for ${item.reservedFor}`,
      { rq: message.rq, item: item.item, price: message.price },
    );
    return;
  }
  remember(state, message);
  putItem(state, turn, key, {
    ...released(item),
    reservedFor: message.rq,
    reservedPrice: message.price,
    reservedAt: turn.at,
  });
  printReserved(turn, item, message);
}

/**
 * CANCEL as a seller: the server releases a reservation.
 *
 * @returns Whether it released one (else the CANCEL is for a purchase).
 */
export function releaseReservation(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"CANCEL">,
): boolean {
  for (const [key, item] of state.items) {
    if (item.reservedFor !== message.rq) continue;
    const tx = item.transaction?.tx;
    if (legOpen(state, tx)) {
      // Not remembered, so that the server's next copy counts.
      state.cancelledDuringLeg.add(tx!);
      // The search's sale is running on an open TCP leg: a CANCEL of its
      // hold (a late copy, an answer to a resent ACCEPT) must not put the
      // item up for sale again while it is being sold. The leg's end
      // decides: Shipping_Info sells it, a leg that ends without releases
      // it. (A CANCEL after the leg ended, a crash say, releases it now.)
      turn.log(
        "debug",
        `CANCEL ${message.rq} ignored: ${item.item} is in transaction ${tx}`,
      );
      return true;
    }
    remember(state, message);
    putItem(state, turn, key, endReservation(item, message.rq));
    turn.print(
      "CANCEL",
      `Reservation ${message.rq} of ${item.item} cancelled; it is for sale again`,
      { rq: message.rq, item: item.item, price: message.price, role: "seller", by: "server" },
    );
    return true;
  }
  const negotiation = state.negotiations.get(message.rq);
  if (negotiation?.state === "asking") {
    // The server gave up on the negotiation while the user was asked.
    remember(state, message);
    const ended: NegotiationRecord = { ...negotiation, state: "withdrawn", answeredAt: turn.at };
    state.negotiations.set(message.rq, ended);
    turn.save({ key: ["negotiation", message.rq], value: ended });
    turn.print(
      "withdrawn",
      `Question withdrawn: the server ended the negotiation of ${negotiation.item} ` +
        `(${message.rq}) before it was answered`,
      { rq: message.rq, about: "NEGOTIATE", item: negotiation.item },
    );
    return true;
  }
  const ended = [...state.items.values()].some((item) => reservationEnded(item, message.rq));
  if (ended || negotiation) {
    // Released already (a server sends it again after a restart), or a
    // negotiation that held nothing: nothing to do.
    remember(state, message);
    turn.log("debug", `CANCEL ${message.rq}: nothing is held for it`);
    return true;
  }
  return false;
}

/** NEGOTIATE: accepted or refused by the item's floor, else asked. */
export function onNegotiate(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"NEGOTIATE">,
): void {
  const known = state.negotiations.get(message.rq);
  if (known) {
    // A repeated NEGOTIATE: the same answer again, or still asking.
    if (known.state !== "asking") turn.send(negotiationAnswer(known));
    turn.log("debug", `Repeated NEGOTIATE ${message.rq} (${known.state})`);
    return;
  }
  const negotiation: NegotiationRecord = {
    rq: message.rq,
    item: message.item,
    maxPrice: message.maxPrice,
    state: "asking",
    askedAt: turn.at,
  };
  state.negotiations.set(message.rq, negotiation);
  const item = state.items.get(message.item.toLowerCase());
  if (!item) return refuseNegotiation(state, turn, negotiation, "it is not in the inventory");
  if (item.reservedFor !== undefined) {
    return refuseNegotiation(state, turn, negotiation, "it is reserved for another buyer");
  }
  if (item.floor !== undefined) {
    if (toCents(message.maxPrice) >= toCents(item.floor)) {
      return acceptNegotiation(state, turn, negotiation, item, "floor");
    }
    return refuseNegotiation(
      state,
      turn,
      negotiation,
      `below your floor ${formatMoney(item.floor)}`,
      "floor",
    );
  }
  turn.save({ key: ["negotiation", message.rq], value: negotiation });
  state.questions.push({ about: "NEGOTIATE", rq: message.rq });
}

/** The user's answer to a NEGOTIATE question. */
export function onNegotiateAnswer(
  state: AgentState,
  turn: AgentTurn,
  rq: string,
  yes: boolean,
): void {
  const negotiation = state.negotiations.get(rq);
  if (negotiation?.state !== "asking") return;
  const item = state.items.get(negotiation.item.toLowerCase());
  if (!yes) refuseNegotiation(state, turn, negotiation, "you declined");
  else if (!item) refuseNegotiation(state, turn, negotiation, "it is no longer in the inventory");
  else if (item.reservedFor !== undefined) {
    refuseNegotiation(state, turn, negotiation, "it is reserved for another buyer");
  } else acceptNegotiation(state, turn, negotiation, item, "you");
}

/** ACCEPT: the item is held at the buyer's max for the server's RESERVE. */
function acceptNegotiation(
  state: AgentState,
  turn: AgentTurn,
  negotiation: NegotiationRecord,
  item: InventoryItem,
  by: "floor" | "you",
): void {
  const answered: NegotiationRecord = { ...negotiation, state: "accepted", answeredAt: turn.at };
  putItem(state, turn, item.item.toLowerCase(), {
    ...released(item),
    reservedFor: negotiation.rq,
    reservedPrice: negotiation.maxPrice,
    reservedAt: turn.at,
  });
  state.negotiations.set(negotiation.rq, answered);
  turn.save({ key: ["negotiation", negotiation.rq], value: answered });
  turn.send(negotiationAnswer(answered));
  const floor = by === "floor" ? ` (floor ${formatMoney(item.floor ?? 0)})` : "";
  turn.print(
    "ACCEPT",
    `Accepted ${formatMoney(negotiation.maxPrice)} for ${item.item}${floor}; ` +
      `reserved for the buyer (${negotiation.rq})`,
    {
      rq: negotiation.rq,
      item: item.item,
      maxPrice: negotiation.maxPrice,
      price: item.price,
      floor: item.floor,
      by,
    },
  );
}

/** REFUSE, with the reason shown to the user. */
export function refuseNegotiation(
  state: AgentState,
  turn: AgentTurn,
  negotiation: NegotiationRecord,
  reason: string,
  by: "floor" | "you" | "state" = reason === "you declined" ? "you" : "state",
): void {
  const answered: NegotiationRecord = { ...negotiation, state: "refused", answeredAt: turn.at };
  state.negotiations.set(negotiation.rq, answered);
  turn.save({ key: ["negotiation", negotiation.rq], value: answered });
  turn.send(negotiationAnswer(answered));
  turn.print(
    "REFUSE",
    `Refused ${formatMoney(negotiation.maxPrice)} for ${negotiation.item}: ${reason}`,
    { rq: negotiation.rq, item: negotiation.item, maxPrice: negotiation.maxPrice, reason, by },
  );
}

/** The ACCEPT or REFUSE an answered negotiation sends (again). */
export function negotiationAnswer(negotiation: NegotiationRecord): Message {
  return {
    type: negotiation.state === "accepted" ? "ACCEPT" : "REFUSE",
    rq: negotiation.rq,
    item: negotiation.item,
    maxPrice: negotiation.maxPrice,
  };
}

/** Whether an item of this name was sold in the last few minutes. */
function soldLately(state: AgentState, item: string, at: number): boolean {
  const name = item.toLowerCase();
  for (const entry of state.history.values()) {
    if (
      entry.role === "seller" && entry.item.toLowerCase() === name &&
      at - entry.at <= RESUME_WITHIN_MS
    ) return true;
  }
  return false;
}

function printReserved(turn: AgentTurn, item: InventoryItem, message: MessageOf<"RESERVE">): void {
  turn.print(
    "RESERVE",
    `Reserved ${item.item} at ${formatMoney(message.price)} for a buyer (${message.rq})`,
    { rq: message.rq, item: item.item, price: message.price },
  );
}

/**
 * How long an item held for a classic server's search may wait for the
 * purchase to start (INFORM_Req) before this peer sells it again: the
 * classic five minutes of a search and a minute more. A classic server tells
 * a seller nothing when such a search ends otherwise (a lost ACCEPT, a buyer
 * who never bought), so the hold would otherwise last for ever. With our
 * server, every hold ends with its word (CANCEL, retransmitted).
 */
export const CLASSIC_HOLD_WAIT_MS = 6 * 60_000;

function holdEnds(item: InventoryItem): number | undefined {
  if (item.reservedFor === undefined || item.transaction !== undefined) return undefined;
  return (item.reservedAt ?? item.addedAt) + CLASSIC_HOLD_WAIT_MS;
}

/** When an item held for a classic server's search runs out of time, if one is held. */
export function nextHoldDeadline(state: AgentState): number | undefined {
  if (state.serverKind === "ours") return undefined;
  let next: number | undefined;
  for (const item of state.items.values()) {
    const at = holdEnds(item);
    if (at !== undefined && (next === undefined || at < next)) next = at;
  }
  return next;
}

/** Sells again the items a classic server's search held too long without a purchase. */
export function onHoldDeadlines(state: AgentState, turn: AgentTurn): void {
  if (state.serverKind === "ours") return;
  for (const [key, item] of [...state.items]) {
    const at = holdEnds(item);
    if (at === undefined || turn.at < at) continue;
    putItem(state, turn, key, endReservation(item));
    turn.print(
      "released",
      `${item.item} is for sale again: the server started no purchase for reservation ${item.reservedFor} in ${
        CLASSIC_HOLD_WAIT_MS / 60_000
      } minutes`,
      { rq: item.reservedFor, item: item.item },
    );
  }
}
