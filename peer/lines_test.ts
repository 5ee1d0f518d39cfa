import assert from "node:assert/strict";
import { readLines } from "./lines.ts";

/** A stream that gives these chunks, each after the consumer asked for more. */
function chunks(...parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(parts.map((part) => encoder.encode(part)));
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  raw?: (line: number) => boolean,
): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(stream, raw && { raw: () => raw(lines.length) })) {
    lines.push(line);
  }
  return lines;
}

Deno.test("readLines splits at newlines, across chunks, with a last line without one", async () => {
  assert.deepEqual(await collect(chunks("reg", "ister\r\nsta", "tus\n\nquit")), [
    "register",
    "status",
    "",
    "quit",
  ]);
});

Deno.test("readLines outside raw mode keeps a lone carriage return in the line", async () => {
  assert.deepEqual(await collect(chunks("a\rb\n")), ["a\rb"]);
});

Deno.test("readLines in raw mode ends a line at Enter and edits with backspace", async () => {
  // Line 0 is typed in cooked mode; lines 1 and 2 (card, expiry) in raw mode.
  const raw = (line: number) => line === 1 || line === 2;
  assert.deepEqual(
    await collect(chunks("y\n", "41", "1x\x7f1", "\r", "11/30\r\n", "42 Main St\n"), raw),
    ["y", "4111", "11/30", "42 Main St"],
  );
});

Deno.test("readLines in raw mode gives Ctrl-C and Ctrl-D as lines of their own", async () => {
  assert.deepEqual(await collect(chunks("41\x03", "4\x04"), () => true), ["\x03", "\x04"]);
});
