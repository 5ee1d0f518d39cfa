/**
 * The TCP settlement: the server connects to each party of a sale, asks
 * for payment details (INFORM_Req), and ends with Shipping_Info (sold, or
 * bought with our server's receipt) or TX_CANCEL. Each connection is known
 * by the id the shell gives it; a message without the server's MAC, one
 * that does not parse, or a closed connection ends its transaction here.
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import {
  type DecodeError,
  MAX_TEXT_LENGTH,
  type Message,
  type MessageOf,
} from "../../protocol/mod.ts";
import type { AgentTurn } from "./effects.ts";
import { askDetails, onDetailsRejected, pay } from "./paying.ts";
import { type BuyRequest, endReservation } from "./records.ts";
import {
  type AgentState,
  putItem,
  type Transaction,
  type Unsettled,
  updateRequest,
} from "./state.ts";
import {
  cancelTransaction,
  forget,
  link,
  recordPurchase,
  recordSale,
  roleFor,
  toYou,
  transactionOf,
} from "./transactions.ts";

/**
 * How long after a classic server closed the buyer's connection its CANCEL
 * may still come (on a new connection) before the purchase counts as bought.
 */
export const CONFIRM_AFTER_MS = 3_000;

/** What a TCP message without the server's MAC is answered with. */
export const UNAUTHENTICATED_REASON = "unauthenticated request";

/** What INFORM_Req over plain TCP is answered with, without `--allow-plaintext`. */
export const PLAINTEXT_REASON =
  "this peer sends card data only over TLS (start it with --allow-plaintext)";

/** A message on TCP connection `conn`. */
export function onTcp(state: AgentState, turn: AgentTurn, conn: number, message: Message): void {
  switch (message.type) {
    case "INFORM_Req":
      return onInformReq(state, turn, conn, message);
    case "Shipping_Info":
      return onShippingInfo(state, turn, conn, message);
    case "TX_CANCEL":
      return onTxCancel(state, turn, conn, message);
    default:
      turn.warn(
        `Closed a TCP connection from the server: it sent ${message.type} ${message.rq}, ` +
          "which this peer does not expect there",
        { rq: message.rq, type: message.type },
      );
      forget(state, turn, conn);
  }
}

function onInformReq(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  message: MessageOf<"INFORM_Req">,
): void {
  const current = state.transactions.get(conn);
  if (current) {
    if (current.rq === message.rq) {
      turn.log("debug", `Repeated INFORM_Req ${message.rq} on one connection`);
      return;
    }
    turn.warn(
      `Closed the connection of transaction ${current.rq}: a second INFORM_Req ${message.rq} came on it`,
      { rq: message.rq },
    );
    forget(state, turn, conn);
    return;
  }
  const match = roleFor(state, message);
  if (!match) {
    const overtaken = cancelledPurchase(state, message.item, turn.at);
    // The server's CANCEL datagram overtook this INFORM_Req: its CANCEL on
    // this connection will say why.
    if (overtaken) {
      state.overtaken.set(message.rq, overtaken.rq);
      if (state.overtaken.size > 64) state.overtaken.delete(state.overtaken.keys().next().value!);
    }
    const reason = overtaken
      ? "the server cancelled this purchase"
      : `no purchase or sale of ${message.item} here`;
    turn.tcpSend(conn, { type: "TX_CANCEL", rq: message.rq, reason });
    turn.tcpClose(conn);
    turn.warn(
      `Refused INFORM_Req ${message.rq} for ${message.item} at ${
        formatMoney(message.price)
      }: ${reason}`,
      { rq: message.rq, item: message.item, price: message.price, reason },
    );
    return;
  }
  const transaction: Transaction = {
    ...match,
    rq: message.rq,
    price: message.price,
    answered: false,
  };
  if (transaction.role === "buyer") state.unacked.forget(`BUY ${transaction.ref}`);
  if (!state.extensions.has("auth") && !state.allowPlaintext) {
    return refusePlaintext(state, turn, conn, transaction);
  }
  state.transactions.set(conn, transaction);
  link(state, turn, transaction);
  if (state.payment) pay(state, turn, conn, transaction, state.payment);
  else askDetails(state, conn, transaction);
}

