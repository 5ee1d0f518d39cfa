/**
 * The peer's interactive commands: one line of input in, a typed command or
 * an error that says what to type out. Each command's usage and help text
 * live in its entry of {@linkcode COMMANDS}.
 *
 * @module
 */
import { z } from "zod";
import { Item, MAX_ITEM_LENGTH, MAX_PRICE, MAX_TEXT_LENGTH, Text } from "../protocol/mod.ts";
import { priceProblem } from "../protocol/money.ts";
import { splitWords } from "./shell_words.ts";

interface CommandSpec<S extends z.ZodType> {
  readonly usage: string;
  readonly summary: string;
  /** Validates the words after the command name. */
  readonly args: S;
}

function spec<S extends z.ZodType>(
  usage: string,
  summary: string,
  args: S,
): CommandSpec<S> {
  return { usage, summary, args };
}

const none = z.tuple([], { error: "takes no arguments" });

/** Thrown inside an argument parser; becomes the command's error message. */
class ArgumentError extends Error {}

/**
 * Builds an argument schema from a function that reads the words and throws
 * {@linkcode ArgumentError} with a message that says what is wrong.
 */
function words<T>(read: (words: readonly string[]) => T) {
  return z.array(z.string()).transform((input, ctx): T => {
    try {
      return read(input);
    } catch (error) {
      if (!(error instanceof ArgumentError)) throw error;
      ctx.addIssue({ code: "custom", message: error.message, input });
      return z.NEVER;
    }
  });
}

function required(word: string | undefined, what: string): string {
  if (word === undefined) throw new ArgumentError(`missing ${what}`);
  if (word.startsWith("--")) {
    throw new ArgumentError(`expected ${what} before any option, got ${JSON.stringify(word)}`);
  }
  return word;
}

function item(word: string | undefined): string {
  const text = required(word, "ITEM");
  if (text.length > MAX_ITEM_LENGTH) {
    throw new ArgumentError(
      `item ${JSON.stringify(text)} is too long: at most ${MAX_ITEM_LENGTH} characters`,
    );
  }
  const parsed = Item.safeParse(text);
  if (!parsed.success) {
    throw new ArgumentError(
      `item ${JSON.stringify(text)} is not valid: ${parsed.error.issues[0]!.message}`,
    );
  }
  return parsed.data;
}

function price(word: string | undefined, what: string): number {
  const text = required(word, what);
  const quoted = JSON.stringify(text);
  // A number the wire cannot carry is refused for its size or sign, not as
  // if it were no number at all.
  if (/^[0-9]+(\.[0-9]+)?$/.test(text) && Number(text) > MAX_PRICE) {
    throw new ArgumentError(`${what} ${quoted} is over the maximum ${MAX_PRICE}`);
  }
  if (/^-[0-9]+(\.[0-9]+)?$/.test(text)) {
    throw new ArgumentError(`${what} ${quoted} is negative: a price is at least 0.01`);
  }
  // The usual ways of writing money that are not ours get their own hint.
  const typed = typedMoneyProblem(text);
  if (typed !== undefined) throw new ArgumentError(`${what} ${quoted} is not a price: ${typed}`);
  // The rules are the wire's (protocol/money.ts), so what is typed can be sent.
  const problem = priceProblem(text);
  if (problem !== undefined) {
    throw new ArgumentError(`${what} ${quoted} is not a price: ${problem}`);
  }
  return Number(text);
}

/** A price written with a currency sign, a decimal comma or thousands separators. */
function typedMoneyProblem(text: string): string | undefined {
  const bare = text.replace(/^[$€£¥]|[$€£¥]$/u, "");
  if (bare !== text && /^[0-9][0-9.,]*$/.test(bare)) {
    return `write the number alone, without ${JSON.stringify(text.replace(bare, ""))}, like ${
      bare.replaceAll(",", "")
    }`;
  }
  if (/^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$/.test(text)) {
    return `write it without separators, like ${text.replaceAll(",", "")}`;
  }
  if (/^[0-9]+,[0-9]{1,2}$/.test(text)) {
    return `write the cents after a dot, like ${text.replace(",", ".")}`;
  }
  return undefined;
}

