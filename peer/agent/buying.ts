/**
 * Buying: a search (`buy` sends LOOKING_FOR), its outcome (FOUND,
 * NOT_AVAILABLE, NOT_FOUND, DENIED, or the server's CANCEL of a FOUND), and
 * the BUY or CANCEL that answers FOUND, at once with auto-buy or after
 * asking. The states a search goes through are in `request_states.ts`.
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import {
  ACKED_REQUESTS,
  encode,
  MAX_MESSAGE_BYTES,
  type Message,
  type MessageOf,
} from "../../protocol/mod.ts";
import type { CommandOf } from "../commands.ts";
import { NOT_REGISTERED } from "./views.ts";
import type { AgentTurn } from "./effects.ts";
import type { BuyRequest } from "./records.ts";
import {
  type AgentState,
  onUnexpected,
  OPEN_STATES,
  remember,
  sortedRequests,
  updateRequest,
} from "./state.ts";

/** Room left in a datagram for the MAC token the shell appends (` mac=SEQ.TAG`). */
export const MAC_OVERHEAD = 48;

const utf8 = new TextEncoder();

/** The `buy` command: sends LOOKING_FOR and keeps the search. */
export function lookFor(state: AgentState, turn: AgentTurn, args: CommandOf<"buy">["args"]): void {
  if (!state.registered) {
    turn.error(NOT_REGISTERED);
    return;
  }
  const rq = state.newRq();
  const message: Message = {
    type: "LOOKING_FOR",
    rq,
    name: state.profile.name,
    item: args.item,
    description: args.description,
    maxPrice: args.maxPrice,
  };
  // Our server's MAC takes room in the datagram too.
  const bytes = utf8.encode(encode(message)).length +
    (state.extensions.has("auth") ? MAC_OVERHEAD : 0);
  if (bytes > MAX_MESSAGE_BYTES) {
    turn.error(
      `The search would take ${bytes} bytes, over the limit of ${MAX_MESSAGE_BYTES}: shorten the description`,
    );
    return;
  }
  const request: BuyRequest = {
    rq,
    item: args.item,
    description: args.description,
    maxPrice: args.maxPrice,
    state: "searching",
    createdAt: turn.at,
    updatedAt: turn.at,
  };
  state.requests.set(rq, request);
  turn.save({ key: ["request", rq], value: request });
  turn.send(message);
  // Offers take a while to come in: say what is being waited for.
  const wait = state.serverKind === "ours"
    ? "the server collects offers until every asked peer answered or its offer window closes"
    : "a classic server collects offers for up to 5 minutes";
  turn.print(
    "LOOKING_FOR",
    `Looking for ${args.item} at up to ${formatMoney(args.maxPrice)} (request ${rq}): ` +
      `search sent; ${wait} (cancel ${rq} ends it)`,
    { rq, item: args.item, description: args.description, maxPrice: args.maxPrice, wait },
  );
}

/** FOUND: bought at once with auto-buy, else asked. */
export function onFound(state: AgentState, turn: AgentTurn, message: MessageOf<"FOUND">): void {
  // An outcome means the server has the search, whatever became of its ACK.
  state.unacked.forget(`LOOKING_FOR ${message.rq}`);
  const request = state.requests.get(message.rq);
  if (!request) return onUnexpected(state, turn, message);
  const ack = state.extensions.has("ack");
  switch (request.state) {
    case "searching":
      break;
    case "found":
      turn.log("debug", `Repeated FOUND ${message.rq}: still asking`);
      return;
    // A classic server repeats FOUND when the answer was lost: answer
    // again. Ours repeats FOUND for want of an ACK (sent already), and
    // this peer resends its own answer until acknowledged; answering each
    // FOUND would echo forever with a server that repeats FOUND for a
    // purchase it has concluded.
    case "buying":
      if (!ack) turn.send(buyerAnswer("BUY", request));
      turn.log("debug", `Repeated FOUND ${message.rq}`);
      return;
    case "cancelled":
      // A search cancelled before its FOUND: the spec's CANCEL answers the FOUND.
      if (request.cancelledBy === "user" && !ack) {
        turn.send(buyerAnswer("CANCEL", { ...request, price: request.price ?? message.price }));
      }
      turn.log("debug", `Repeated FOUND ${message.rq}: already cancelled`);
      return;
    case "failed":
      // Given up while the server did not answer (it was down, say): the
      // server, back with the search, holds the seller's item for it
      // until CANCEL or its reserve timeout. Declined, it is released now.
      turn.send(buyerAnswer("CANCEL", { ...request, price: message.price }));
      turn.warn(
        `Declined FOUND ${message.rq} for ${message.item}: the search failed while the server ` +
          "did not answer",
        { rq: message.rq },
      );
      return;
    default:
      // Internal bookkeeping, not news for the person: the log only.
      turn.log(
        "debug",
        `Ignored FOUND ${message.rq}: the search for ${request.item} ended (${request.state})`,
      );
      return;
  }
  const found = updateRequest(state, turn, request, {
    state: "found",
    price: message.price,
    foundItem: message.item,
    ...(message.seller === undefined ? {} : { seller: message.seller }),
  });
  const from = message.seller === undefined ? "" : ` from ${message.seller}`;
  turn.print(
    "FOUND",
    `Found ${message.item} for ${formatMoney(message.price)}${from} (request ${message.rq})`,
    { rq: message.rq, item: message.item, price: message.price, seller: message.seller },
  );
  // Auto-buy answers only once registered: a FOUND that comes while a
  // REGISTER (the one of a restart) is pending is asked.
  if (state.autoBuy && !registering(state)) buy(state, turn, found, true);
  else state.questions.push({ about: "FOUND", rq: message.rq });
}