/**
 * A server without TLS (a classic one) asks for card data over plain TCP:
 * declined, unless the peer runs with `--allow-plaintext`. The purchase
 * or the reservation ends as the server will end it.
 */
function refusePlaintext(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  transaction: Transaction,
): void {
  turn.tcpSend(conn, { type: "TX_CANCEL", rq: transaction.rq, reason: PLAINTEXT_REASON });
  turn.tcpClose(conn);
  cancelTransaction(state, turn, transaction, PLAINTEXT_REASON, "you", false);
  const what = transaction.role === "buyer" ? "purchase" : "sale";
  turn.print(
    "plaintext-refused",
    `Declined the ${what} of ${transaction.item} (${formatMoney(transaction.price)}): ` +
      `the server offers no TLS, and this peer sends card data only over TLS ` +
      `(start it with --allow-plaintext to allow plain TCP)`,
    {
      rq: transaction.rq,
      item: transaction.item,
      price: transaction.price,
      role: transaction.role,
      reason: PLAINTEXT_REASON,
    },
  );
}

function onShippingInfo(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  message: MessageOf<"Shipping_Info">,
): void {
  const transaction = transactionOf(state, conn, message.rq);
  if (!transaction) {
    if (state.history.has(message.rq)) {
      turn.log("debug", `Repeated Shipping_Info ${message.rq}: recorded already`);
      acknowledgeShipping(state, turn, conn, message.rq);
    } else {
      turn.warn(
        `Ignored Shipping_Info ${message.rq}: it settles no transaction of this peer`,
        { rq: message.rq },
      );
    }
    forget(state, turn, conn);
    return;
  }
  state.transactions.delete(conn);
  state.cancelledDuringLeg.delete(transaction.rq);
  if (transaction.role === "seller") recordSale(state, turn, transaction, message);
  else recordPurchase(state, turn, transaction, message.address, true);
  acknowledgeShipping(state, turn, conn, message.rq);
  forget(state, turn, conn);
}

/**
 * Tells our server a Shipping_Info is stored (the shell sends effects only
 * after the event's writes are committed), so it stops delivering it; a
 * peer killed before the commit gets it again.
 */
function acknowledgeShipping(state: AgentState, turn: AgentTurn, conn: number, rq: string): void {
  if (!state.extensions.has("ack")) return;
  turn.tcpSend(conn, { type: "TX_ACK", rq, of: "Shipping_Info" });
}

function onTxCancel(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  message: MessageOf<"TX_CANCEL">,
): void {
  const transaction = transactionOf(state, conn, message.rq);
  forget(state, turn, conn);
  state.unconfirmed.delete(message.rq);
  const overtaken = state.requests.get(state.overtaken.get(message.rq) ?? "");
  state.overtaken.delete(message.rq);
  if (!transaction && overtaken) {
    const item = overtaken.foundItem ?? overtaken.item;
    updateRequest(state, turn, overtaken, { reason: message.reason });
    turn.print(
      "CANCEL",
      `Purchase of ${item} cancelled: ${toYou(state, "buyer", message.reason)}`,
      {
        rq: message.rq,
        reason: message.reason,
        role: "buyer",
        item,
        by: "server",
      },
    );
    return;
  }
  if (!transaction) {
    turn.warn(
      `Ignored CANCEL ${message.rq} (${message.reason}): it cancels no transaction of this peer`,
      { rq: message.rq, reason: message.reason },
    );
    return;
  }
  cancelTransaction(state, turn, transaction, message.reason, "server");
  onDetailsRejected(state, turn, transaction, message.reason);
  // The search's CANCEL came while this leg was open and was held back
  // (see releaseReservation): with the leg cancelled too, the item is free.
  const held = state.items.get(transaction.ref);
  if (
    state.cancelledDuringLeg.delete(transaction.rq) && transaction.role === "seller" &&
    held?.reservedFor !== undefined
  ) {
    putItem(state, turn, transaction.ref, endReservation(held));
    turn.print(
      "CANCEL",
      `Reservation ${held.reservedFor} of ${held.item} cancelled; it is for sale again`,
      { rq: held.reservedFor, item: held.item, role: "seller", by: "server" },
    );
  }
}