/** The remaining words as one description, single-spaced. */
function description(rest: readonly string[]): string {
  const text = rest.join(" ").split(/\s+/).filter((word) => word !== "").join(" ");
  if (text.length > MAX_TEXT_LENGTH) {
    throw new ArgumentError(
      `the description is too long: at most ${MAX_TEXT_LENGTH} characters, not ${text.length}`,
    );
  }
  const parsed = Text.safeParse(text);
  if (!parsed.success) {
    throw new ArgumentError(`the description is not valid: ${parsed.error.issues[0]!.message}`);
  }
  return text;
}

/** The value of `--floor` or `--quantity`, or what to type when it is missing. */
function optionValue(name: string, value: string | undefined): string {
  if (value !== undefined) return value;
  throw new ArgumentError(
    name === "floor"
      ? "--floor needs a price, like --floor 400"
      : "--quantity needs a count, like --quantity 3",
  );
}

/** A `--quantity` value: a whole number from 1 to 999999 (the wire's bound). */
function quantityOf(value: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(value)) {
    throw new ArgumentError(
      `quantity ${JSON.stringify(value)} is not valid: expected a whole number from 1 to 999999`,
    );
  }
  return Number(value);
}

/** `sell ITEM PRICE [DESCRIPTION...] [--floor PRICE] [--quantity N]` */
const sellArgs = words((input) => {
  const [itemWord, priceWord, ...tail] = input;
  const parsedItem = item(itemWord);
  const parsedPrice = price(priceWord, "PRICE");
  const rest: string[] = [];
  let floor: number | undefined;
  let quantity: number | undefined;
  for (let i = 0; i < tail.length; i++) {
    const word = tail[i]!;
    const option = word.match(/^--(floor|quantity)(?:=(.*))?$/);
    if (!option) {
      if (word.startsWith("--")) {
        throw new ArgumentError(
          `unknown option ${JSON.stringify(word)}: the options are --floor and --quantity`,
        );
      }
      rest.push(word);
      continue;
    }
    const name = option[1]!;
    const value = optionValue(name, option[2] ?? tail[++i]);
    if (name === "floor") {
      if (floor !== undefined) throw new ArgumentError("give --floor only once");
      floor = price(value, "floor");
    } else {
      if (quantity !== undefined) throw new ArgumentError("give --quantity only once");
      quantity = quantityOf(value);
    }
  }
  return {
    item: parsedItem,
    price: parsedPrice,
    description: description(rest),
    ...(floor === undefined ? {} : { floor }),
    ...(quantity === undefined ? {} : { quantity }),
  } as { item: string; price: number; description: string; floor?: number; quantity?: number };
});

/** `browse [PREFIX]` */
const browseArgs = words((input) => {
  const [prefix, ...rest] = input;
  if (rest.length > 0) throw new ArgumentError("takes one PREFIX only");
  return { prefix: prefix === undefined ? "" : item(prefix) };
});

/** `price ITEM PRICE [--floor PRICE | --no-floor]` */
const priceArgs = words((input) => {
  const [itemWord, priceWord, ...tail] = input;
  const parsedItem = item(itemWord);
  const parsedPrice = price(priceWord, "PRICE");
  let floor: number | null | undefined;
  for (let i = 0; i < tail.length; i++) {
    const word = tail[i]!;
    if (floor !== undefined) throw new ArgumentError("give --floor or --no-floor only once");
    if (word === "--no-floor") floor = null;
    else if (word === "--floor") floor = price(tail[++i], "floor");
    else if (word.startsWith("--floor=")) floor = price(word.slice("--floor=".length), "floor");
    else throw new ArgumentError(`unexpected ${JSON.stringify(word)}: only --floor or --no-floor`);
  }
  return { item: parsedItem, price: parsedPrice, floor };
});

/** `edit ITEM PRICE [DESCRIPTION...] [--floor PRICE|--no-floor] [--quantity N]` */
const editArgs = words((input) => {
  const [itemWord, priceWord, ...tail] = input;
  const parsedItem = item(itemWord);
  const parsedPrice = price(priceWord, "PRICE");
  const rest: string[] = [];
  let floor: number | null | undefined;
  let quantity: number | undefined;
  for (let i = 0; i < tail.length; i++) {
    const word = tail[i]!;
    const option = word.match(/^--(floor|no-floor|quantity)(?:=(.*))?$/);
    if (!option) {
      if (word.startsWith("--")) {
        throw new ArgumentError(
          `unknown option ${
            JSON.stringify(word)
          }: the options are --floor, --no-floor and --quantity`,
        );
      }
      rest.push(word);
      continue;
    }
    const name = option[1]!;
    if (name === "no-floor") {
      if (floor !== undefined) throw new ArgumentError("give --floor or --no-floor only once");
      floor = null;
      continue;
    }
    const value = optionValue(name, option[2] ?? tail[++i]);
    if (name === "floor") {
      if (floor !== undefined) throw new ArgumentError("give --floor or --no-floor only once");
      floor = price(value, "floor");
    } else {
      if (quantity !== undefined) throw new ArgumentError("give --quantity only once");
      quantity = quantityOf(value);
    }
  }
  return {
    item: parsedItem,
    price: parsedPrice,
    // Words given (an empty one too) replace the description; none keep it.
    description: rest.length === 0 ? undefined : description(rest),
    floor,
    quantity,
  };
});

