/**
 * The messages the market sends about a search, built from its record: so
 * a first answer, a repeat after a retransmission and a resend after a
 * restart are the same message.
 *
 * @module
 */
import type { Message } from "../protocol/mod.ts";
import type { RequestRecord } from "./records.ts";

/** What a buyer asked for, as NOT_FOUND and NOT_AVAILABLE echo it. */
export interface Ask {
  readonly buyerRq: string;
  readonly item: string;
  readonly maxPrice: number;
}

/**
 * NOT_FOUND (no seller came down to the price) or NOT_AVAILABLE (nobody
 * offered) to a buyer; NOT_AVAILABLE with `silentPrice` (only for a buyer
 * with `book`) says a listing at that price went unanswered.
 */
export function noDeal(
  type: "NOT_FOUND" | "NOT_AVAILABLE",
  ask: Ask,
  options: { silentPrice?: number | undefined } = {},
): Message {
  const { silentPrice } = options;
  return {
    type,
    rq: ask.buyerRq,
    item: ask.item,
    maxPrice: ask.maxPrice,
    ...(type === "NOT_AVAILABLE" && silentPrice !== undefined ? { silentPrice } : {}),
  };
}

/**
 * CANCEL of a purchase: to the seller under the server's RQ# (it releases
 * the item), to the buyer under its own RQ#. The price is the agreed one
 * unless given.
 */
export function cancel(
  request: RequestRecord,
  to: "seller" | "buyer",
  price = request.price!,
): Message {
  const rq = to === "seller" ? request.id : request.buyerRq;
  return { type: "CANCEL", rq, item: request.item, price };
}

/** NEGOTIATE: asks the chosen seller to come down to the buyer's max. */
export function negotiate(request: RequestRecord): Message {
  return { type: "NEGOTIATE", rq: request.id, item: request.item, maxPrice: request.maxPrice };
}

/** RESERVE: tells the seller to hold the item for the buyer at the agreed price. */
export function reserve(request: RequestRecord): Message {
  return { type: "RESERVE", rq: request.id, item: request.item, price: request.price! };
}

/**
 * What the buyer has been told of a search, to repeat after a
 * retransmission; `undefined` while there is nothing to tell yet.
 *
 * @param namesSeller Whether the buyer speaks `from` (FOUND names the seller).
 * @param options.book Whether the buyer speaks `book` (NOT_AVAILABLE tells of a silent lister).
 */
export function buyerView(
  request: RequestRecord,
  namesSeller: boolean,
  options: { book?: boolean } = {},
): Message | undefined {
  switch (request.state) {
    case "found":
    case "buying":
    case "bought": {
      const { buyerRq: rq, item, price } = request;
      return {
        type: "FOUND",
        rq,
        item,
        price: price!,
        ...(namesSeller ? { seller: request.seller! } : {}),
      };
    }
    case "not_available":
      return noDeal("NOT_AVAILABLE", request, silentFor(request, options.book ?? false));
    case "not_found":
      return noDeal("NOT_FOUND", request);
    case "cancelled":
      return request.price === undefined
        ? noDeal("NOT_AVAILABLE", request)
        : cancel(request, "buyer");
    default:
      return undefined;
  }
}

/** What NOT_AVAILABLE says of a silent lister: only to a buyer with `book`. */
export function silentFor(request: RequestRecord, book: boolean): { silentPrice?: number } {
  return book && request.silentPrice !== undefined ? { silentPrice: request.silentPrice } : {};
}
