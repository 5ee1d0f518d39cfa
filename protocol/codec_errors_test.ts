/**
 * Messages the codec rejects as a whole (empty, unknown, wrong field count,
 * too long, not UTF-8), what its errors carry, and what encode refuses.
 */
import assert from "node:assert/strict";
import { encode, MAX_MESSAGE_BYTES } from "./codec.ts";
import { MAX_TEXT_LENGTH } from "./fields.ts";
import type { Channel, Message } from "./messages.ts";
import { rejected, show, utf8 } from "./_codec_cases.ts";

Deno.test("decode rejects an empty message", async (t) => {
  for (const input of ["", " ", "   ", "\n", "\r\n", " \n"]) {
    await t.step(JSON.stringify(input), () => {
      const error = rejected(input);
      assert.equal(error.code, "empty");
      assert.match(error.message, /empty/i);
      assert.equal(error.rq, undefined);
    });
  }
  await t.step("no bytes", () => {
    assert.equal(rejected(new Uint8Array(0)).code, "empty");
  });
});

Deno.test("decode rejects an unknown message type and names it", async (t) => {
  await t.step("a made-up keyword", () => {
    const error = rejected("HELLO r1 there");
    assert.equal(error.code, "unknown_type");
    assert.match(error.message, /Unknown message type "HELLO"/);
    assert.match(error.message, /REGISTER/);
    assert.equal(error.rq, "r1");
    assert.equal(error.keyword, undefined);
  });
  await t.step("keywords are case-sensitive", () => {
    const error = rejected("register r1 alice 127.0.0.1 5001 5002");
    assert.equal(error.code, "unknown_type");
    assert.match(error.message, /"register"/);
  });
  await t.step("TX_CANCEL is not a wire keyword", () => {
    const error = rejected("TX_CANCEL t1 card declined", { channel: "tcp" });
    assert.equal(error.code, "unknown_type");
    assert.match(error.message, /"TX_CANCEL"/);
  });
  await t.step("a keyword alone has no rq", () => {
    const error = rejected("HELLO");
    assert.equal(error.code, "unknown_type");
    assert.equal(error.rq, undefined);
  });
  await t.step("a long keyword is shortened in the message", () => {
    const keyword = "X".repeat(500);
    const error = rejected(`${keyword} r1`);
    assert.equal(error.code, "unknown_type");
    assert.ok(!error.message.includes(keyword), "the whole keyword is quoted");
    assert.match(error.message, /"X{1,40}…"/);
  });
});