/** Something on connection `conn` that does not parse: the transaction is cancelled. */
export function onTcpInvalid(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  error: DecodeError,
): void {
  const rq = state.transactions.get(conn)?.rq ?? error.rq;
  turn.warn(`Closed a TCP connection from the server: ${error.message}`, { rq, code: error.code });
  if (rq !== undefined) {
    turn.tcpSend(conn, {
      type: "TX_CANCEL",
      rq,
      reason: reasonText(`cannot read the server's message: ${error.message}`),
    });
  }
  forget(state, turn, conn);
}

/** A TCP message without the server's MAC: no card data answers it. */
export function onTcpUnauthenticated(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  rq: string | undefined,
  why: string,
): void {
  const id = rq ?? state.transactions.get(conn)?.rq;
  turn.warn(
    `Closed a TCP connection: a message without the server's valid MAC (${why}); no card data sent`,
    { rq: id, why },
  );
  if (id !== undefined) {
    turn.tcpSend(conn, { type: "TX_CANCEL", rq: id, reason: UNAUTHENTICATED_REASON });
  }
  forget(state, turn, conn);
}

/** Connection `conn` is gone: a classic server's close is the buyer's receipt. */
export function onTcpClosed(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  cause: "remote" | "timeout" | "error",
): void {
  const transaction = state.transactions.get(conn);
  state.transactions.delete(conn);
  state.waiting = state.waiting.filter((waiting) => waiting !== conn);
  if (!transaction) return;
  if (
    cause === "remote" && transaction.role === "buyer" && transaction.answered &&
    state.serverKind !== "ours"
  ) {
    // A classic server sends the buyer no receipt: it closes the
    // connection after a successful charge, and sends CANCEL otherwise,
    // perhaps on a new connection after the close. Bought once no CANCEL
    // came for a while.
    state.unconfirmed.set(transaction.rq, { transaction, at: turn.at + CONFIRM_AFTER_MS });
    turn.print(
      "paid",
      `Paid for ${transaction.item} (${formatMoney(transaction.price)}): the server closed the ` +
        `connection; bought unless it cancels within ${CONFIRM_AFTER_MS / 1000} s`,
      {
        rq: transaction.rq,
        request: transaction.ref,
        item: transaction.item,
        price: transaction.price,
        confirmAfterMs: CONFIRM_AFTER_MS,
      },
    );
    return;
  }
  const why = cause === "timeout"
    ? "nothing came from the server in time"
    : cause === "error"
    ? "the connection failed"
    : "the server closed the connection";
  // Our server, once it has the seller's details, may have charged the
  // buyer: it then delivers Shipping_Info on new connections until one
  // gets through (for minutes, and again when the seller registers anew),
  // or sends CANCEL. Its answering other datagrams meanwhile says nothing
  // of the sale, so the item waits for its word: released sooner, it
  // could be sold twice.
  const cancelled = state.cancelledDuringLeg.delete(transaction.rq);
  const held = state.items.get(transaction.ref);
  if (transaction.role === "seller" && cancelled && held !== undefined) {
    // The server cancelled the hold while the leg was open: that was its word.
    putItem(state, turn, transaction.ref, endReservation(held));
    turn.print(
      "CANCEL",
      `Transaction ${transaction.rq} for ${transaction.item} ended unsettled (${why}) after the ` +
        `server cancelled it; ${transaction.item} is for sale again`,
      { rq: transaction.rq, item: transaction.item, role: "seller", by: "server" },
    );
    return;
  }
  const awaitsWord = transaction.role === "seller" && transaction.answered &&
    state.serverKind === "ours";
  if (transaction.role === "seller" && !awaitsWord) {
    state.unsettled.set(transaction.rq, { key: transaction.ref, endedAt: turn.at });
  }
  const sent = transaction.answered ? "Shipping_Info" : "the payment details were sent";
  const then = awaitsWord
    ? `before Shipping_Info; ${transaction.item} stays reserved until the server settles or ` +
      "cancels it"
    : transaction.role === "seller"
    ? `before ${sent}; ${transaction.item} stays reserved while the server may still settle ` +
      "or cancel it, and is for sale again if the server answers without doing so"
    : !transaction.answered
    ? "before the payment details were sent"
    : "before the receipt; the purchase stays open until the server cancels it";
  turn.warn(
    `Transaction ${transaction.rq} for ${transaction.item} ended unsettled: ${why} ${then}`,
    { rq: transaction.rq, item: transaction.item, role: transaction.role, cause },
  );
}

