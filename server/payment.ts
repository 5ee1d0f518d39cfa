/**
 * Card checks and the payment step of a purchase. The processor is a small
 * interface so that a real gateway could stand in for the built-in one,
 * which approves every valid card (or, for tests, declines them all).
 *
 * @module
 */
import { maskCard } from "../protocol/mod.ts";
import { expiryValid, hasAddress, luhnValid } from "../protocol/payment.ts";

// The card and expiry rules live in protocol/payment.ts, shared with the peer.
export { expiryValid, luhnValid };

/** A party's payment details as they arrived in INFORM_Res. */
export interface PaymentDetails {
  readonly name: string;
  readonly card: string;
  readonly expiry: string;
  readonly address: string;
}

/**
 * Checks one party's details.
 *
 * @returns Why they are unusable (naming the party, never the card), or
 *   `undefined` when they are fine.
 */
export function checkDetails(
  role: "buyer" | "seller",
  details: PaymentDetails,
  now: Date,
): string | undefined {
  if (!luhnValid(details.card)) {
    return `the ${role}'s card number ${maskCard(details.card)} is invalid`;
  }
  if (!expiryValid(details.expiry, now)) return `the ${role}'s card has expired`;
  if (!hasAddress(details.address)) return `the ${role} gave no address`;
  return undefined;
}

/** What the processor is asked to do. */
export interface ChargeRequest {
  /** Unique per transaction: a processor must not charge one key twice. */
  readonly key: string;
  readonly amount: number;
  readonly buyer: PaymentDetails;
  readonly seller: PaymentDetails;
}

/** The processor's answer. */
export type ChargeResult =
  | { readonly approved: true }
  | { readonly approved: false; readonly reason: string };

/** Charges buyers and credits sellers. */
export interface PaymentProcessor {
  charge(request: ChargeRequest): Promise<ChargeResult>;
}

/** The built-in processor: approves every charge (cards are checked before). */
export const approveAll: PaymentProcessor = {
  charge: () => Promise.resolve({ approved: true }),
};

/** A processor that declines every charge (`--decline-cards`, for tests). */
export const declineAll: PaymentProcessor = {
  charge: () => Promise.resolve({ approved: false, reason: "the card was declined" }),
};