Deno.test("decode rejects a message with fields missing", async (t) => {
  const cases: [string, string, RegExp, Channel?][] = [
    ["REGISTER r1 alice 127.0.0.1 5001", "REGISTER", /REGISTER needs (at least )?5 fields.*got 4/],
    ["DE-REGISTER r2", "DE-REGISTER", /DE-REGISTER needs 2 fields.*got 1/],
    ["LOOKING_FOR r3 alice 500", "LOOKING_FOR", /LOOKING_FOR needs at least 4 fields.*got 3/],
    ["OFFER s1 bob Laptop", "OFFER", /OFFER needs 4 fields.*got 3/],
    ["BUY r3 Laptop", "BUY", /BUY needs 3 fields.*got 2/],
    ["SEARCH s1", "SEARCH", /SEARCH needs at least 2 fields.*got 1/],
    ["FOUND r3 Laptop", "FOUND", /FOUND needs 3 fields.*got 2/],
    ["INFORM_Res t1 alice 4111111111111111", "INFORM_Res", /needs at least 4 fields.*got 3/, "tcp"],
    ["Shipping_Info t1", "Shipping_Info", /needs at least 2 fields.*got 1/, "tcp"],
  ];
  for (const [wire, keyword, pattern, channel] of cases) {
    await t.step(show(wire), () => {
      const error = rejected(wire, { channel });
      assert.equal(error.code, "field_count");
      assert.equal(error.keyword, keyword);
      assert.match(error.message, pattern);
      assert.equal(error.rq, wire.split(" ")[1]);
    });
  }
  await t.step("a keyword alone", () => {
    const error = rejected("DE-REGISTERED");
    assert.equal(error.code, "field_count");
    assert.equal(error.rq, undefined);
    assert.equal(error.message, "DE-REGISTERED needs 1 field (rq), got 0");
  });
  await t.step("the message names the layout", () => {
    assert.match(
      rejected("REGISTER r1 alice").message,
      /\(rq name ip udpPort tcpPort\b/,
    );
  });
});

Deno.test("decode rejects a message with extra fields", async (t) => {
  const cases: [string, RegExp][] = [
    ["DE-REGISTERED r1 alice bob", /DE-REGISTERED needs 1 field \(rq\), got 3/],
    ["DE-REGISTER r2 alice bob", /DE-REGISTER needs 2 fields \(rq name\), got 3/],
    ["BUY r3 Laptop 450 now", /BUY needs 3 fields.*got 4/],
    ["CANCEL r3 Laptop 450 please", /CANCEL needs 3 fields.*got 4/],
    ["FOUND r3 Laptop 450 from bob extra", /FOUND needs 3 fields.*got 6/],
    ["FOUND r3 Laptop 450 by bob", /FOUND needs 3 fields.*got 5/],
    ["FOUND r3 Laptop 450 from", /FOUND needs 3 fields.*got 4/],
  ];
  for (const [wire, pattern] of cases) {
    await t.step(show(wire), () => {
      const error = rejected(wire);
      assert.equal(error.code, "field_count");
      assert.match(error.message, pattern);
      assert.equal(error.rq, wire.split(" ")[1]);
    });
  }
});

Deno.test("decode rejects a message over 1200 bytes", async (t) => {
  const head = "LOOKING_FOR r3 alice Laptop ";
  const sized = (bytes: number) => head + "x".repeat(bytes - head.length - 4) + " 500";
  await t.step("text of 1201 bytes", () => {
    const text = sized(MAX_MESSAGE_BYTES + 1);
    assert.equal(utf8.encode(text).length, 1201);
    const error = rejected(text);
    assert.equal(error.code, "too_long");
    assert.equal(error.message, "Message of 1201 bytes is too long: the limit is 1200 bytes");
  });
  await t.step("text of exactly 1200 bytes is not too long", () => {
    assert.notEqual(rejected(sized(MAX_MESSAGE_BYTES)).code, "too_long");
  });
  await t.step("text counts UTF-8 bytes, not characters", () => {
    const text = `SEARCH s1 Laptop ${"é".repeat(600)}`;
    assert.ok(text.length < MAX_MESSAGE_BYTES);
    const error = rejected(text);
    assert.equal(error.code, "too_long");
    assert.match(error.message, /^Message of 1217 bytes is too long/);
  });
  await t.step("bytes of 1201", () => {
    const error = rejected(utf8.encode(sized(MAX_MESSAGE_BYTES + 1)));
    assert.equal(error.code, "too_long");
    assert.match(error.message, /1201 bytes.*1200 bytes/);
  });
  await t.step("bytes of 5000, even if they are not UTF-8", () => {
    const error = rejected(new Uint8Array(5000).fill(0xff));
    assert.equal(error.code, "too_long");
    assert.match(error.message, /^Message of 5000 bytes is too long/);
  });
  await t.step("bytes of exactly 1200 are not too long", () => {
    assert.notEqual(rejected(utf8.encode(sized(MAX_MESSAGE_BYTES))).code, "too_long");
  });
});

Deno.test("decode rejects bytes that are not UTF-8", async (t) => {
  const cases: [string, number[]][] = [
    ["a lone 0xff", [0xff]],
    ["a broken two-byte sequence", [0xc3, 0x28]],
    ["an overlong slash", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a truncated sequence at the end", [...utf8.encode("REGISTERED r1 "), 0xe2, 0x82]],
    ["a stray continuation byte in a field", [...utf8.encode("REGISTERED r"), 0x80]],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, () => {
      const error = rejected(new Uint8Array(bytes));
      assert.equal(error.code, "encoding");
      assert.equal(error.message, "Message is not valid UTF-8 text");
    });
  }
});

Deno.test("decode carries the rq in its error when it can be read", async (t) => {
  await t.step("with an invalid field", () => {
    assert.equal(rejected("OFFER alice-3f2c-7 bob Laptop abc").rq, "alice-3f2c-7");
  });
  await t.step("with a wrong field count", () => {
    assert.equal(rejected("BUY r9 Laptop").rq, "r9");
  });
  await t.step("with an unknown type", () => {
    assert.equal(rejected("HELLO r9").rq, "r9");
  });
  await t.step("not when the rq itself is bad", () => {
    const error = rejected("BUY r\u00079 Laptop 5");
    assert.equal(error.code, "invalid_field");
    assert.match(error.message, /^Invalid rq "r\\u00079" in BUY/);
    assert.equal(error.rq, undefined);
  });
  await t.step("not when the rq is too long", () => {
    const error = rejected(`BUY ${"r".repeat(65)} Laptop 5`);
    assert.equal(error.code, "invalid_field");
    assert.equal(error.rq, undefined);
  });
});

Deno.test("decode error messages are fit to send back as a denial reason", async (t) => {
  // The server answers a bad REGISTER with REGISTER-DENIED carrying the
  // error message, so the message must itself be encodable as a reason.
  const hostile = [
    "REGISTER r1 al\u0085ice 127.0.0.1 5001 5002",
    "REGISTER r1 al\u202eice 127.0.0.1 5001 5002",
    "REGISTER r1 al\u200bice 127.0.0.1 5001 5002",
    "REGISTER r1 al\u2028ice 127.0.0.1 5001 5002",
    "REGISTER r1 al\ufeffice 127.0.0.1 5001 5002",
    "REGISTER r1 al\u{e0041}ice 127.0.0.1 5001 5002",
    `REGISTER r1 ${"\u0001".repeat(60)} 127.0.0.1 5001 5002`,
    `REGISTER r1 ${"\u0085".repeat(60)} 127.0.0.1 5001 5002`,
    `REGISTER r1 ${"\u{e0041}".repeat(60)} 127.0.0.1 5001 5002`,
    `REGISTER r1 alice 127.0.0.1 ${'"'.repeat(80)} 5002`,
  ];
  for (const wire of hostile) {
    await t.step(show(wire), () => {
      const error = rejected(wire);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.rq, "r1");
      assert.doesNotMatch(error.message, /[\p{C}\u2028\u2029]/u);
      assert.ok(error.message.length <= MAX_TEXT_LENGTH, `${error.message.length} characters`);
      assert.equal(
        encode({ type: "REGISTER-DENIED", rq: "r1", reason: error.message }),
        `REGISTER-DENIED r1 ${error.message}`,
      );
    });
  }
  await t.step("an invisible character is shown as an escape", () => {
    assert.match(rejected(hostile[0]!).message, /^Invalid name "al\\u0085ice" in REGISTER/);
    assert.match(rejected(hostile[5]!).message, /"al\\udb40\\udc41ice"/);
  });
});

