/**
 * The P2S2 text codec: bytes or text in, a typed message or a typed error
 * out, and back. Pure: no I/O, no clock, never throws on bad input.
 *
 * @example
 * ```ts
 * const result = decode("REGISTER r1 alice 127.0.0.1 5001 5002");
 * if (result.ok) console.log(result.message.name); // "alice"
 * encode({ type: "REGISTERED", rq: "r1" }); // "REGISTERED r1"
 * ```
 *
 * @module
 */
import { z } from "zod";
import {
  MAX_NAME_LENGTH,
  MAX_RQ_LENGTH,
  NAME_TEXT,
  PORT_TEXT,
  RQ_TEXT,
  SECRET_FIELDS,
} from "./fields.ts";
import { type Channel, type Message, type MessageType, SPECS } from "./messages.ts";

/** The largest datagram or TCP message accepted, in bytes (PROTOCOL.md). */
export const MAX_MESSAGE_BYTES = 1200;

/** What kind of problem made a message undecodable. */
export type DecodeErrorCode =
  | "too_long"
  | "encoding"
  | "empty"
  | "unknown_type"
  | "field_count"
  | "invalid_field";

/** Why a message could not be decoded, in words fit for a reply or a log. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  /** Sentence-case description of the problem, never holding card data. */
  readonly message: string;
  /** The wire keyword, when the first word was a known message type. */
  readonly keyword?: string;
  /** The request token, when one could be read, so a denial can carry it. */
  readonly rq?: string;
}

/** The outcome of {@linkcode decode}. */
export type DecodeResult =
  | { readonly ok: true; readonly message: Message }
  | { readonly ok: false; readonly error: DecodeError };

/** Options for {@linkcode decode}. */
export interface DecodeOptions {
  /** Which message set to read: datagrams (default) or the TCP leg. */
  readonly channel?: Channel;
}

interface ParsedLayout {
  readonly type: MessageType;
  readonly schema: z.ZodType;
  readonly head: readonly string[];
  readonly rest?: string;
  readonly tail: readonly string[];
  readonly suffix?: { readonly word: string; readonly field: string };
  /** A field some classic implementations leave out (`[field]`) or add (`{field}`). */
  readonly optional?: {
    readonly field: string;
    /** Its index in `head`, which lists it. */
    readonly at: number;
    /** Whether the encoder writes it when present (`[field]`); `{field}` is only read. */
    readonly written: boolean;
  };
  readonly names: string;
}

function parseLayout(type: MessageType, layout: string): ParsedLayout {
  const suffixMatch = layout.match(/^(.*?)\s*\[(\S+) (\S+)\]$/);
  const body = suffixMatch?.[1] ?? layout;
  let words = body.split(" ");
  let names = layout;
  let optional: ParsedLayout["optional"];
  const optionalAt = words.findIndex((word) => /^(\[\w+\]|\{\w+\})$/.test(word));
  if (optionalAt >= 0) {
    const word = words[optionalAt]!;
    optional = { field: word.slice(1, -1), at: optionalAt, written: word.startsWith("[") };
    // Errors name the form our own side writes.
    names = words.filter((_, i) => optional!.written || i !== optionalAt)
      .map((w, i) => i === optionalAt && optional!.written ? optional!.field : w).join(" ");
    words = words.map((w, i) => i === optionalAt ? optional!.field : w);
    // A suffix after it is told apart by its word (NOT_AVAILABLE's `silent`).
    if (words.some((w) => w.endsWith("..."))) {
      throw new TypeError(`Layout of ${type} mixes an optional field with other optional parts`);
    }
  }
  const restAt = words.findIndex((word) => word.endsWith("..."));
  const head = restAt < 0 ? words : words.slice(0, restAt);
  const tail = restAt < 0 ? [] : words.slice(restAt + 1);
  const rest = restAt < 0 ? undefined : words[restAt]!.slice(0, -3);
  return {
    type,
    schema: SPECS[type].schema,
    head,
    rest,
    tail,
    suffix: suffixMatch ? { word: suffixMatch[2]!, field: suffixMatch[3]! } : undefined,
    optional,
    names,
  };
}

const LAYOUTS: ReadonlyMap<string, ParsedLayout> = new Map(
  (Object.keys(SPECS) as MessageType[]).map((type) => {
    const spec = SPECS[type];
    return [`${spec.channel} ${spec.keyword}`, parseLayout(type, spec.layout)];
  }),
);

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

function fail(
  code: DecodeErrorCode,
  message: string,
  extra: { keyword?: string; rq?: string } = {},
): DecodeResult {
  return { ok: false, error: { code, message, ...extra } };
}

/** Most characters a quoted value takes in an error message, escapes included. */
const QUOTE_LIMIT = 40;
const UNSAFE_CHAR = /[\p{C}\p{Zl}\p{Zp}]/u;

