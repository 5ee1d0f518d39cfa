/**
 * How a sale's price splits between the server and the seller. The buyer
 * pays the whole price; the server keeps 10% of it (PROTOCOL.md), rounded
 * to the nearest cent with halves rounded up; the seller gets the rest.
 * Everything is computed in whole cents, so fee + seller's share is the
 * price exactly.
 *
 * @module
 */
import { fromCents, toCents } from "./money.ts";

export { fromCents, toCents };

/** The server's share of every sale. */
export const FEE_RATE = 0.1;

/** The fee in percent, for messages. */
export const FEE_PERCENT = 10;

/** A price split into the server's fee and the seller's share. */
export interface FeeSplit {
  /** The server's share. */
  readonly fee: number;
  /** What the seller is paid: the price less the fee. */
  readonly sellerShare: number;
}

/**
 * Splits a price into the server's fee and the seller's share.
 *
 * @example
 * ```ts
 * splitPrice(199.99); // { fee: 20, sellerShare: 179.99 }
 * ```
 */
export function splitPrice(price: number): FeeSplit {
  const cents = toCents(price);
  // 10% of whole cents: n / 10, halves up, done in integers.
  const fee = Math.floor((cents + 5) / 10);
  return { fee: fromCents(fee), sellerShare: fromCents(cents - fee) };
}
