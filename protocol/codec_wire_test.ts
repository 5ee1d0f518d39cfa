/** The codec both ways on valid text: every message type, prices, line ends, UTF-8. */
import assert from "node:assert/strict";
import { encode } from "./codec.ts";
import { type Channel, SPECS } from "./messages.ts";
import { CANONICAL, decoded, utf8 } from "./_codec_cases.ts";

Deno.test("the canonical cases cover every message type in SPECS", () => {
  const covered = new Set(CANONICAL.map((entry) => entry.message.type));
  assert.deepEqual([...covered].sort(), Object.keys(SPECS).sort());
  // The 22 of PROTOCOL.md and our ACK (UDP and TCP), NO_OFFER, DENIED and RETRY.
  assert.equal(covered.size, 31);
});

Deno.test("decode reads every message type from its wire text", async (t) => {
  for (const { wire, channel, message } of CANONICAL) {
    await t.step(`${channel} ${JSON.stringify(wire)}`, () => {
      assert.deepEqual(decoded(wire, { channel }), message);
    });
  }
});

Deno.test("encode writes every message type as its canonical wire text", async (t) => {
  for (const { wire, channel, message } of CANONICAL) {
    await t.step(`${message.type} -> ${JSON.stringify(wire)}`, () => {
      assert.equal(encode(message), wire);
      assert.equal(encode(decoded(wire, { channel })), wire);
    });
  }
});

Deno.test("encode after decode gives the canonical text of a loosely written message", async (t) => {
  const cases: [string, string, Channel?][] = [
    ["OFFER s1 bob Laptop 500.0", "OFFER s1 bob Laptop 500"],
    ["OFFER s1 bob Laptop 500.000000", "OFFER s1 bob Laptop 500"],
    ["OFFER s1 bob Laptop 0450.50", "OFFER s1 bob Laptop 450.5"],
    ["FOUND r3 Laptop 450.10 from bob", "FOUND r3 Laptop 450.1 from bob"],
    ["REGISTER r1 alice 127.0.0.1 05001 0080", "REGISTER r1 alice 127.0.0.1 5001 80"],
    ["REGISTERED  r1 ", "REGISTERED r1"],
    [
      "DE-REGISTER-DENIED r2  not   registered",
      "DE-REGISTER-DENIED r2 not registered",
    ],
    [
      "LOOKING_FOR r3 alice Laptop  fast   one  499.990",
      "LOOKING_FOR r3 alice Laptop fast one 499.99",
    ],
    ["CANCEL t1  card   declined", "CANCEL t1 card declined", "tcp"],
  ];
  for (const [loose, canonical, channel] of cases) {
    await t.step(`${JSON.stringify(loose)} -> ${JSON.stringify(canonical)}`, () => {
      assert.equal(encode(decoded(loose, { channel })), canonical);
    });
  }
});

Deno.test("decode reads decimal prices as numbers", async (t) => {
  const cases: [string, number][] = [
    ["500", 500],
    ["500.0", 500],
    ["499.99", 499.99],
    ["0.01", 0.01],
    ["0.5", 0.5],
    ["24.990000", 24.99],
    ["007", 7],
    ["1000000000", 1_000_000_000],
  ];
  for (const [text, price] of cases) {
    await t.step(`${text} -> ${price}`, () => {
      assert.deepEqual(decoded(`BUY r1 Laptop ${text}`), {
        type: "BUY",
        rq: "r1",
        item: "Laptop",
        price,
      });
    });
  }
});

Deno.test("encode writes prices without trailing zeros or float noise", () => {
  const write = (price: number) => encode({ type: "BUY", rq: "r1", item: "Laptop", price });
  assert.equal(write(500), "BUY r1 Laptop 500");
  assert.equal(write(499.99), "BUY r1 Laptop 499.99");
  assert.equal(write(0.1 + 0.2), "BUY r1 Laptop 0.3");
  assert.equal(write(450.5), "BUY r1 Laptop 450.5");
  assert.equal(write(0.01), "BUY r1 Laptop 0.01");
});

Deno.test("decode tolerates one trailing newline", async (t) => {
  for (const ending of ["\n", "\r\n"]) {
    await t.step(`ending ${JSON.stringify(ending)} on text`, () => {
      assert.deepEqual(decoded(`REGISTERED r1${ending}`), { type: "REGISTERED", rq: "r1" });
      assert.deepEqual(decoded(`REGISTER-DENIED r1 name alice in use${ending}`), {
        type: "REGISTER-DENIED",
        rq: "r1",
        reason: "name alice in use",
      });
      assert.deepEqual(decoded(`CANCEL t1 card declined${ending}`, { channel: "tcp" }), {
        type: "TX_CANCEL",
        rq: "t1",
        reason: "card declined",
      });
    });
    await t.step(`ending ${JSON.stringify(ending)} on bytes`, () => {
      assert.deepEqual(decoded(utf8.encode(`BUY r3 Laptop 450${ending}`)), {
        type: "BUY",
        rq: "r3",
        item: "Laptop",
        price: 450,
      });
    });
  }
});

Deno.test("decode reads UTF-8 bytes", () => {
  assert.deepEqual(decoded(utf8.encode("OFFER s1 bob Café 5")), {
    type: "OFFER",
    rq: "s1",
    name: "bob",
    item: "Café",
    price: 5,
  });
  assert.deepEqual(decoded(utf8.encode("SEARCH s1 Laptop léger et rapide")), {
    type: "SEARCH",
    rq: "s1",
    item: "Laptop",
    description: "léger et rapide",
  });
});

Deno.test("encode leaves out an empty description and a missing seller", () => {
  assert.equal(
    encode({
      type: "LOOKING_FOR",
      rq: "r4",
      name: "alice",
      item: "Laptop",
      description: "",
      maxPrice: 500,
    }),
    "LOOKING_FOR r4 alice Laptop 500",
  );
  assert.equal(
    encode({ type: "SEARCH", rq: "s2", item: "Laptop", description: "" }),
    "SEARCH s2 Laptop",
  );
  assert.equal(
    encode({ type: "FOUND", rq: "r3", item: "Laptop", price: 450, seller: undefined }),
    "FOUND r3 Laptop 450",
  );
});

Deno.test("encode writes TX_CANCEL with the CANCEL keyword", () => {
  assert.equal(
    encode({ type: "TX_CANCEL", rq: "t1", reason: "card declined" }),
    "CANCEL t1 card declined",
  );
});