/**
 * Quotes a wire value for an error message. Control, format and line
 * separator characters are escaped (JSON.stringify alone leaves C1 controls,
 * bidi overrides and U+2028 as they are), and the escaped text is cut at
 * {@linkcode QUOTE_LIMIT}, so that the message stays a valid denial reason:
 * free of control characters and within the reason's length limit.
 */
function quote(text: string): string {
  let shown = "";
  for (const char of text) {
    const piece = UNSAFE_CHAR.test(char)
      ? Array.from(
        { length: char.length },
        (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join("")
      : JSON.stringify(char).slice(1, -1);
    if (shown.length + piece.length > QUOTE_LIMIT) return `"${shown}…"`;
    shown += piece;
  }
  return `"${shown}"`;
}

/**
 * Decodes one P2S2 message from a datagram or a TCP read.
 *
 * Fields are split at spaces; one trailing newline (`\n` or `\r\n`) is
 * tolerated. The result is either the typed message or an error that says
 * what is wrong, carrying the request token when one could be read.
 *
 * @param input The raw bytes or the text of one message.
 * @param options Which channel's message set to read.
 * @returns The message, or why it could not be decoded.
 */
export function decode(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): DecodeResult {
  const channel = options.channel ?? "udp";
  let text: string;
  if (typeof input === "string") {
    text = input;
    if (text.length > MAX_MESSAGE_BYTES / 4) {
      const bytes = utf8Encoder.encode(text).length;
      if (bytes > MAX_MESSAGE_BYTES) return tooLong(bytes);
    }
  } else {
    if (input.length > MAX_MESSAGE_BYTES) return tooLong(input.length);
    try {
      text = utf8.decode(input);
    } catch {
      return fail("encoding", "Message is not valid UTF-8 text");
    }
  }
  text = text.replace(/\r?\n$/, "");
  const tokens = text.split(" ").filter((token) => token !== "");
  const keyword = tokens[0];
  if (keyword === undefined) return fail("empty", "Message is empty");
  const layout = LAYOUTS.get(`${channel} ${keyword}`);
  const rqToken = tokens[1];
  const rq = rqToken !== undefined && isRq(rqToken) ? rqToken : undefined;
  if (channel === "udp" && keyword === "REGISTER" && tokens.length === 6 && rq !== undefined) {
    const message = classicRegister(rq, tokens);
    if (message) return { ok: true, message };
  }
  if (layout === undefined) {
    return fail(
      "unknown_type",
      `Unknown message type ${quote(keyword)}: expected one of ${knownKeywords(channel)}`,
      { rq },
    );
  }
  return decodeTolerant(layout, keyword, tokens.slice(1), rq);
}

/** What the `Rq` schema accepts, checked without zod. */
function isRq(token: string): boolean {
  return token.length <= MAX_RQ_LENGTH && RQ_TEXT.test(token);
}

function portOf(token: string): number | undefined {
  if (!PORT_TEXT.test(token)) return undefined;
  const port = Number(token);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * A classic `REGISTER rq name ip udpPort tcpPort` with an IPv4 address,
 * the message a busy server decodes most, checked field by field with the
 * very tests its zod schema makes (the same patterns and limits), or
 * `undefined` when any check fails: the schema then decides, and explains.
 */
function classicRegister(rq: string, tokens: readonly string[]): Message | undefined {
  const name = tokens[2]!;
  const ip = tokens[3]!;
  if (name.length > MAX_NAME_LENGTH || !NAME_TEXT.test(name) || !z.regexes.ipv4.test(ip)) {
    return undefined;
  }
  const udpPort = portOf(tokens[4]!);
  const tcpPort = portOf(tokens[5]!);
  if (udpPort === undefined || tcpPort === undefined) return undefined;
  return { type: "REGISTER", rq, name, ip, udpPort, tcpPort };
}

/**
 * Decodes the fields of a layout that has an optional field: the form our
 * side writes, or the other one when the token count fits it and it decodes
 * (PROTOCOL.md's robustness rule: liberal where the meaning is unambiguous).
 * A message that fits neither is reported against the form we write.
 */
function decodeTolerant(
  layout: ParsedLayout,
  keyword: string,
  fields: string[],
  rq: string | undefined,
): DecodeResult {
  const optional = layout.optional;
  if (optional === undefined) return decodeFields(layout, keyword, fields, rq);
  const withField: ParsedLayout = { ...layout, optional: undefined };
  const withoutField: ParsedLayout = {
    ...withField,
    head: layout.head.filter((_, i) => i !== optional.at),
  };
  const usual = optional.written ? withField : withoutField;
  const other = optional.written ? withoutField : withField;
  if (fields.length === other.head.length) {
    const result = decodeFields(other, keyword, fields, rq);
    // A short form that does not decode is best explained by its own error;
    // an extra token that does not fit is explained by the usual form's count.
    if (result.ok || optional.written) return result;
  }
  return decodeFields(usual, keyword, fields, rq);
}

function tooLong(bytes: number): DecodeResult {
  return fail(
    "too_long",
    `Message of ${bytes} bytes is too long: the limit is ${MAX_MESSAGE_BYTES} bytes`,
  );
}

function knownKeywords(channel: Channel): string {
  return [...LAYOUTS.keys()]
    .filter((key) => key.startsWith(`${channel} `))
    .map((key) => key.slice(channel.length + 1))
    .join(", ");
}

function decodeFields(
  layout: ParsedLayout,
  keyword: string,
  fields: string[],
  rq: string | undefined,
): DecodeResult {
  const record: Record<string, string> = { type: layout.type };
  const fixed = layout.head.length + layout.tail.length;
  let body = fields;
  const suffix = layout.suffix;
  if (
    suffix && body.length === fixed + 2 && body[fixed] === suffix.word
  ) {
    record[suffix.field] = body[fixed + 1]!;
    body = body.slice(0, fixed);
  }
  const countOk = layout.rest === undefined ? body.length === fixed : body.length >= fixed;
  if (!countOk) {
    const expected = layout.rest === undefined
      ? `${fixed} field${fixed === 1 ? "" : "s"}`
      : `at least ${fixed} field${fixed === 1 ? "" : "s"}`;
    return fail(
      "field_count",
      `${keyword} needs ${expected} (${layout.names}), got ${body.length}`,
      { keyword, rq },
    );
  }
  layout.head.forEach((name, i) => (record[name] = body[i]!));
  const tailStart = body.length - layout.tail.length;
  layout.tail.forEach((name, i) => (record[name] = body[tailStart + i]!));
  if (layout.rest !== undefined) {
    record[layout.rest] = body.slice(layout.head.length, tailStart).join(" ");
  }
  const parsed = layout.schema.safeDecode(record);
  if (parsed.success) {
    const message = parsed.data as Record<string, unknown>;
    // Optional fields that were absent on the wire are absent in the object.
    for (const key of Object.keys(message)) {
      if (message[key] === undefined) delete message[key];
    }
    const spelled = record.item;
    if (SPELLED.has(layout.type) && spelled !== undefined && spelled !== message.item) {
      message.spelling = spelled;
    }
    return { ok: true, message: message as Message };
  }
  const issue = parsed.error.issues[0]!;
  const field = String(issue.path[0] ?? "message");
  const shown = SECRET_FIELDS.has(field) ? "" : ` ${quote(record[field] ?? "")}`;
  return fail(
    "invalid_field",
    `Invalid ${field}${shown} in ${keyword}: ${issue.message}`,
    { keyword, rq },
  );
}

/** The types whose item a classic peer's spelling may stand for (`spelling`). */
const SPELLED: ReadonlySet<string> = new Set(["LOOKING_FOR", "SEARCH"]);

/**
 * Encodes a message as wire text, without a trailing newline (classic peers
 * read one message per datagram or per TCP write).
 *
 * @param message The message to write.
 * @returns The text to send.
 * @throws {TypeError} If the message breaks its schema: a program error.
 */
export function encode(message: Message): string {
  // The reply a busy server sends most: nothing to convert, one field to check.
  if (
    message.type === "REGISTERED" && message.extensions === undefined && isRq(message.rq) &&
    Object.keys(message).length === 2
  ) {
    return `REGISTERED ${message.rq}`;
  }
  const spec = SPECS[message.type];
  const layout = LAYOUTS.get(`${spec.channel} ${spec.keyword}`)!;
  const parsed = spec.schema.safeEncode(message);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TypeError(
      `Cannot encode ${message.type}: ${String(issue.path[0] ?? "message")} ${issue.message}`,
    );
  }
  const record = parsed.data as Record<string, string | undefined>;
  const spelling = record.spelling;
  if (spelling !== undefined && SPELLED.has(message.type)) {
    if (spelling.normalize("NFC") !== record.item || !/^[^\s\p{C}]+$/u.test(spelling)) {
      throw new TypeError(`Cannot encode ${message.type}: spelling is not one of item`);
    }
    record.item = spelling;
  }
  const words: string[] = [spec.keyword];
  const optional = layout.optional;
  for (const name of layout.head) {
    if (name === optional?.field && (!optional.written || record[name] === undefined)) continue;
    words.push(record[name]!);
  }
  if (layout.rest !== undefined && record[layout.rest]) {
    words.push(record[layout.rest]!);
  }
  for (const name of layout.tail) words.push(record[name]!);
  const suffix = layout.suffix;
  if (suffix && record[suffix.field] !== undefined) {
    words.push(suffix.word, record[suffix.field]!);
  }
  return words.join(" ");
}
