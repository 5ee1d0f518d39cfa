/**
 * Small value types that several of the agent's modules share: the keys an
 * agent holds and the questions it asks. They live in this leaf module, which
 * imports nothing, so that `state.ts`, `effects.ts` and `questions.ts` need
 * not import each other (`deno task check` refuses import cycles).
 *
 * @module
 */

/** A public key as the wire carries it, and its short fingerprint. */
export interface KeyInfo {
  /** base64url of the raw P-256 point. */
  readonly key: string;
  readonly fingerprint: string;
}

/** The payment details asked for, one line each, in this order. */
export type PaymentQuestion = "CARD" | "EXPIRY" | "ADDRESS";

/** A question waiting for the user's next input line. */
export interface Question {
  readonly about: "FOUND" | "NEGOTIATE" | PaymentQuestion;
  /**
   * The request's RQ#: the buyer's for FOUND, the server's for NEGOTIATE,
   * the transaction's (INFORM_Req) for payment details.
   */
  readonly rq: string;
}
