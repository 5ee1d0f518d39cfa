/**
 * The one place of the price rules, for the wire codec (`Price` in
 * `fields.ts`) and the peer's commands alike: a price is a decimal number of
 * at most two decimals (trailing zeros beyond them allowed: `25.500` is
 * 25.50), at least one cent and at most {@linkcode MAX_PRICE}.
 *
 * Prices are carried as JavaScript numbers, but only numbers that are a
 * whole number of cents (`cents / 100`, the nearest double): below
 * {@linkcode MAX_PRICE} every cent has its own double, so `===`, `<` and
 * `>=` between two such numbers compare their cents exactly. Sums and the
 * fee split convert to whole cents first ({@linkcode toCents}), since a sum
 * of doubles would drift (`0.1 + 0.2`).
 *
 * @module
 */

/** Largest price accepted, so that cents stay exact in a double. */
export const MAX_PRICE = 1_000_000_000;

/** Smallest price accepted: one cent. */
export const MIN_PRICE = 0.01;

/** A decimal number as the wire writes it (at most 10 integer digits and 6 decimals). */
export const PRICE_TEXT = /^[0-9]{1,10}(\.[0-9]{1,6})?$/;

/** Decimals beyond the second that are all zeros, or none. */
const WHOLE_CENTS = /^[0-9]+(\.[0-9]{1,2}0*)?$/;

/** An amount in whole cents. */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** Whole cents as an amount. */
export function fromCents(cents: number): number {
  return cents / 100;
}

/**
 * What is wrong with a price written as decimal text, if anything.
 *
 * @returns `undefined` for a good price, else the reason, ready to follow
 * `Cannot use price "…": `.
 * @example
 * ```ts
 * priceProblem("24.99"); // undefined
 * priceProblem("0.000001"); // "at most 2 decimals, like 24.99"
 * ```
 */
export function priceProblem(text: string): string | undefined {
  if (!PRICE_TEXT.test(text)) return "expected a decimal number like 24.99";
  if (!WHOLE_CENTS.test(text)) return "at most 2 decimals, like 24.99";
  return amountProblem(Number(text));
}

/** What is wrong with a price as a number (one to encode), if anything. */
export function amountProblem(price: number): string | undefined {
  if (!Number.isFinite(price)) return "expected a number";
  if (price < MIN_PRICE) return "must be at least 0.01";
  if (price > MAX_PRICE) return `must be at most ${MAX_PRICE}`;
  if (Math.abs(price * 100 - toCents(price)) > 1e-3) return "at most 2 decimals, like 24.99";
  return undefined;
}

/**
 * Reads a price as a user types it, by the same rules as the wire.
 *
 * @throws {RangeError} `Cannot use price "0.000001": at most 2 decimals, like 24.99`.
 */
export function parsePrice(text: string): number {
  const problem = priceProblem(text);
  if (problem !== undefined) {
    throw new RangeError(`Cannot use price ${JSON.stringify(text)}: ${problem}`);
  }
  return fromCents(toCents(Number(text)));
}

/** Writes a price the way classic peers expect: `500`, `499.99`, `0.5`. */
export function formatPrice(price: number): string {
  return String(fromCents(toCents(price)));
}

/**
 * Writes an amount for people, always with two decimals: `500.00`, `22.50`.
 * Every amount a peer shows (its views, its events, its log) is written so;
 * the wire keeps {@linkcode formatPrice}'s shortest form.
 *
 * @example
 * ```ts
 * formatMoney(22.5); // "22.50"
 * ```
 */
export function formatMoney(amount: number): string {
  const cents = toCents(amount);
  const sign = cents < 0 ? "-" : "";
  const whole = Math.abs(cents);
  return `${sign}${Math.floor(whole / 100)}.${String(whole % 100).padStart(2, "0")}`;
}