/** Free text made fit for a reason field: one line, single spaces, not too long. */
function reasonText(text: string): string {
  const words = text.replace(/\p{C}/gu, " ").split(/\s+/).filter((word) => word !== "");
  return words.join(" ").slice(0, MAX_TEXT_LENGTH).trimEnd() || "invalid message";
}

/** How recent a server's cancel of a purchase must be for a late INFORM_Req to be its. */
const OVERTAKEN_WITHIN_MS = 60_000;

/** A purchase of `item` the server cancelled just now, before it was settled. */
function cancelledPurchase(state: AgentState, item: string, now: number): BuyRequest | undefined {
  return [...state.requests.values()].find((request) =>
    request.state === "cancelled" && request.cancelledBy === "server" &&
    request.transaction === undefined && request.price !== undefined &&
    (request.foundItem ?? request.item).toLowerCase() === item.toLowerCase() &&
    now - request.updatedAt <= OVERTAKEN_WITHIN_MS
  );
}

/**
 * How long a sale whose connection ended unsettled stays held for the
 * server's word: a live server settles or cancels it within its
 * transaction timeout (30 s by default), a restarted one runs it again at
 * once.
 */
export const UNSETTLED_WAIT_MS = 60_000;

/**
 * How long after the server is heard from again it has to take such a
 * sale up: a restarted server runs its interrupted transactions (and
 * delivers what it owes) at its first tick.
 */
export const TAKE_UP_WITHIN_MS = 5_000;

/** The server was heard from: the sales waiting for its word start their last wait. */
export function heardForUnsettled(state: AgentState, at: number): void {
  for (const unsettled of state.unsettled.values()) unsettled.heardAt ??= at;
}

/** When a sale held for the server's word is next to be released, if ever. */
export function nextUnsettledDeadline(state: AgentState): number | undefined {
  const times = [...state.unsettled.values()].flatMap((unsettled) =>
    unsettled.heardAt === undefined ? [] : [releaseAt(unsettled)]
  );
  return times.length === 0 ? undefined : Math.min(...times);
}

function releaseAt(unsettled: Unsettled): number {
  return Math.max(unsettled.endedAt + UNSETTLED_WAIT_MS, unsettled.heardAt! + TAKE_UP_WITHIN_MS);
}

/**
 * Releases the items of sales the server did not settle, cancel or run
 * again though it answers: it has no such transaction (a live server would
 * have ended it, a restarted one taken it up), so the purchase failed.
 * Until the server is heard from, they stay held: it may come back with
 * the transaction.
 */
export function releaseUnsettled(state: AgentState, turn: AgentTurn): void {
  for (const [tx, unsettled] of [...state.unsettled]) {
    const item = state.items.get(unsettled.key);
    const running = [...state.transactions.values()].some((open) => open.rq === tx);
    if (item?.transaction?.tx !== tx || running) {
      // Settled, cancelled or taken up again meanwhile.
      state.unsettled.delete(tx);
      continue;
    }
    if (unsettled.heardAt === undefined || releaseAt(unsettled) > turn.at) continue;
    state.unsettled.delete(tx);
    putItem(state, turn, unsettled.key, endReservation(item));
    turn.print(
      "released",
      `${item.item} is for sale again: transaction ${tx} ended unsettled, and the server ` +
        "answers but did not take it up again",
      { rq: tx, item: item.item, reservedFor: item.reservedFor },
    );
  }
}