/** `payment [clear]` */
const paymentArgs = words((input) => {
  const [word, ...rest] = input;
  if (rest.length > 0 || (word !== undefined && word !== "clear")) {
    throw new ArgumentError("takes nothing, or clear");
  }
  return { clear: word === "clear" };
});

/** `buy ITEM MAX_PRICE [DESCRIPTION...]` */
const buyArgs = words((input) => {
  const [itemWord, priceWord, ...rest] = input;
  return {
    item: item(itemWord),
    maxPrice: price(priceWord, "MAX_PRICE"),
    description: description(rest),
  };
});

/** `unsell ITEM` */
const unsellArgs = words((input) => {
  const [itemWord, ...rest] = input;
  const parsed = item(itemWord);
  if (rest.length > 0) throw new ArgumentError("takes one ITEM only");
  return { item: parsed };
});

/** `cancel [RQ|ITEM]`: without one, the registration waiting for the server. */
const cancelArgs = words((input) => {
  const [which, ...rest] = input;
  if (rest.length > 0) throw new ArgumentError("takes one request or ITEM only");
  return { which } as { which: string | undefined };
});

/** `set auto-buy on|off` */
const setArgs = words((input) => {
  const [setting, value, ...rest] = input;
  if (setting === undefined) throw new ArgumentError("missing the setting, like auto-buy");
  if (setting !== "auto-buy") {
    throw new ArgumentError(`unknown setting ${JSON.stringify(setting)}: the only one is auto-buy`);
  }
  if (value !== "on" && value !== "off") {
    throw new ArgumentError(
      value === undefined
        ? "auto-buy needs on or off"
        : `auto-buy takes on or off, not ${JSON.stringify(value)}`,
    );
  }
  if (rest.length > 0) throw new ArgumentError("takes one value only");
  return { setting, value: value === "on" } as const;
});

/** Every command the peer understands, in the order `help` lists them. */
export const COMMANDS = {
  register: spec("register", "Register with the server", none),
  deregister: spec("deregister", "Leave the marketplace (de-register)", none),
  sell: spec(
    "sell ITEM PRICE [DESCRIPTION...] [--floor PRICE] [--quantity N]",
    "Offer an item (N of them, default 1); with --floor, NEGOTIATE at or above it is accepted without asking",
    sellArgs,
  ),
  price: spec(
    "price ITEM PRICE [--floor PRICE|--no-floor]",
    "Change the price of an item listed (and its floor; without either option the floor stays)",
    priceArgs,
  ),
  edit: spec(
    "edit ITEM PRICE [DESCRIPTION...] [--floor PRICE|--no-floor] [--quantity N]",
    "Change an item listed: its price, description (kept unless given), floor and quantity (kept unless given)",
    editArgs,
  ),
  unsell: spec("unsell ITEM", "Take an item out of the inventory", unsellArgs),
  browse: spec(
    "browse [PREFIX]",
    "List what is for sale (names starting with PREFIX): lowest price, sellers, quantity",
    browseArgs,
  ),
  inventory: spec("inventory", "List the items for sale", none),
  buy: spec(
    "buy ITEM MAX_PRICE [DESCRIPTION...]",
    "Look for an item at up to MAX_PRICE",
    buyArgs,
  ),
  cancel: spec(
    "cancel [RQ|ITEM]",
    "End an open search (by its request, or its item): our server ends it at once; " +
      "alone, stop waiting for the server to answer register",
    cancelArgs,
  ),
  requests: spec("requests", "List this peer's searches and their state (also searches)", none),
  questions: spec("questions", "List the questions waiting for an answer", none),
  history: spec(
    "history",
    "List completed sales and purchases with the fee, and their totals",
    none,
  ),
  payment: spec(
    "payment [clear]",
    "Enter the payment details now (card, expiry, address), or forget them",
    paymentArgs,
  ),
  set: spec("set auto-buy on|off", "Buy every FOUND at once, or ask first (the default)", setArgs),
  status: spec(
    "status",
    "Show registration, server, ports, keys, whether the session is authenticated, and counts",
    none,
  ),
  key: spec("key", "Print this peer's public key (for the server's operator)", none),
  help: spec("help", "List the commands (also ?)", none),
  quit: spec("quit", "Stop the peer (also exit; end of input does the same)", none),
} as const;

