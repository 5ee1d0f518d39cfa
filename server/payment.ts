/**
 * Card checks and the payment step of a purchase. The processor is a small
 * interface so that a real gateway could stand in for the built-in one,
 * which approves every valid card (or, for tests, declines them all).
 *
 * @module
 */
import { maskCard } from "../protocol/mod.ts";

/** The server's share of every sale. */
export const FEE_RATE = 0.1;

/** Whether a card number passes the Luhn checksum. */
export function luhnValid(number: string): boolean {
  if (!/^[0-9]{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let digit = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** Whether an `MM/YY` expiry is this month or later. */
export function expiryValid(expiry: string, now: Date): boolean {
  const match = /^(0[1-9]|1[0-2])\/([0-9]{2})$/.exec(expiry);
  if (!match) return false;
  const month = Number(match[1]);
  const year = 2000 + Number(match[2]);
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth();
  return year * 12 + (month - 1) >= current;
}

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
  if (details.address.trim() === "") return `the ${role} gave no address`;
  return undefined;
}

/** Cents, rounded, so that sums are exact. */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** How a sale's price splits: the buyer pays it all, the seller gets 90%. */
export function split(price: number): { fee: number; sellerCredit: number } {
  const cents = toCents(price);
  const fee = Math.round(cents * FEE_RATE);
  return { fee: fee / 100, sellerCredit: (cents - fee) / 100 };
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
