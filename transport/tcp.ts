/**
 * Messages over TCP the way classic peers exchange them: one message per
 * write, read with a single `recv`, no framing promised. A message ends at
 * the first newline, or when the sender pauses after a read; so a message
 * that arrives in pieces still parses, and one with a trailing newline too.
 *
 * @module
 */
import {
  decode,
  type DecodeResult,
  encode,
  MAX_MESSAGE_BYTES,
  type Message,
} from "../protocol/mod.ts";

/** How long a read without a newline waits for the rest of its message. */
export const PIECE_GAP_MS = 60;

const utf8 = new TextEncoder();

/** Reads frames from one TCP (or TLS) connection. */
export class FrameReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #pending: Promise<number | null> | undefined;
  readonly #chunk = new Uint8Array(MAX_MESSAGE_BYTES + 1);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Reads the next frame, without its newline.
   *
   * @returns Its bytes, or `undefined` when the connection closed first.
   * @throws {DOMException} `TimeoutError`/`AbortError` when `signal` fires.
   */
  async read(options: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    while (true) {
      const newline = this.#buffer.indexOf(10);
      if (newline >= 0) return this.#take(newline, newline + 1);
      if (this.#buffer.length > MAX_MESSAGE_BYTES) return this.#take(this.#buffer.length);
      // Without a newline, a pause after what arrived ends the message.
      const gap = this.#buffer.length > 0 ? PIECE_GAP_MS : undefined;
      const count = await this.#readSome(options.signal, gap);
      if (count === "gap") return this.#take(this.#buffer.length);
      if (count === null) {
        return this.#buffer.length > 0 ? this.#take(this.#buffer.length) : undefined;
      }
    }
  }

  #take(end: number, skip = end): Uint8Array {
    const frame = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(skip);
    // A CR before the newline belongs to the framing too.
    return frame.at(-1) === 13 ? frame.subarray(0, -1) : frame;
  }

  async #readSome(
    signal: AbortSignal | undefined,
    gapMs: number | undefined,
  ): Promise<number | null | "gap"> {
    this.#pending ??= this.#conn.read(this.#chunk);
    const waits: Promise<number | null | "gap">[] = [this.#pending];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    if (gapMs !== undefined) {
      waits.push(new Promise((resolve) => (timer = setTimeout(() => resolve("gap"), gapMs))));
    }
    if (signal) {
      signal.throwIfAborted();
      waits.push(
        new Promise((_, reject) => {
          onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      );
    }
    try {
      const result = await Promise.race(waits);
      if (result === "gap") return result;
      this.#pending = undefined;
      if (result !== null) {
        const joined = new Uint8Array(this.#buffer.length + result);
        joined.set(this.#buffer);
        joined.set(this.#chunk.subarray(0, result), this.#buffer.length);
        this.#buffer = joined;
      }
      return result;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** Reads messages from one TCP connection, decoded for the TCP leg. */
export class MessageReader {
  readonly #frames: FrameReader;

  constructor(conn: Deno.Conn) {
    this.#frames = new FrameReader(conn);
  }

  /**
   * Reads the next message.
   *
   * @returns The decoded message or its decode error, or `undefined` when
   *   the connection closed first.
   * @throws {DOMException} `TimeoutError`/`AbortError` when `signal` fires.
   */
  async read(options: { signal?: AbortSignal } = {}): Promise<DecodeResult | undefined> {
    const frame = await this.#frames.read(options);
    return frame === undefined ? undefined : decode(frame, { channel: "tcp" });
  }
}

/**
 * Writes one message in one write.
 *
 * @param newline End the message with `\n` (for our own peers; classic
 *   peers get the bare message, as they expect).
 */
export async function writeMessage(
  conn: Deno.Conn,
  message: Message,
  newline = false,
): Promise<void> {
  await writeText(conn, encode(message), newline);
}

/** Writes one message's text (already encoded, perhaps sealed) in one write. */
export async function writeText(conn: Deno.Conn, text: string, newline = false): Promise<void> {
  const bytes = utf8.encode(`${text}${newline ? "\n" : ""}`);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
