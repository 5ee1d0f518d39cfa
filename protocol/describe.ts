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
 * four digits of the card and no expiry date.
 */
export function describe(message: Message): string {
  if (message.type === "INFORM_Res") {
    return `INFORM_Res ${message.rq} ${message.name} ${
      maskCard(message.card)
    } **/** ${message.address}`;
  }
  return encode(message);
}
