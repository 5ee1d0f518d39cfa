/**
 * The payment details a peer sends in INFORM_Res: from `--payment FILE` or
 * typed when the server asks. They live only in memory: never stored, never
 * printed or logged except as the card's last four digits.
 *
 * @module
 */
import { z } from "zod";
import { MAX_TEXT_LENGTH } from "../protocol/mod.ts";

/** Most bytes an address may take, so that INFORM_Res stays within one message. */
const MAX_ADDRESS_BYTES = 1000;
const utf8 = new TextEncoder();

/** A card number: 12 to 19 digits, spaces and dashes between them ignored. */
export const Card = z.string().transform((text) => text.trim().replace(/[ -]/g, "")).pipe(
  z.string().regex(/^[0-9]{12,19}$/, "expected 12 to 19 digits"),
);

/** A card's expiry date: `MM/YY`. */
export const Expiry = z.string().transform((text) => text.trim()).pipe(
  z.string().regex(/^(0[1-9]|1[0-2])\/[0-9]{2}$/, "expected a month and year like 04/29"),
);

/** A postal address: one line of text, its runs of spaces made single. */
export const PostalAddress = z.string()
  .refine((text) => !/[\r\n\u2028\u2029]/.test(text), "expected one line of text")
  .transform((text) => text.trim().split(/\s+/).filter((word) => word !== "").join(" "))
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

/**
 * Checks payment details given as JSON text.
 *
 * @returns The normalized details, or what is wrong with them.
 */
export function parsePaymentJson(text: string): PaymentResult {
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
  return parsed.success
    ? { ok: true, details: parsed.data }
    : { ok: false, error: describeIssue(parsed.error) };
}

/**
 * Reads a `--payment` file once. Its problems (missing, unreadable, not
 * JSON, a field of the wrong form) come back as an error message that
 * names the option, fit for a usage error.
 *
 * @param path The file, JSON like `{"card": "4111…", "expiry": "04/29", "address": "42 Main St"}`.
 */
export async function readPaymentFile(path: string): Promise<PaymentResult> {
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
  const parsed = parsePaymentJson(text);
  return parsed.ok
    ? parsed
    : { ok: false, error: `--payment ${JSON.stringify(path)}: ${parsed.error}` };
}
