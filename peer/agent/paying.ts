/**
 * The payment details a transaction needs: sent at once when known (from
 * `--payment` or typed earlier in the session), else asked for, one line
 * each (card, expiry, address), for every connection that waits for them.
 * They stay in memory: they leave only in INFORM_Res, and are shown only
 * as the card's last four digits.
 *
 * @module
 */
import { formatPrice, maskCard } from "../../protocol/mod.ts";
import { parseDetail, type PaymentDetails } from "../payment.ts";
import type { AgentTurn } from "./effects.ts";
import { type PaymentQuestion, questionId } from "./questions.ts";
import type { AgentState, Transaction } from "./state.ts";
import { cancelTransaction, forget } from "./transactions.ts";

/** An input line that aborts a payment question: Ctrl-C or Ctrl-D on a raw terminal. */
export const ABORT_INPUT: ReadonlySet<string> = new Set(["\u0003", "\u0004"]);

/** Sends INFORM_Res with the details on connection `conn`. */
export function pay(
  state: AgentState,
  turn: AgentTurn,
  conn: number,
  transaction: Transaction,
  details: PaymentDetails,
): void {
  state.transactions.set(conn, { ...transaction, answered: true, address: details.address });
  const card = maskCard(details.card);
  turn.tcpSend(conn, {
    type: "INFORM_Res",
    rq: transaction.rq,
    name: state.profile.name,
    card: details.card,
    expiry: details.expiry,
    address: details.address,
  });
  turn.print(
    "INFORM_Req",
    `Sending payment details for ${transaction.item} (${
      formatPrice(transaction.price)
    }) as ${transaction.role}, card ${card}`,
    {
      rq: transaction.rq,
      item: transaction.item,
      price: transaction.price,
      role: transaction.role,
      card,
    },
  );
}

/**
 * Queues the payment questions, unless they are being asked already (the
 * answers then serve this connection too). They come before every other
 * question waiting, though not before the one on screen: the next line
 * may already be its answer.
 */
export function askDetails(state: AgentState, conn: number, transaction: Transaction): void {
  state.waiting.push(conn);
  if (state.interview) return;
  state.interview = {};
  const head = state.questions[0];
  const at = head && state.asked === questionId(head) ? 1 : 0;
  state.questions.splice(at, 0, { about: "CARD", rq: transaction.rq });
}

/**
 * A line that answers a payment question: the next question is queued,
 * or, after the address, every waiting connection is paid. A line that is
 * not valid ends the transactions waiting (never quoting the line).
 */
export function onPaymentAnswer(
  state: AgentState,
  turn: AgentTurn,
  question: { readonly about: PaymentQuestion; readonly rq: string },
  text: string,
): void {
  const interview = state.interview;
  if (!interview) return;
  if (ABORT_INPUT.has(text)) {
    return abortDetails(state, turn, "the payment details were not given");
  }
  const detail = question.about === "CARD"
    ? "card"
    : question.about === "EXPIRY"
    ? "expiry"
    : "address";
  const parsed = parseDetail(detail, text);
  if (!parsed.ok) return abortDetails(state, turn, parsed.error);
  if (detail === "card" || detail === "expiry") {
    interview[detail] = parsed.value;
    const next = detail === "card" ? "EXPIRY" : "ADDRESS";
    state.questions.unshift({ about: next, rq: question.rq });
    return;
  }
  const details: PaymentDetails = {
    card: interview.card!,
    expiry: interview.expiry!,
    address: parsed.value,
  };
  // Kept for the rest of the session, never stored.
  state.payment = details;
  state.interview = undefined;
  const waiting = state.waiting;
  state.waiting = [];
  for (const conn of waiting) {
    const transaction = state.transactions.get(conn);
    if (transaction && !transaction.answered) pay(state, turn, conn, transaction, details);
  }
}

/** Ends the transactions that wait for details the user did not give. */
function abortDetails(state: AgentState, turn: AgentTurn, reason: string): void {
  state.interview = undefined;
  const waiting = state.waiting;
  state.waiting = [];
  for (const conn of waiting) {
    const transaction = state.transactions.get(conn);
    if (!transaction) continue;
    turn.tcpSend(conn, { type: "TX_CANCEL", rq: transaction.rq, reason });
    forget(state, turn, conn);
    cancelTransaction(state, turn, transaction, reason, "you");
  }
}