Deno.test("encode throws TypeError on a message that breaks its schema", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    [
      "a name with a space",
      { type: "OFFER", rq: "s1", name: "a b", item: "Laptop", price: 5 },
      /^Cannot encode OFFER: name /,
    ],
    [
      "a negative price",
      { type: "BUY", rq: "r1", item: "Laptop", price: -1 },
      /^Cannot encode BUY: price must be at least 0.01$/,
    ],
    [
      "a price of no cents",
      { type: "BUY", rq: "r1", item: "Laptop", price: 0 },
      /^Cannot encode BUY: price must be at least 0.01$/,
    ],
    [
      "a price of a fraction of a cent",
      { type: "BUY", rq: "r1", item: "Laptop", price: 24.999 },
      /^Cannot encode BUY: price at most 2 decimals, like 24.99$/,
    ],
    ["a NaN price", { type: "BUY", rq: "r1", item: "Laptop", price: NaN }, /price/],
    [
      "a price above the limit",
      { type: "BUY", rq: "r1", item: "Laptop", price: 2e9 },
      /price must be at most/,
    ],
    [
      "port 0",
      { type: "REGISTER", rq: "r1", name: "alice", ip: "127.0.0.1", udpPort: 0, tcpPort: 5002 },
      /^Cannot encode REGISTER: udpPort port must be 1 to 65535$/,
    ],
    [
      "a fractional port",
      {
        type: "REGISTER",
        rq: "r1",
        name: "alice",
        ip: "127.0.0.1",
        udpPort: 5001.5,
        tcpPort: 5002,
      },
      /udpPort/,
    ],
    [
      "a host name instead of an IP",
      { type: "REGISTER", rq: "r1", name: "alice", ip: "localhost", udpPort: 5001, tcpPort: 5002 },
      /^Cannot encode REGISTER: ip /,
    ],
    [
      "an empty reason",
      { type: "REGISTER-DENIED", rq: "r1", reason: "" },
      /reason must not be empty/,
    ],
    ["a reason with a newline", { type: "TX_CANCEL", rq: "t1", reason: "a\nb" }, /reason/],
    ["an rq with a space", { type: "REGISTERED", rq: "r 1" }, /^Cannot encode REGISTERED: rq /],
    ["a missing field", { type: "BUY", rq: "r1", item: "Laptop" }, /price/],
    [
      "an unknown extra field",
      { type: "BUY", rq: "r1", item: "Laptop", price: 5, extra: 1 },
      /^Cannot encode BUY: message Unrecognized key: "extra"$/,
    ],
    [
      "a bad card number",
      {
        type: "INFORM_Res",
        rq: "t1",
        name: "alice",
        card: "4111-1111",
        expiry: "04/29",
        address: "x",
      },
      /^Cannot encode INFORM_Res: card expected 8 to 19 digits$/,
    ],
    ["an unknown type", { type: "HELLO", rq: "r1" }, /./],
  ];
  for (const [name, message, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => encode(message as Message), (error: unknown) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, pattern);
        return true;
      });
    });
  }
});