/** Whether a REGISTER of this peer is waiting for its answer. */
function registering(state: AgentState): boolean {
  return [...state.pending.values()].some((pending) => pending.type === "REGISTER");
}

/** The user's answer to a FOUND question: BUY or CANCEL. */
export function onFoundAnswer(state: AgentState, turn: AgentTurn, rq: string, yes: boolean): void {
  const request = state.requests.get(rq);
  if (request?.state !== "found") return;
  if (yes) buy(state, turn, request, false);
  else decline(state, turn, request);
}

/** Sends BUY for a FOUND. */
export function buy(state: AgentState, turn: AgentTurn, request: BuyRequest, auto: boolean): void {
  const buying = updateRequest(state, turn, request, { state: "buying" });
  const item = buying.foundItem ?? buying.item;
  const from = buying.seller === undefined ? "" : ` from ${buying.seller}`;
  turn.send(buyerAnswer("BUY", buying));
  turn.print(
    "BUY",
    `Buying ${item} for ${formatMoney(buying.price ?? 0)}${from}${auto ? " (auto-buy)" : ""}`,
    { rq: buying.rq, item, price: buying.price, seller: buying.seller, auto },
  );
}

/**
 * The `cancel RQ|ITEM` command: ends one of this peer's open searches. A
 * FOUND is declined (CANCEL). A search still collecting offers is ended
 * here; our server is sent CANCEL for it at once (it ends the search and
 * releases what it reserved), while a classic server, whose protocol has
 * CANCEL only as the answer to FOUND, gets it when its FOUND comes. A
 * purchase already being paid cannot be cancelled.
 */
export function cancelSearch(state: AgentState, turn: AgentTurn, which: string): void {
  const byRq = state.requests.get(which);
  const open = byRq
    ? [byRq]
    : sortedRequests(state).filter((request) =>
      OPEN_STATES.has(request.state) &&
      (request.foundItem ?? request.item).toLowerCase() === which.toLowerCase()
    );
  if (open.length === 0) {
    return turn.error(`No open search ${JSON.stringify(which)}: type requests to list them`);
  }
  if (open.length > 1) {
    return turn.error(
      `${open.length} open searches for ${which}: cancel one by its request, one of ${
        open.map((request) => request.rq).join(", ")
      }`,
    );
  }
  const request = open[0]!;
  switch (request.state) {
    case "found":
      return decline(state, turn, request);
    case "searching": {
      const cancelled = updateRequest(state, turn, request, {
        state: "cancelled",
        cancelledBy: "user",
        reason: "cancelled by you",
      });
      const ours = state.serverKind === "ours";
      if (ours) turn.send(buyerAnswer("CANCEL", { ...cancelled, price: request.maxPrice }));
      turn.print(
        "CANCEL",
        `Cancelled the search for ${request.item} (request ${request.rq})` +
          (ours ? "" : "; a FOUND for it will be answered with CANCEL"),
        { rq: request.rq, item: request.item, role: "buyer", by: "you", state: "searching" },
      );
      return;
    }
    case "buying":
      return turn.error(
        `The purchase of ${request.foundItem ?? request.item} (request ${request.rq}) is ` +
          "being paid: it can no longer be cancelled",
      );
    default:
      return turn.error(
        `The search ${request.rq} for ${request.item} has ended already (${request.state})`,
      );
  }
}

