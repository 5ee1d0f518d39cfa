/**
 * The question queue: FOUND ("buy it?"), NEGOTIATE ("accept this max?") and
 * the payment details, in the order they came, the first one on screen.
 * Only the first is asked; the next input line answers it. After every
 * event the queue is settled: questions that became moot are dropped (a
 * NEGOTIATE whose item is gone or taken is refused), and the prompt of a
 * new first question is printed.
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import type { AgentTurn } from "./effects.ts";
import { refuseNegotiation } from "./selling.ts";
import type { AgentState } from "./state.ts";
import type { PaymentQuestion, Question } from "./types.ts";

export type { PaymentQuestion, Question } from "./types.ts";

const PAYMENT_QUESTIONS: ReadonlySet<string> = new Set(["CARD", "EXPIRY", "ADDRESS"]);
const SECRET_QUESTIONS: ReadonlySet<string> = new Set(["CARD", "EXPIRY"]);

/** Whether a question asks for payment details. */
export function isPaymentQuestion(
  question: Question,
): question is Question & { readonly about: PaymentQuestion } {
  return PAYMENT_QUESTIONS.has(question.about);
}

/** A question's identity in the queue, to tell whether its prompt is on screen. */
export function questionId(question: Question): string {
  return `${question.about} ${question.rq}`;
}

/** The question on screen: first in the queue, its prompt printed; else `undefined`. */
export function askedQuestion(state: AgentState): Question | undefined {
  const head = state.questions[0];
  return head && state.asked === questionId(head) ? head : undefined;
}

/**
 * Whether the next line is a secret (card number or expiry): one is asked,
 * or one was withdrawn while on screen, and the lines typed for it (the
 * card, its expiry, the address) may still come, until an empty line.
 */
export function asksSecret(state: AgentState): boolean {
  if (state.withdrawnSecret) return true;
  const asked = askedQuestion(state);
  return asked !== undefined && SECRET_QUESTIONS.has(asked.about);
}

/** Takes the question on screen off the queue, to answer it. */
export function takeAsked(state: AgentState): Question | undefined {
  const asked = askedQuestion(state);
  if (!asked) return undefined;
  state.questions.shift();
  state.asked = undefined;
  return asked;
}

/**
 * Drops questions that became moot, refusing a NEGOTIATE whose item is
 * gone or taken, and prints the prompt of the first one when it is new.
 */
export function settleQuestions(state: AgentState, turn: AgentTurn): void {
  const onScreen = askedQuestion(state);
  if (state.interview && !state.interview.manual && state.waiting.length === 0) {
    // Every connection that wanted the details is gone: stop asking.
    state.interview = undefined;
    if (onScreen && SECRET_QUESTIONS.has(onScreen.about)) {
      // The user may be typing the card already: that line must not echo.
      state.withdrawnSecret = true;
      turn.warn(
        "No longer asking for payment details: the server closed the transaction. " +
          "What you type is hidden and discarded until you press Enter on an empty line",
      );
    } else turn.warn("No longer asking for payment details: the server closed the transaction");
  }
  expireNegotiations(state, turn);
  state.questions = state.questions.filter((question) => {
    if (isPaymentQuestion(question)) return state.interview !== undefined;
    if (question.about === "FOUND") return state.requests.get(question.rq)?.state === "found";
    const negotiation = state.negotiations.get(question.rq);
    if (negotiation?.state !== "asking") return false;
    const item = state.items.get(negotiation.item.toLowerCase());
    if (item && item.reservedFor === undefined) return true;
    refuseNegotiation(
      state,
      turn,
      negotiation,
      item ? "it is now reserved for another buyer" : "it is no longer in the inventory",
    );
    return false;
  });
  const head = state.questions[0];
  if (!head) {
    state.asked = undefined;
    return;
  }
  if (state.asked === questionId(head)) return;
  state.asked = questionId(head);
  prompt(state, turn, head);
}

/**
 * How long after NEGOTIATE the server gives up on it (its
 * `--negotiation-timeout`), less a margin for the answer's trip: after
 * that the question is withdrawn, since an ACCEPT would come too late.
 */
export function negotiationDeadline(state: AgentState, askedAt: number): number {
  return askedAt + Math.max(0, state.negotiationTimeout - NEGOTIATION_MARGIN_MS);
}

/** How much before the server's deadline a NEGOTIATE question is withdrawn. */
const NEGOTIATION_MARGIN_MS = 1_000;

/** The earliest deadline of a NEGOTIATE question waiting, if any. */
export function nextQuestionDeadline(state: AgentState): number | undefined {
  let next: number | undefined;
  for (const question of state.questions) {
    if (question.about !== "NEGOTIATE") continue;
    const negotiation = state.negotiations.get(question.rq);
    if (negotiation?.state !== "asking") continue;
    const due = negotiationDeadline(state, negotiation.askedAt);
    if (next === undefined || due < next) next = due;
  }
  return next;
}

/** NEGOTIATE questions whose time ran out end, unanswered (the server gave up on them). */
function expireNegotiations(state: AgentState, turn: AgentTurn): void {
  for (const question of state.questions) {
    if (question.about !== "NEGOTIATE") continue;
    const negotiation = state.negotiations.get(question.rq);
    if (negotiation?.state !== "asking") continue;
    if (negotiationDeadline(state, negotiation.askedAt) > turn.at) continue;
    refuseNegotiation(
      state,
      turn,
      negotiation,
      "the question is withdrawn, not answered within the server's negotiation time",
    );
  }
}

function prompt(state: AgentState, turn: AgentTurn, question: Question): void {
  if (isPaymentQuestion(question)) {
    // Details typed ahead with `payment` belong to no transaction yet.
    const manual = state.interview?.manual === true;
    const waiting = manual ? undefined : state.transactions.get(state.waiting[0]!);
    const text = question.about === "CARD"
      ? manual
        ? "Card number (kept for this session, never stored):"
        : `Card number for ${waiting?.role ?? "buyer"} of ${waiting?.item ?? "the item"} (${
          formatMoney(waiting?.price ?? 0)
        }):`
      : question.about === "EXPIRY"
      ? "Expiry (MM/YY):"
      : "Address:";
    turn.print("prompt", text, {
      rq: question.rq,
      question: text,
      about: question.about,
      ...(manual ? {} : { item: waiting?.item, price: waiting?.price, role: waiting?.role }),
      secret: SECRET_QUESTIONS.has(question.about),
    });
    return;
  }
  if (question.about === "FOUND") {
    const request = state.requests.get(question.rq)!;
    const item = request.foundItem ?? request.item;
    const from = request.seller === undefined ? "" : ` from ${request.seller}`;
    const text = `Buy ${item} for ${formatMoney(request.price ?? 0)}${from}? [y/N]`;
    turn.print("prompt", text, {
      rq: request.rq,
      question: text,
      about: "FOUND",
      item,
      price: request.price,
      seller: request.seller,
    });
    return;
  }
  const negotiation = state.negotiations.get(question.rq)!;
  const item = state.items.get(negotiation.item.toLowerCase());
  const name = item?.item ?? negotiation.item;
  const yours = item ? ` (your price ${formatMoney(item.price)})` : "";
  const text = `A buyer offers ${
    formatMoney(negotiation.maxPrice)
  } for ${name}${yours}. Accept? [y/N]`;
  turn.print("prompt", text, {
    rq: negotiation.rq,
    question: text,
    about: "NEGOTIATE",
    item: name,
    maxPrice: negotiation.maxPrice,
    price: item?.price,
  });
}
