/**
 * Wire fields of the P2S2 protocol as zod codecs: each one decodes the text
 * token(s) seen on the wire into the typed value the program works with, and
 * encodes it back. Message schemas in `messages.ts` are built from these.
 *
 * @module
 */
import { z } from "zod";
import { amountProblem, formatPrice, MAX_PRICE, PRICE_TEXT, priceProblem } from "./money.ts";

export { formatPrice, MAX_PRICE };

/** Most characters a request token may have. */
export const MAX_RQ_LENGTH = 64;
/** Most characters a peer name may have. */
export const MAX_NAME_LENGTH = 32;
/** Most characters an item name may have. */
export const MAX_ITEM_LENGTH = 64;
/** Most characters of free text (description, reason, address). */
export const MAX_TEXT_LENGTH = 300;

/** The characters of a request token: printable ASCII without spaces. */
export const RQ_TEXT = /^[\x21-\x7e]+$/;

/** An opaque request token: printable ASCII without spaces. */
export const Rq = z.string().regex(
  RQ_TEXT,
  "expected a token of printable characters without spaces",
).max(MAX_RQ_LENGTH);

/** The characters of a peer name (see {@linkcode Name}). */
export const NAME_TEXT = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/**
 * A peer name. Names become file names (`<name>.kv`, `<name>.log`), so they
 * are restricted to letters, digits, `_` and `-`, starting with a letter or
 * digit.
 */
export const Name = z.string().regex(
  NAME_TEXT,
  "expected letters, digits, '_' or '-', starting with a letter or digit",
).max(MAX_NAME_LENGTH);

/**
 * An item name: one token of visible characters, in Unicode's composed form
 * (NFC). A classic peer may send "Cafe\u0301" for "Caf\u00e9": decoding
 * composes it, so either spelling finds the other, and the length limit
 * counts the composed name (composing can also lengthen a few characters).
 */
export const Item = z.codec(
  z.string(),
  z.string().regex(
    /^[^\s\p{C}]+$/u,
    "expected one word without spaces or control characters",
  ).max(MAX_ITEM_LENGTH),
  { decode: (text) => text.normalize("NFC"), encode: (name) => name.normalize("NFC") },
);

/**
 * Free text: words separated by single spaces, without control characters
 * (exactly what survives the trip through space-separated fields).
 */
export const Text = z.string().regex(
  /^([^\s\p{C}]+( [^\s\p{C}]+)*)?$/u,
  "expected words separated by single spaces, without control characters",
).max(MAX_TEXT_LENGTH);

/** Free text that must not be empty. */
export const RequiredText = Text.min(1, "must not be empty");

/** An IPv4 or IPv6 address as a peer announces it. */
export const Ip = z.union([z.ipv4(), z.ipv6()], {
  error: "expected an IPv4 or IPv6 address like 127.0.0.1",
});

/** A port as written on the wire (its range is checked on the number). */
export const PORT_TEXT = /^[0-9]{1,5}$/;

/** A port number 1-65535 written in decimal. */
export const Port = z.codec(
  z.string().regex(PORT_TEXT, "expected a port number like 5000"),
  z.int().min(1, "port must be 1 to 65535").max(
    65535,
    "port must be 1 to 65535",
  ),
  { decode: (text) => Number(text), encode: (port) => String(port) },
);

/**
 * A price: a decimal number of whole cents, at least 0.01 and at most
 * {@linkcode MAX_PRICE}: `500`, `500.0`, `499.99` (the rules of
 * `money.ts`, which the peer's commands use too).
 */
export const Price = z.codec(
  z.string().regex(
    PRICE_TEXT,
    "expected a non-negative decimal number like 499.99",
  ).superRefine((text, ctx) => {
    const problem = priceProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: text });
  }),
  z.number().superRefine((price, ctx) => {
    const problem = amountProblem(price);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: price });
  }),
  { decode: (text) => Number(text), encode: formatPrice },
);

/** Largest count on the wire (a quantity, a sequence number, a catalogue index). */
export const MAX_COUNT = 1e15;