function decline(state: AgentState, turn: AgentTurn, request: BuyRequest): void {
  const cancelled = updateRequest(state, turn, request, {
    state: "cancelled",
    cancelledBy: "user",
  });
  const item = cancelled.foundItem ?? cancelled.item;
  turn.send(buyerAnswer("CANCEL", cancelled));
  turn.print("CANCEL", `Declined ${item} for ${formatMoney(cancelled.price ?? 0)}`, {
    rq: cancelled.rq,
    item,
    price: cancelled.price,
    role: "buyer",
    by: "you",
  });
}

/** NOT_AVAILABLE or NOT_FOUND: the search ends without a deal. */
export function onNoDeal(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"NOT_AVAILABLE" | "NOT_FOUND">,
): void {
  state.unacked.forget(`LOOKING_FOR ${message.rq}`);
  const request = state.requests.get(message.rq);
  if (!request) return onUnexpected(state, turn, message);
  const end = message.type === "NOT_AVAILABLE" ? "not_available" : "not_found";
  if (request.state === end) {
    turn.log("debug", `Repeated ${message.type} ${message.rq}`);
    return;
  }
  if (request.state === "cancelled" && request.cancelledBy === "user") {
    turn.log("debug", `${message.type} ${message.rq}: the search was cancelled already`);
    return;
  }
  if (request.state !== "searching") {
    turn.log(
      "debug",
      `Ignored ${message.type} ${message.rq}: the search for ${request.item} is ${request.state}`,
    );
    return;
  }
  updateRequest(state, turn, request, { state: end });
  // Some classic servers leave the max price out: ours is the one asked.
  const maxPrice = message.maxPrice ?? request.maxPrice;
  const max = formatMoney(maxPrice);
  // Our server says when a listing's seller did not answer (extension `book`).
  const silentPrice = message.type === "NOT_AVAILABLE" ? message.silentPrice : undefined;
  const silent = silentPrice === undefined
    ? ""
    : `: the seller of the listing at ${formatMoney(silentPrice)} did not answer`;
  turn.print(
    message.type,
    message.type === "NOT_AVAILABLE"
      ? `No offer for ${message.item} within ${max}${silent}`
      : `No seller accepted ${max} for ${message.item}`,
    {
      rq: message.rq,
      item: message.item,
      maxPrice,
      ...(silentPrice === undefined ? {} : { silentPrice }),
    },
  );
}

/** The server refused a request (DENIED): a search ends as denied. */
export function onDenied(state: AgentState, turn: AgentTurn, message: MessageOf<"DENIED">): void {
  const request = state.requests.get(message.rq);
  for (const type of ACKED_REQUESTS) state.unacked.forget(`${type} ${message.rq}`);
  if (request?.state === "denied") {
    turn.log("debug", `Repeated DENIED ${message.rq}`);
    return;
  }
  if (request?.state === "searching") {
    updateRequest(state, turn, request, { state: "denied", reason: message.reason });
  }
  const what = request ? ` search for ${request.item}` : ` request ${message.rq}`;
  turn.print("DENIED", `The server denied the${what}: ${message.reason}`, {
    rq: message.rq,
    reason: message.reason,
    ...(request ? { item: request.item } : {}),
  });
}

/** How soon after a LOOKING_FOR a classic server's `ERROR:` is taken for its answer. */
export const ERROR_ANSWERS_WITHIN_MS = 5_000;

/**
 * The words of a classic server's own refusal: what follows `ERROR:`, or
 * the whole text when it says that LOOKING_FOR is a command it does not
 * know (`Unknown command: LOOKING_FOR`, as one classic server answers
 * every type but REGISTER and DE-REGISTER). Its other noise
 * (`LOOKING_FOR_ACK`, `Invalid message format`) refuses nothing.
 *
 * @returns The words, or undefined when the text is no refusal.
 */
export function serverRefusal(text: string): string | undefined {
  const trimmed = text.trim();
  const error = trimmed.match(/^ERROR:(.*)$/s)?.[1];
  if (error !== undefined) return error;
  return /^(?:unknown|unsupported|unrecognized|invalid)\b.*\bLOOKING_FOR\b/is.test(trimmed)
    ? trimmed
    : undefined;
}

