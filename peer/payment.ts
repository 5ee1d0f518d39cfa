/**
 * The payment details a peer sends in INFORM_Res: from `--payment FILE` or
 * typed when the server asks. They live only in memory: never stored, never
 * printed or logged except as the card's last four digits.
 *
 * @module
 */
import { z } from "zod";
import { Card, Expiry, expiryValid, luhnValid, PostalAddress } from "../protocol/payment.ts";
import { LOOKS_SECRET } from "./commands.ts";

// The rules themselves live in protocol/payment.ts, shared with the server.
export { Card, Expiry, PostalAddress };

/** The contents of a `--payment` file. */
export const PaymentDetails = z.strictObject({
  card: Card,
  expiry: Expiry,
  address: PostalAddress,
});

/** A peer's payment details, normalized: the card as bare digits. */
export type PaymentDetails = z.output<typeof PaymentDetails>;

/** The outcome of reading payment details. */
export type PaymentResult =
  | { readonly ok: true; readonly details: PaymentDetails }
  | { readonly ok: false; readonly error: string };

/**
 * The first problem zod found, naming the field and never its value (it may
 * be a card number).
 */
export function describeIssue(error: z.ZodError, what = ""): string {
  const issue = error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join(".") : what;
  if (issue.code === "unrecognized_keys") {
    return `unknown field${issue.keys.length === 1 ? "" : "s"} ${
      issue.keys.map((key) => JSON.stringify(key)).join(", ")
    }: expected only card, expiry and address`;
  }
  if (issue.code === "invalid_type" && issue.path.length > 0) {
    return `${field} is missing or not a string`;
  }
  if (issue.code === "invalid_type") {
    return `expected a JSON object like {"card": "…", "expiry": "MM/YY", "address": "…"}`;
  }
  return field === "" ? issue.message : `${field}: ${issue.message}`;
}

/** What each detail is called when a typed one is not valid. */
const DETAIL_NAMES = {
  card: "the card number",
  expiry: "the card expiry",
  address: "the address",
} as const;

/** Why the server would refuse a well-formed card or expiry (protocol/payment.ts), if it would. */
function refusal(detail: keyof PaymentDetails, value: string, now: Date): string | undefined {
  if (detail === "card" && !luhnValid(value)) {
    return "its check digit is wrong (Luhn), so a digit is mistyped";
  }
  if (detail === "expiry" && !expiryValid(value, now)) return "the card has expired";
  // Card, expiry and security code pasted in one go: the code (or the card
  // again) lands at the address question, and an address is shown, stored
  // and sent to the other party.
  if (detail === "address" && LOOKS_SECRET.test(value)) {
    return "it is digits only, like a card number, expiry or security code; " +
      "expected a street and town";
  }
  return undefined;
}

/**
 * Checks one payment detail as typed at its question, by the rules the
 * server checks (the card's Luhn digit, an expiry not past), so that a typo
 * is caught while it can be typed again.
 *
 * @param now The time, for the expiry.
 * @returns The normalized detail, or why it is not valid (never quoting it).
 */
export function parseDetail(
  detail: keyof PaymentDetails,
  text: string,
  now: Date = new Date(),
): { readonly ok: true; readonly value: string } | { readonly ok: false; readonly error: string } {
  const schema = detail === "card" ? Card : detail === "expiry" ? Expiry : PostalAddress;
  const parsed = schema.safeParse(text);
  if (!parsed.success) {
    return {
      ok: false,
      error: `${DETAIL_NAMES[detail]} is not valid: ${describeIssue(parsed.error)}`,
    };
  }
  const why = refusal(detail, parsed.data, now);
  return why === undefined
    ? { ok: true, value: parsed.data }
    : { ok: false, error: `${DETAIL_NAMES[detail]} is not valid: ${why}` };
}

/**
 * Checks payment details given as JSON text, by the rules the server
 * checks too (the card's Luhn digit, an expiry not past).
 *
 * @param now The time, for the expiry.
 * @returns The normalized details, or what is wrong with them.
 */
export function parsePaymentJson(text: string, now: Date = new Date()): PaymentResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which may hold the card number.
    return {
      ok: false,
      error: `not valid JSON: expected {"card": "…", "expiry": "MM/YY", "address": "…"}`,
    };
  }
  const parsed = PaymentDetails.safeParse(value);
  if (!parsed.success) return { ok: false, error: describeIssue(parsed.error) };
  for (const detail of ["card", "expiry", "address"] as const) {
    const why = refusal(detail, parsed.data[detail], now);
    if (why !== undefined) return { ok: false, error: `${detail}: ${why}` };
  }
  return { ok: true, details: parsed.data };
}

/**
 * Reads a `--payment` file once. Its problems (missing, unreadable, not
 * JSON, a field of the wrong form) come back as an error message that
 * names the option, fit for a usage error.
 *
 * @param path The file, JSON like `{"card": "4111…", "expiry": "04/29", "address": "42 Main St"}`.
 */
export async function readPaymentFile(
  path: string,
  now: Date = new Date(),
): Promise<PaymentResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (error as Error).message;
    return { ok: false, error: `--payment ${JSON.stringify(path)}: cannot read it: ${why}` };
  }
  const parsed = parsePaymentJson(text, now);
  return parsed.ok
    ? parsed
    : { ok: false, error: `--payment ${JSON.stringify(path)}: ${parsed.error}` };
}
