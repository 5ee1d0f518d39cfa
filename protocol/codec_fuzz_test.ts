/** decode on random and mutated input, from fixed seeds: it never throws, and its results are well formed. */
import assert from "node:assert/strict";
import { decode, type DecodeErrorCode, encode } from "./codec.ts";
import { type Channel, type MessageType, SPECS } from "./messages.ts";
import { CANONICAL, utf8 } from "./_codec_cases.ts";

/** mulberry32: a tiny seeded generator so a failure replays from its seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ERROR_CODES: ReadonlySet<DecodeErrorCode> = new Set([
  "too_long",
  "encoding",
  "empty",
  "unknown_type",
  "field_count",
  "invalid_field",
]);

/** Fields the decoder accepts from classic peers but the encoder never writes (`{field}`). */
function readOnlyFields(type: MessageType): string[] {
  return [...SPECS[type].layout.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
}

/**
 * Checks the shape of any decode result, and that a decoded message
 * re-encodes to itself (less the fields that are only read).
 */
function assertWellFormed(input: string | Uint8Array, channel: Channel): void {
  let result;
  try {
    result = decode(input, { channel });
  } catch (error) {
    assert.fail(`decode threw on ${JSON.stringify(String(input))}: ${error}`);
  }
  if (result.ok) {
    assert.ok(Object.hasOwn(SPECS, result.message.type));
    assert.equal(SPECS[result.message.type].channel, channel);
    const text = encode(result.message);
    const written: Record<string, unknown> = { ...result.message };
    for (const field of readOnlyFields(result.message.type)) delete written[field];
    assert.deepEqual(decode(text, { channel }), { ok: true, message: written });
  } else {
    assert.ok(ERROR_CODES.has(result.error.code), result.error.code);
    assert.equal(typeof result.error.message, "string");
    assert.ok(result.error.message.length > 0);
    assert.doesNotMatch(result.error.message, /\p{Cc}/u);
  }
}

Deno.test("decode never throws on 10,000 random byte strings", () => {
  const random = seeded(0x5eed);
  const counts = { ok: 0, failed: 0 };
  for (let i = 0; i < 10_000; i++) {
    const length = Math.floor(random() * (random() < 0.02 ? 2000 : 64));
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
    const channel: Channel = random() < 0.5 ? "udp" : "tcp";
    assertWellFormed(bytes, channel);
    counts[decode(bytes, { channel }).ok ? "ok" : "failed"]++;
  }
  assert.equal(counts.ok + counts.failed, 10_000);
});

Deno.test("decode never throws on mutations of valid messages", () => {
  const random = seeded(42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const alphabet = [
    " ",
    " ",
    "\n",
    "\r",
    "0",
    "9",
    ".",
    "-",
    "/",
    ":",
    "a",
    "Z",
    "é",
    "\u0000",
    "\u0085",
    "\u{1f600}",
    "from",
    "4111111111111111",
  ];
  let decodedCount = 0;
  for (let i = 0; i < 10_000; i++) {
    const { wire, channel } = pick(CANONICAL);
    const chars = [...wire];
    const edits = 1 + Math.floor(random() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * (chars.length + 1));
      const roll = random();
      if (roll < 0.4) chars.splice(at, 1);
      else if (roll < 0.8) chars.splice(at, 0, pick(alphabet));
      else chars.splice(at, 1, pick(alphabet));
    }
    const text = chars.join("");
    assertWellFormed(random() < 0.5 ? text : utf8.encode(text), channel);
    if (decode(text, { channel }).ok) decodedCount++;
  }
  // Some mutations (a digit more in a price, a letter more in a name) stay valid.
  assert.ok(decodedCount > 0);
});
