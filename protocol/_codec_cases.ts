/**
 * Test helpers for the codec: the canonical wire text of every message type
 * with what it decodes to, and assertions that a text decodes or is rejected.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decode, type DecodeError, type DecodeOptions } from "./codec.ts";
import type { Channel, Message } from "./messages.ts";

export const utf8 = new TextEncoder();

/** Decodes `input`, failing the test unless it decodes. */
export function decoded(input: string | Uint8Array, options?: DecodeOptions): Message {
  const result = decode(input, options);
  if (!result.ok) {
    assert.fail(`Expected ${JSON.stringify(input)} to decode: ${result.error.message}`);
  }
  return result.message;
}

/** Decodes `input`, failing the test if it decodes. */
export function rejected(input: string | Uint8Array, options?: DecodeOptions): DecodeError {
  const result = decode(input, options);
  if (result.ok) {
    assert.fail(
      `Expected ${JSON.stringify(input)} to be rejected, got ${JSON.stringify(result.message)}`,
    );
  }
  return result.error;
}

/** A value quoted for a test name, invisible and non-ASCII characters escaped. */
export function show(text: string): string {
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return JSON.stringify(shown).replace(
    /[^\x20-\x7e]/g,
    (char) => char === "…" ? char : `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export interface WireCase {
  readonly wire: string;
  readonly channel: Channel;
  readonly message: Message;
}

/** One or more canonical wire strings per message type, with what they decode to. */
export const CANONICAL: readonly WireCase[] = [
  {
    wire: "REGISTER r1 alice 127.0.0.1 5001 5002",
    channel: "udp",
    message: {
      type: "REGISTER",
      rq: "r1",
      name: "alice",
      ip: "127.0.0.1",
      udpPort: 5001,
      tcpPort: 5002,
    },
  },
  {
    wire: "REGISTER bob-9f2c-1 Bob_2 ::1 1 65535",
    channel: "udp",
    message: {
      type: "REGISTER",
      rq: "bob-9f2c-1",
      name: "Bob_2",
      ip: "::1",
      udpPort: 1,
      tcpPort: 65535,
    },
  },
  {
    wire: "REGISTER r5 carol 10.0.0.7 7001 7002 shop/1 resume",
    channel: "udp",
    message: {
      type: "REGISTER",
      rq: "r5",
      name: "carol",
      ip: "10.0.0.7",
      udpPort: 7001,
      tcpPort: 7002,
      extensions: ["resume"],
    },
  },
  {
    wire: "DE-REGISTER r2 alice",
    channel: "udp",
    message: { type: "DE-REGISTER", rq: "r2", name: "alice" },
  },
  {
    wire: "LOOKING_FOR r3 alice Laptop a fast 15 inch one 499.99",
    channel: "udp",
    message: {
      type: "LOOKING_FOR",
      rq: "r3",
      name: "alice",
      item: "Laptop",
      description: "a fast 15 inch one",
      maxPrice: 499.99,
    },
  },
  {
    wire: "LOOKING_FOR r4 alice Laptop 500",
    channel: "udp",
    message: {
      type: "LOOKING_FOR",
      rq: "r4",
      name: "alice",
      item: "Laptop",
      description: "",
      maxPrice: 500,
    },
  },
  {
    wire: "OFFER s1 bob Laptop 450.5",
    channel: "udp",
    message: { type: "OFFER", rq: "s1", name: "bob", item: "Laptop", price: 450.5 },
  },
  {
    wire: "ACCEPT s1 Laptop 500",
    channel: "udp",
    message: { type: "ACCEPT", rq: "s1", item: "Laptop", maxPrice: 500 },
  },
  {
    wire: "REFUSE s1 Laptop 500",
    channel: "udp",
    message: { type: "REFUSE", rq: "s1", item: "Laptop", maxPrice: 500 },
  },
  {
    wire: "BUY r3 Laptop 450",
    channel: "udp",
    message: { type: "BUY", rq: "r3", item: "Laptop", price: 450 },
  },
  {
    wire: "CANCEL r3 Laptop 450",
    channel: "udp",
    message: { type: "CANCEL", rq: "r3", item: "Laptop", price: 450 },
  },
  {
    wire: "REGISTERED r1",
    channel: "udp",
    message: { type: "REGISTERED", rq: "r1" },
  },
  {
    wire: "REGISTERED r5 shop/1",
    channel: "udp",
    message: { type: "REGISTERED", rq: "r5", extensions: [] },
  },
  {
    wire: "REGISTER-DENIED r1 name alice in use",
    channel: "udp",
    message: { type: "REGISTER-DENIED", rq: "r1", reason: "name alice in use" },
  },
  {
    wire: "DE-REGISTERED r2",
    channel: "udp",
    message: { type: "DE-REGISTERED", rq: "r2" },
  },
  {
    wire: "DE-REGISTER-DENIED r2 name alice not registered",
    channel: "udp",
    message: {
      type: "DE-REGISTER-DENIED",
      rq: "r2",
      reason: "name alice not registered",
    },
  },
  {
    wire: "SEARCH s1 Laptop a fast one",
    channel: "udp",
    message: { type: "SEARCH", rq: "s1", item: "Laptop", description: "a fast one" },
  },
  {
    wire: "SEARCH s2 Laptop",
    channel: "udp",
    message: { type: "SEARCH", rq: "s2", item: "Laptop", description: "" },
  },
  {
    wire: "FOUND r3 Laptop 450",
    channel: "udp",
    message: { type: "FOUND", rq: "r3", item: "Laptop", price: 450 },
  },
  {
    wire: "FOUND r3 Laptop 450 from bob",
    channel: "udp",
    message: { type: "FOUND", rq: "r3", item: "Laptop", price: 450, seller: "bob" },
  },
  {
    wire: "NOT_AVAILABLE r3 Laptop 500",
    channel: "udp",
    message: { type: "NOT_AVAILABLE", rq: "r3", item: "Laptop", maxPrice: 500 },
  },
  {
    wire: "RESERVE r3 Laptop 450",
    channel: "udp",
    message: { type: "RESERVE", rq: "r3", item: "Laptop", price: 450 },
  },
  {
    wire: "NEGOTIATE s1 Laptop 500",
    channel: "udp",
    message: { type: "NEGOTIATE", rq: "s1", item: "Laptop", maxPrice: 500 },
  },
  {
    wire: "NOT_FOUND r3 Laptop 500",
    channel: "udp",
    message: { type: "NOT_FOUND", rq: "r3", item: "Laptop", maxPrice: 500 },
  },
  {
    wire: "INFORM_Req t1 Laptop 450",
    channel: "tcp",
    message: { type: "INFORM_Req", rq: "t1", item: "Laptop", price: 450 },
  },
  {
    wire: "INFORM_Res t1 alice 4111111111111111 04/29 12 Main St, Springfield",
    channel: "tcp",
    message: {
      type: "INFORM_Res",
      rq: "t1",
      name: "alice",
      card: "4111111111111111",
      expiry: "04/29",
      address: "12 Main St, Springfield",
    },
  },
  {
    wire: "Shipping_Info t1 alice 12 Main St, Springfield",
    channel: "tcp",
    message: {
      type: "Shipping_Info",
      rq: "t1",
      name: "alice",
      address: "12 Main St, Springfield",
    },
  },
  {
    wire: "CANCEL t1 the charge was declined",
    channel: "tcp",
    message: { type: "TX_CANCEL", rq: "t1", reason: "the charge was declined" },
  },
  {
    wire: "ACK s9 SEARCH",
    channel: "udp",
    message: { type: "ACK", rq: "s9", of: "SEARCH" },
  },
  {
    wire: "DENIED b4 too many open searches (32)",
    channel: "udp",
    message: { type: "DENIED", rq: "b4", reason: "too many open searches (32)" },
  },
  {
    wire: "LIST l1 carol 7 Lamp 25 3 brass desk lamp",
    channel: "udp",
    message: {
      type: "LIST",
      rq: "l1",
      name: "carol",
      seq: 7,
      item: "Lamp",
      price: 25,
      quantity: 3,
      description: "brass desk lamp",
    },
  },
  {
    wire: "ALIVE k1 carol",
    channel: "udp",
    message: { type: "ALIVE", rq: "k1", name: "carol" },
  },
  {
    wire: "BROWSE w1 dave 0 La",
    channel: "udp",
    message: { type: "BROWSE", rq: "w1", name: "dave", from: 0, prefix: "La" },
  },
  {
    wire: "CATALOGUE w1 2 5 Lamp 20 2 4 Laptop 499.99 1 1",
    channel: "udp",
    message: {
      type: "CATALOGUE",
      rq: "w1",
      next: 2,
      total: 5,
      entries: [
        { item: "Lamp", price: 20, sellers: 2, quantity: 4 },
        { item: "Laptop", price: 499.99, sellers: 1, quantity: 1 },
      ],
    },
  },
  {
    wire: "NO_OFFER s9 carol Lamp",
    channel: "udp",
    message: { type: "NO_OFFER", rq: "s9", name: "carol", item: "Lamp" },
  },
  {
    wire: "ACK t1 Shipping_Info",
    channel: "tcp",
    message: { type: "TX_ACK", rq: "t1", of: "Shipping_Info" },
  },
  {
    wire: "RETRY alice-1 1b2c3dAbCdEfGhIjKlMnOpQrSt_-",
    channel: "udp",
    message: { type: "RETRY", rq: "alice-1", cookie: "1b2c3dAbCdEfGhIjKlMnOpQrSt_-" },
  },
];