/** Other names of commands: what people type out of habit. */
export const ALIASES: Readonly<Record<string, keyof typeof COMMANDS>> = {
  exit: "quit",
  "?": "help",
  searches: "requests",
};

type Commands = typeof COMMANDS;

/** A parsed command. */
export type Command = {
  [K in keyof Commands]: {
    readonly name: K;
    readonly args: z.output<Commands[K]["args"]>;
  };
}[keyof Commands];

/** The parsed command of one name. */
export type CommandOf<K extends Command["name"]> = Extract<Command, { name: K }>;

/**
 * Input made of digits (and separators: spaces, dashes, dots, slashes)
 * only: perhaps card data, never echoed or logged.
 */
export const LOOKS_SECRET = /^[0-9][0-9 ./-]*$/;

/** The outcome of {@linkcode parseCommand}. */
export type ParsedLine =
  | { readonly ok: true; readonly command: Command | undefined }
  | { readonly ok: false; readonly error: string };

/**
 * Parses one input line. An empty line gives no command.
 *
 * @example
 * ```ts
 * parseCommand("register"); // { ok: true, command: { name: "register", args: [] } }
 * parseCommand("sell Laptop 500 --floor 450");
 * // { ok: true, command: { name: "sell", args: { item: "Laptop", price: 500, description: "", floor: 450 } } }
 * ```
 */
export function parseCommand(line: string): ParsedLine {
  let words: string[];
  try {
    // Composed (NFC), as the wire has them: "Cafe\u0301" is the "Caf\u00e9" listed.
    words = splitWords(line.normalize("NFC"));
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  const [typed, ...rest] = words;
  if (typed === undefined) return { ok: true, command: undefined };
  const name = Object.hasOwn(ALIASES, typed) ? ALIASES[typed]! : typed;
  if (!Object.hasOwn(COMMANDS, name)) {
    // A card number or expiry typed at the wrong moment is not echoed.
    if (LOOKS_SECRET.test(name)) {
      return { ok: false, error: "Unknown command (digits, not shown): type help for the list" };
    }
    const near = closestCommand(name);
    return {
      ok: false,
      error: `Unknown command ${JSON.stringify(name)}: ${
        near === undefined ? "type help for the list" : `did you mean ${near}?`
      }`,
    };
  }
  const key = name as keyof Commands;
  const spec: CommandSpec<z.ZodType> = COMMANDS[key];
  const parsed = spec.args.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      ok: false,
      error: `Cannot run ${typed}: ${issue.message}; usage: ${spec.usage}`,
    };
  }
  return {
    ok: true,
    command: { name: key, args: parsed.data } as Command,
  };
}

/**
 * The command (or alias) a mistyped name was most likely meant to be: the
 * nearest by edit distance, at most 1 edit for names of up to 4 letters
 * and 2 for longer ones; `undefined` when none is that near.
 *
 * @example
 * ```ts
 * closestCommand("invntory"); // "inventory"
 * ```
 */
export function closestCommand(typed: string): string | undefined {
  const word = typed.toLowerCase();
  const limit = word.length <= 4 ? 1 : 2;
  let best: { name: string; distance: number } | undefined;
  // Not "?": every one-letter word (a y typed when no question is asked)
  // is one edit from it.
  const aliases = Object.keys(ALIASES).filter((alias) => alias !== "?");
  for (const name of [...Object.keys(COMMANDS), ...aliases]) {
    const distance = editDistance(word, name);
    if (distance <= limit && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]![j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The text `help` prints. */
export function helpText(): string {
  const specs = Object.values(COMMANDS) as CommandSpec<z.ZodType>[];
  const width = Math.max(...specs.map((entry) => entry.usage.length));
  return specs.map((entry) => `  ${entry.usage.padEnd(width)}  ${entry.summary}`)
    .join("\n");
}