/** Most characters of a classic server's words shown. */
const MAX_ERROR_WORDS = 200;

/**
 * A classic server's `ERROR: …` right after a LOOKING_FOR, while that is
 * the one search pending: the server refused it (a classic server has no
 * DENIED), so it ends at once with the server's words.
 *
 * @returns Whether it ended a search.
 */
export function onServerError(state: AgentState, turn: AgentTurn, words: string): boolean {
  const last = state.lastSent;
  if (last?.type !== "LOOKING_FOR" || turn.at - last.at > ERROR_ANSWERS_WITHIN_MS) return false;
  const searching = [...state.requests.values()].filter((request) => request.state === "searching");
  if (searching.length !== 1 || searching[0]!.rq !== last.rq) return false;
  const request = searching[0]!;
  const reason = words.replace(/\p{C}/gu, " ").split(/\s+/).filter((word) => word !== "")
    .join(" ").slice(0, MAX_ERROR_WORDS) || "no reason given";
  state.unacked.forget(`LOOKING_FOR ${request.rq}`);
  updateRequest(state, turn, request, { state: "denied", reason });
  turn.print("DENIED", `The server refused the search for ${request.item}: ${reason}`, {
    rq: request.rq,
    item: request.item,
    reason,
  });
  return true;
}

/** CANCEL as a buyer: the server withdrew a FOUND (timeout, seller gone). */
export function onPurchaseCancel(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"CANCEL">,
): void {
  const request = state.requests.get(message.rq);
  if (!request) {
    // Perhaps it overtook its RESERVE: that must not hold the item then.
    const repeated = state.recent.has(`CANCEL ${message.rq}`);
    onUnexpected(state, turn, message);
    if (!repeated) remember(state, message);
    return;
  }
  if (request.state === "cancelled") {
    turn.log("debug", `Repeated CANCEL ${message.rq}: already cancelled`);
    return;
  }
  if (!OPEN_STATES.has(request.state)) {
    turn.log(
      "debug",
      `Ignored CANCEL ${message.rq}: the search for ${request.item} ended (${request.state})`,
    );
    return;
  }
  updateRequest(state, turn, request, { state: "cancelled", cancelledBy: "server" });
  const item = request.foundItem ?? request.item;
  turn.print("CANCEL", `Purchase of ${item} cancelled by the server`, {
    rq: message.rq,
    item,
    price: message.price,
    role: "buyer",
    by: "server",
  });
}

/** The BUY or CANCEL that answers a FOUND (again). */
export function buyerAnswer(type: "BUY" | "CANCEL", request: BuyRequest): Message {
  return {
    type,
    rq: request.rq,
    item: request.foundItem ?? request.item,
    price: request.price ?? 0,
  };
}

/**
 * How long a search with a classic server may go without any answer before
 * this peer ends it: the classic protocol's five minutes of collecting
 * offers, and a minute more. A classic server resends nothing, so a lost
 * LOOKING_FOR, or a lost NOT_AVAILABLE, would otherwise leave the search
 * open for ever. (With our server the retransmitter ends it instead.)
 */
export const CLASSIC_SEARCH_WAIT_MS = 6 * 60_000;

/** When a search with a classic server runs out of time, if one is open. */
export function nextSearchDeadline(state: AgentState): number | undefined {
  if (state.serverKind === "ours") return undefined;
  let next: number | undefined;
  for (const request of state.requests.values()) {
    if (request.state !== "searching") continue;
    const at = request.updatedAt + CLASSIC_SEARCH_WAIT_MS;
    if (next === undefined || at < next) next = at;
  }
  return next;
}

/** Ends the searches with a classic server that had no answer in time. */
export function onSearchDeadlines(state: AgentState, turn: AgentTurn): void {
  if (state.serverKind === "ours") return;
  for (const request of [...state.requests.values()]) {
    if (request.state !== "searching") continue;
    if (turn.at < request.updatedAt + CLASSIC_SEARCH_WAIT_MS) continue;
    updateRequest(state, turn, request, {
      state: "failed",
      reason: "no answer from the server",
    });
    turn.print(
      "timeout",
      `The server sent no answer about ${request.item} in ${
        CLASSIC_SEARCH_WAIT_MS / 60_000
      } minutes: the search ended here (request ${request.rq}); buy again to search anew`,
      { rq: request.rq, item: request.item },
    );
  }
}
