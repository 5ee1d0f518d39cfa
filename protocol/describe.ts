/**
 * Renders messages for logs and screens with card data hidden.
 *
 * @module
 */
import { encode } from "./codec.ts";
import type { Message } from "./messages.ts";

/** The last four digits of a card number behind asterisks. */
export function maskCard(card: string): string {
  return card.length <= 4 ? "****" : `${"*".repeat(card.length - 4)}${card.slice(-4)}`;
}

/**
 * The message as wire text, except that an INFORM_Res shows only the last
 * four digits of the card and no expiry date, and a registration's long
 * tokens (keys, signature, cookie) only their start.
 */
export function describe(message: Message): string {
  if (message.type === "INFORM_Res") {
    return `INFORM_Res ${message.rq} ${message.name} ${
      maskCard(message.card)
    } **/** ${message.address}`;
  }
  if ((message.type === "REGISTER" || message.type === "REGISTERED") && message.extensions) {
    // Keys, signatures and cookies cut short: a log must not hold a
    // registration that could be sent again.
    return encode(message).replace(
      LONG_TOKEN,
      (_, name: string, value: string) => ` ${name}${value.slice(0, 8)}…`,
    );
  }
  return encode(message);
}

/** A `name=value` token whose value is longer than 16 characters. */
const LONG_TOKEN = / ([a-z]+=)([^ ]{17,})/g;
