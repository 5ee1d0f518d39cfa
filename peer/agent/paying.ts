/**
 * The payment details a transaction needs: sent at once when known (from
 * `--payment` or typed earlier in the session), else asked for, one line
 * each (card, expiry, address), for every connection that waits for them.
 * They stay in memory: they leave only in INFORM_Res, and are shown only
 * as the card's last four digits.
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import { maskCard } from "../../protocol/mod.ts";
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
      formatMoney(transaction.price)
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

/** How many times a payment detail may be typed before the transaction is given up. */
export const PAYMENT_TRIES = 3;

/**
 * Queues the payment questions, unless they are being asked already (the
 * answers then serve this connection too). They come before every other
 * question waiting, though not before the one on screen: the next line
 * may already be its answer.
 */
export function askDetails(state: AgentState, conn: number, transaction: Transaction): void {
  state.waiting.push(conn);
  if (state.interview) return;
  startInterview(state, transaction.rq, false);
}

function startInterview(state: AgentState, rq: string, manual: boolean): void {
  // A new card prompt follows at once: the next line answers it.
  state.withdrawnSecret = false;
  state.interview = manual ? { tries: 0, manual } : { tries: 0 };
  const head = state.questions[0];
  const at = head && state.asked === questionId(head) ? 1 : 0;
  state.questions.splice(at, 0, { about: "CARD", rq });
}

/** The `payment` command: asks for the details now, or forgets them (`payment clear`). */
export function paymentCommand(state: AgentState, turn: AgentTurn, clear: boolean): void {
  if (clear) {
    const had = state.payment;
    state.payment = undefined;
    turn.print(
      "payment",
      had
        ? `Forgot the payment details (card ${
          maskCard(had.card)
        }): the next purchase or sale asks for them`
        : "No payment details to forget: the next purchase or sale asks for them",
      { cleared: had !== undefined },
    );
    return;
  }
  if (state.interview) {
    turn.error("The payment details are being asked already: answer the question on screen");
    return;
  }
  startInterview(state, "payment", true);
}

/**
 * A line that answers a payment question: the next question is queued,
 * or, after the address, every waiting connection is paid. A line that is
 * not valid is asked again, {@linkcode PAYMENT_TRIES} times in all; then
 * the transactions waiting are ended (never quoting the line).
 */
export function onPaymentAnswer(
  state: AgentState,
  turn: AgentTurn,
  question: { readonly about: PaymentQuestion; readonly rq: string },
  text: string,
): void {
  const interview = state.interview;
  if (!interview) return;
  // Ctrl-C, Ctrl-D, or the word: no card, expiry or address is "cancel".
  if (ABORT_INPUT.has(text) || text.trim().toLowerCase() === "cancel") {
    return abortDetails(state, turn, "the payment details were not given");
  }
  const detail = question.about === "CARD"
    ? "card"
    : question.about === "EXPIRY"
    ? "expiry"
    : "address";
  const parsed = parseDetail(detail, text, new Date(turn.at));
  if (!parsed.ok) {
    interview.tries++;
    if (interview.tries >= PAYMENT_TRIES) {
      return abortDetails(state, turn, `${parsed.error} (${PAYMENT_TRIES} tries)`);
    }
    const left = PAYMENT_TRIES - interview.tries;
    turn.error(
      `${capitalize(parsed.error)}: type it again (${left} ${
        left === 1 ? "try" : "tries"
      } left), or cancel to give none`,
    );
    // The same question again; settleQuestions prints its prompt anew.
    state.questions.unshift({ about: question.about, rq: question.rq });
    return;
  }
  interview.tries = 0;
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
  if (interview.manual) {
    turn.print(
      "payment",
      `Payment details kept for this session: card ${maskCard(details.card)}`,
      { card: maskCard(details.card) },
    );
  }
  const waiting = state.waiting;
  state.waiting = [];
  for (const conn of waiting) {
    const transaction = state.transactions.get(conn);
    if (transaction && !transaction.answered) pay(state, turn, conn, transaction, details);
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Ends the transactions that wait for details the user did not give. */
function abortDetails(state: AgentState, turn: AgentTurn, reason: string): void {
  const manual = state.interview?.manual === true;
  state.interview = undefined;
  if (manual && state.waiting.length === 0) {
    if (state.payment) {
      // Only what was being typed is dropped: the details kept before stay.
      const card = maskCard(state.payment.card);
      turn.print(
        "payment",
        `Nothing changed: the payment details kept before (card ending ${card.slice(-4)}) stay`,
        { card, changed: false },
      );
      return;
    }
    turn.error(`No payment details kept: ${reason}`);
    return;
  }
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

/**
 * The server cancelled a transaction this peer had sent its details for,
 * with a reason that names them (the card invalid, expired or declined, no
 * address): they are forgotten, so that the next transaction asks again
 * instead of failing the same way.
 */
export function onDetailsRejected(
  state: AgentState,
  turn: AgentTurn,
  transaction: Transaction,
  reason: string,
): void {
  if (!transaction.answered || !state.payment || !namesOurDetails(reason, transaction.role)) return;
  const card = maskCard(state.payment.card);
  state.payment = undefined;
  turn.warn(
    `Forgot the payment details the server refused (card ${card}): the next purchase or sale ` +
      "asks for them, or type payment to enter them now",
    { rq: transaction.rq, card, reason },
  );
}

/**
 * Whether a server's reason is about this party's card or address: it names
 * the party (`the buyer's card number … is invalid`, `the seller gave no
 * address`), or it is about a card without naming one (`the card was
 * declined`), which is the buyer's, the one charged.
 */
function namesOurDetails(reason: string, role: "buyer" | "seller"): boolean {
  const named = /\b(buyer|seller)('s card\b| gave no address)/i.exec(reason);
  if (named) return named[1]!.toLowerCase() === role;
  return role === "buyer" && /\bcard\b/i.test(reason);
}
