/**
 * The one place of the card, expiry and address rules, for both sides: the
 * wire fields of INFORM_Res (`CardNumber`, `CardExpiry`), the normalizing
 * schemas for what a user types or puts in a `--payment` file (`Card`,
 * `Expiry`, `PostalAddress`), and the server's checks before it charges
 * (`luhnValid`, `expiryValid`, `hasAddress`).
 *
 * @module
 */
import { z } from "zod";
import { MAX_TEXT_LENGTH } from "./fields.ts";

/** A card number's digits: 12 to 19. */
const CARD_DIGITS = /^[0-9]{12,19}$/;
/** A card's expiry: `MM/YY`. */
const EXPIRY_TEXT = /^(0[1-9]|1[0-2])\/([0-9]{2})$/;
/** Most bytes an address may take, so that INFORM_Res stays within one message. */
const MAX_ADDRESS_BYTES = 1000;
const utf8 = new TextEncoder();

/**
 * A card number as sent in INFORM_Res: digits only. Looser than
 * {@linkcode Card} (classic peers send short test numbers); the server
 * checks it with {@linkcode luhnValid} before charging.
 */
export const CardNumber = z.string().regex(/^[0-9]{8,19}$/, "expected 8 to 19 digits");

/** A card expiry date as sent in INFORM_Res: `MM/YY`. */
export const CardExpiry = z.string().regex(EXPIRY_TEXT, "expected a month and year like 04/29");

/** A card number as typed: 12 to 19 digits, spaces and dashes between them ignored. */
export const Card = z.string().transform((text) => text.trim().replace(/[ -]/g, "")).pipe(
  z.string().regex(CARD_DIGITS, "expected 12 to 19 digits"),
);

/** A card's expiry date as typed: `MM/YY`, spaces around it ignored. */
export const Expiry = z.string().transform((text) => text.trim()).pipe(CardExpiry);

/** An address with its runs of white space made single, trimmed. */
function normalizeAddress(text: string): string {
  return text.trim().split(/\s+/).filter((word) => word !== "").join(" ");
}

/** A postal address: one line of text, its runs of spaces made single. */
export const PostalAddress = z.string()
  .refine((text) => !/[\r\n\u2028\u2029]/.test(text), "expected one line of text")
  .transform(normalizeAddress)
  .pipe(
    z.string()
      .min(1, "must not be empty")
      .max(MAX_TEXT_LENGTH, `expected at most ${MAX_TEXT_LENGTH} characters`)
      .regex(/^[^\p{C}]*$/u, "expected text without control characters")
      .refine(
        (text) => utf8.encode(text).length <= MAX_ADDRESS_BYTES,
        `expected at most ${MAX_ADDRESS_BYTES} bytes`,
      ),
  );

/** Whether an address says anything at all (the least a server asks of one). */
export function hasAddress(text: string): boolean {
  return normalizeAddress(text) !== "";
}

/** Whether a card number passes the Luhn checksum. */
export function luhnValid(number: string): boolean {
  if (!CARD_DIGITS.test(number)) return false;
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
  const match = EXPIRY_TEXT.exec(expiry);
  if (!match) return false;
  const month = Number(match[1]);
  const year = 2000 + Number(match[2]);
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth();
  return year * 12 + (month - 1) >= current;
}
