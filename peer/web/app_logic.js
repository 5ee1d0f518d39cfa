// @ts-check
// The peer page's pure logic: formatting, the payment countdown, errors in
// words, and messages that speak to the page's own user. No DOM, no fetch:
// unit-tested beside it (app_logic_test.ts), served as /app_logic.js.

/** @typedef {import("./page_types.ts").HistoryEntry} HistoryEntry */
/** @typedef {import("./page_types.ts").PageOutput} PageOutput */

/**
 * What a page of a restarted peer says: its token changed, so this page
 * can do nothing more; the new address is printed by the peer.
 */
export const RESTARTED = "The peer restarted, so this page's token is no longer valid: " +
  'open the new address the peer printed when it started (the line "Page: http://…?token=…"), ' +
  "or start it again with shop peer --web";

/** What a page says when the peer does not answer at all. */
export const UNREACHABLE = "Cannot reach the peer: it may have stopped; " +
  "once it runs again, open the address it prints";

// The two decimals and the UTC time of both pages.
export { money, when } from "/common.js";

/**
 * The time left before a deadline, in words: `27 s left`, `1 min 05 s left`,
 * or `time is up`.
 *
 * @param {number} deadline ms since the epoch
 * @param {number} now ms since the epoch
 * @returns {string}
 */
export function timeLeft(deadline, now) {
  const seconds = Math.ceil((deadline - now) / 1000);
  if (seconds <= 0) return "time is up";
  if (seconds < 60) return `${seconds} s left`;
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s left`;
}

/**
 * The words of an action that failed: the peer's message, or what a
 * refusal of the page's gate means for its user.
 *
 * @param {number} status the HTTP status
 * @param {unknown} body the parsed JSON body, if any
 * @returns {string}
 */
export function errorText(status, body) {
  // The gate refuses a token it does not know: the peer started anew.
  if (status === 401) return RESTARTED;
  const error = typeof body === "object" && body !== null && "error" in body
    ? body.error
    : undefined;
  if (typeof error === "string" && error !== "") return error;
  if (status === 0) return UNREACHABLE;
  return `The peer refused this (HTTP ${status}): try again, or look at its terminal`;
}

/**
 * Escapes a string for a regular expression.
 *
 * @param {string} text
 * @returns {string}
 */
function literal(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A message as its own user should read it: the server's "the buyer bob"
 * is "you" on bob's page.
 *
 * @example speakToMe("Purchase of Lamp cancelled: the buyer bob did not answer in time", "bob")
 * // "Purchase of Lamp cancelled: you did not answer in time"
 * @param {string} text
 * @param {string | undefined} name this peer's name
 * @returns {string}
 */
export function speakToMe(text, name) {
  if (!name) return text;
  const me = new RegExp(`\\b([Tt])he (?:buyer|seller) ${literal(name)}(?![\\w-])('s)?`, "g");
  return text.replace(me, (_, t, owner) => {
    const word = owner ? "your" : "you";
    return t === "T" ? word.charAt(0).toUpperCase() + word.slice(1) : word;
  });
}

/**
 * Why a payment question went away unanswered, in words for its user,
 * from the events the peer printed (newest first): the CANCEL of its
 * transaction, when it came.
 *
 * @param {readonly PageOutput[]} log newest first
 * @param {string | undefined} name this peer's name
 * @returns {string}
 */
export function withdrawnText(log, name) {
  const cancel = log.find((entry) =>
    entry.event === "CANCEL" && typeof entry.fields.reason === "string"
  );
  const reason = cancel ? speakToMe(String(cancel.fields.reason), name) : "";
  const item = cancel && typeof cancel.fields.item === "string" ? ` for ${cancel.fields.item}` : "";
  return `The payment question${item} was withdrawn: ${
    reason || "the server closed the transaction"
  }. Nothing was paid; the sale is off, and you can carry on`;
}

/**
 * The totals of the history, summed in whole cents so they are exact.
 *
 * @param {readonly HistoryEntry[]} history
 */
export function historyTotals(history) {
  let purchases = 0, bought = 0, sales = 0, sold = 0, fees = 0, received = 0;
  const cents = (/** @type {number} */ amount) => Math.round(amount * 100);
  for (const entry of history) {
    if (entry.role === "buyer") {
      purchases++;
      bought += cents(entry.price);
    } else {
      sales++;
      sold += cents(entry.price);
      fees += cents(entry.fee);
      received += cents(entry.credit);
    }
  }
  return {
    purchases,
    bought: bought / 100,
    sales,
    sold: sold / 100,
    fees: fees / 100,
    received: received / 100,
  };
}

/**
 * Whether an event changes what is for sale in the market: a sale or a
 * purchase completed, or an item was listed, changed or withdrawn (a
 * cancelled sale changes nothing: the item stays for sale).
 *
 * @param {string} event
 * @returns {boolean}
 */
export function changesCatalogue(event) {
  return ["Shipping_Info", "bought", "sell", "edit", "price", "unsell"].includes(event);
}