/** A non-negative whole number written in decimal: `0`, `3`, `1719000000000`. */
export const Count = z.codec(
  z.string().regex(/^[0-9]{1,16}$/, "expected a whole number like 3"),
  z.int().nonnegative("must not be negative").max(MAX_COUNT, `must be at most ${MAX_COUNT}`),
  { decode: (text) => Number(text), encode: (count) => String(count) },
);

/**
 * Most units one listing may offer: what our peer's `sell --quantity` takes,
 * and far within every store's whole-number column (a bigger quantity
 * would be a commit no store can make).
 */
export const MAX_QUANTITY = 999_999;

/** How many units a listing offers: 0 (withdrawn) to {@linkcode MAX_QUANTITY}. */
export const Quantity = z.codec(
  z.string().regex(/^[0-9]{1,16}$/, "expected a whole number like 3"),
  z.int().nonnegative("must not be negative").max(
    MAX_QUANTITY,
    `must be at most ${MAX_QUANTITY}`,
  ),
  { decode: (text) => Number(text), encode: (count) => String(count) },
);

/** One line of the offer book's catalogue: an item's lowest price, sellers and quantity. */
export interface CatalogueEntry {
  readonly item: string;
  readonly price: number;
  readonly sellers: number;
  readonly quantity: number;
}

const ENTRY_TEXT =
  /^([^\s\p{C}]+ [0-9]{1,10}(\.[0-9]{1,6})? [0-9]{1,16} [0-9]{1,16}( [^\s\p{C}]+ [0-9]{1,10}(\.[0-9]{1,6})? [0-9]{1,16} [0-9]{1,16})*)?$/u;

/**
 * The catalogue's entries as groups of four words, `item price sellers
 * quantity`, one group after another (extension `book`).
 */
export const CatalogueEntries = z.codec(
  z.string().regex(ENTRY_TEXT, "expected groups of item, price, sellers and quantity"),
  z.array(z.object({
    item: Item,
    price: z.number().nonnegative().max(MAX_PRICE),
    sellers: z.int().nonnegative(),
    quantity: z.int().nonnegative(),
  })),
  {
    decode: (text) => {
      const words = text === "" ? [] : text.split(" ");
      const entries: CatalogueEntry[] = [];
      for (let i = 0; i + 3 < words.length; i += 4) {
        entries.push({
          item: words[i]!,
          price: Number(words[i + 1]),
          sellers: Number(words[i + 2]),
          quantity: Number(words[i + 3]),
        });
      }
      return entries;
    },
    encode: (entries) =>
      entries.map((entry) =>
        `${entry.item} ${formatPrice(entry.price)} ${entry.sellers} ${entry.quantity}`
      ).join(" "),
  },
);

/** The token that opens the extension list of our own peers and server. */
export const EXTENSION_MARKER = "shop/1";

/**
 * The extensions our peers offer in REGISTER and our server accepts in
 * REGISTERED, as trailing words after the classic fields: `shop/1` and then
 * feature names. Classic peers and servers never send them; see PROTOCOL.md,
 * "Negotiation: the `shop/1` marker in REGISTER".
 */
export const Extensions = z.codec(
  z.string().regex(
    /^(shop\/1( [a-z][a-z0-9-]{0,31}(=[A-Za-z0-9_-]{1,700})?){0,16})?$/,
    "expected no more fields (only our own peers add extensions, starting with shop/1)",
  ),
  z.array(z.string()).optional(),
  {
    decode: (text) => text === "" ? undefined : text.split(" ").slice(1),
    encode: (features) => features === undefined ? "" : [EXTENSION_MARKER, ...features].join(" "),
  },
);

/** An address cookie of our server: an epoch in base 36 and a 22-character tag. */
export const Cookie = z.string().regex(
  /^[0-9a-z]{1,11}[A-Za-z0-9_-]{22}$/,
  "expected a cookie as the server gave it",
);

/** Fields whose values must never be quoted in errors or logs. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(["card", "expiry"]);
