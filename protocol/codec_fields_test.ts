/** Field values the codec rejects: prices, ports, addresses, names, free text, card data. */
import assert from "node:assert/strict";
import { encode } from "./codec.ts";
import { MAX_ITEM_LENGTH, MAX_TEXT_LENGTH } from "./fields.ts";
import { decoded, rejected, show } from "./_codec_cases.ts";

Deno.test("decode rejects trailing words on REGISTER and REGISTERED that are not extensions", async (t) => {
  const cases: [string, string][] = [
    ["REGISTER r1 alice 127.0.0.1 5001 5002 5003", "REGISTER"],
    ["REGISTER r1 alice 127.0.0.1 5001 5002 shop/2", "REGISTER"],
    ["REGISTER r1 alice 127.0.0.1 5001 5002 shop/1 Bad!", "REGISTER"],
    ["REGISTERED r1 r2", "REGISTERED"],
  ];
  for (const [wire, keyword] of cases) {
    await t.step(show(wire), () => {
      const error = rejected(wire);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.keyword, keyword);
      assert.equal(error.rq, "r1");
      assert.match(
        error.message,
        new RegExp(`^Invalid extensions ".*" in ${keyword}: expected no more fields`),
      );
    });
  }
});

Deno.test("decode rejects a price that is not a plain decimal number", async (t) => {
  for (
    const text of [
      "abc",
      "1e5",
      "0x10",
      "Infinity",
      "NaN",
      "1,5",
      "+5",
      ".5",
      "5.",
      "1.1234567",
      "５",
    ]
  ) {
    await t.step(show(text), () => {
      const error = rejected(`OFFER s1 bob Laptop ${text}`);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.keyword, "OFFER");
      assert.equal(error.rq, "s1");
      assert.ok(
        error.message.startsWith(`Invalid price ${JSON.stringify(text)} in OFFER: `),
        error.message,
      );
      assert.match(error.message, /decimal number/);
    });
  }
});

Deno.test("decode rejects a negative price", async (t) => {
  for (const text of ["-5", "-0.01", "-0"]) {
    await t.step(text, () => {
      const error = rejected(`LOOKING_FOR r3 alice Laptop cheap ${text}`);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.rq, "r3");
      assert.match(error.message, new RegExp(`^Invalid maxPrice "${text}" in LOOKING_FOR: `));
      assert.match(error.message, /non-negative/);
    });
  }
});

Deno.test("decode rejects a price below one cent or with more than 2 decimals", async (t) => {
  const cases: [string, string][] = [
    ["0", "must be at least 0.01"],
    ["0.00", "must be at least 0.01"],
    ["0.000001", "at most 2 decimals, like 24.99"],
    ["24.999", "at most 2 decimals, like 24.99"],
    ["1.001", "at most 2 decimals, like 24.99"],
  ];
  for (const [text, why] of cases) {
    await t.step(text, () => {
      const error = rejected(`OFFER s1 bob Laptop ${text}`);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.message, `Invalid price "${text}" in OFFER: ${why}`);
    });
  }
});

Deno.test("decode rejects a price above the limit", () => {
  const error = rejected("BUY r3 Laptop 1000000000.01");
  assert.equal(error.code, "invalid_field");
  assert.match(error.message, /^Invalid price "1000000000.01" in BUY: must be at most 1000000000$/);
});

Deno.test("decode rejects a port out of range", async (t) => {
  for (const text of ["0", "00000", "65536", "99999"]) {
    await t.step(`udp port ${text}`, () => {
      const error = rejected(`REGISTER r1 alice 127.0.0.1 ${text} 5002`);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.rq, "r1");
      assert.equal(
        error.message,
        `Invalid udpPort "${text}" in REGISTER: port must be 1 to 65535`,
      );
    });
  }
  await t.step("tcp port 65536", () => {
    const error = rejected("REGISTER r1 alice 127.0.0.1 5001 65536");
    assert.match(error.message, /^Invalid tcpPort "65536" in REGISTER: port must be 1 to 65535$/);
  });
  for (const text of ["abc", "1e3", "0x10", "-1", "123456", "50.0"]) {
    await t.step(`port ${JSON.stringify(text)} is not a number`, () => {
      const error = rejected(`REGISTER r1 alice 127.0.0.1 ${text} 5002`);
      assert.equal(error.code, "invalid_field");
      assert.match(
        error.message,
        new RegExp(`^Invalid udpPort "${text}" in REGISTER: expected a port`),
      );
    });
  }
});

Deno.test("decode rejects an address that is not an IP", () => {
  for (const ip of ["localhost", "256.0.0.1", "127.0.0", "example.com"]) {
    const error = rejected(`REGISTER r1 alice ${ip} 5001 5002`);
    assert.equal(error.code, "invalid_field");
    assert.match(
      error.message,
      new RegExp(`^Invalid ip "${ip}" in REGISTER: expected an IPv4 or IPv6`),
    );
  }
});

Deno.test("decode rejects a name with characters unfit for a file name", async (t) => {
  const names = [
    "al/ice",
    "../x",
    "..",
    "al\\ice",
    "al\u0007ice",
    "al\u0000ice",
    "ålice",
    "名前",
    "-alice",
    "_alice",
    "al.ice",
    "al:ice",
    "a".repeat(33),
  ];
  for (const name of names) {
    await t.step(show(name), () => {
      const error = rejected(`REGISTER r1 ${name} 127.0.0.1 5001 5002`);
      assert.equal(error.code, "invalid_field");
      assert.equal(error.keyword, "REGISTER");
      assert.equal(error.rq, "r1");
      assert.match(error.message, /^Invalid name "/);
      assert.doesNotMatch(error.message, /\p{Cc}/u, "control characters are escaped");
    });
  }
  await t.step("a control character is shown escaped", () => {
    assert.match(rejected("DE-REGISTER r2 al\u0007ice").message, /"al\\u0007ice"/);
  });
  await t.step("in OFFER and in FOUND's seller too", () => {
    assert.match(rejected("OFFER s1 ../x Laptop 5").message, /^Invalid name "..\/x" in OFFER/);
    assert.match(
      rejected("FOUND r3 Laptop 450 from ../x").message,
      /^Invalid seller "..\/x" in FOUND/,
    );
  });
  await t.step("names of letters, digits, _ and - up to 32 characters are fine", () => {
    for (const name of ["a", "7", "Alice_2-b", "a".repeat(32)]) {
      assert.deepEqual(decoded(`DE-REGISTER r2 ${name}`), {
        type: "DE-REGISTER",
        rq: "r2",
        name,
      });
    }
  });
});

Deno.test("decode rejects control characters in items and free text", () => {
  const item = rejected("OFFER s1 bob Lap\u0007top 5");
  assert.equal(item.code, "invalid_field");
  assert.match(item.message, /^Invalid item "Lap\\u0007top" in OFFER/);
  const reason = rejected("REGISTER-DENIED r1 name\u007f in use");
  assert.equal(reason.code, "invalid_field");
  assert.match(reason.message, /^Invalid reason "name\\u007f in use" in REGISTER-DENIED/);
});

Deno.test("decode composes item names (NFC) and counts their limit after composing", async (t) => {
  const composed = "Caf\u00e9";
  await t.step("a decomposed name from a classic peer comes out composed", () => {
    assert.deepEqual(decoded("SEARCH s1 Cafe\u0301 for two"), {
      type: "SEARCH",
      rq: "s1",
      item: composed,
      description: "for two",
      spelling: "Cafe\u0301",
    });
    const offer = decoded("OFFER s1 bob Cafe\u0301 5");
    assert.equal(offer.type === "OFFER" && offer.item, composed);
    const book = decoded("CATALOGUE w1 1 1 Cafe\u0301 20 2 4");
    assert.equal(book.type === "CATALOGUE" && book.entries[0]?.item, composed);
  });
  await t.step("and is written composed", () => {
    assert.equal(
      encode({ type: "BUY", rq: "r1", item: "Cafe\u0301", price: 5 }),
      `BUY r1 ${composed} 5`,
    );
  });
  await t.step(
    "LOOKING_FOR and SEARCH keep the spelling, and write it in place of the item",
    () => {
      const looking = decoded("LOOKING_FOR r1 dave Cafe\u0301 beans 10");
      assert.equal(looking.type === "LOOKING_FOR" && looking.item, composed);
      assert.equal(looking.type === "LOOKING_FOR" && looking.spelling, "Cafe\u0301");
      assert.equal(
        encode({
          type: "SEARCH",
          rq: "s1",
          item: composed,
          description: "",
          spelling: "Cafe\u0301",
        }),
        "SEARCH s1 Cafe\u0301",
      );
      const plain = decoded(`LOOKING_FOR r1 dave ${composed} beans 10`);
      assert.equal("spelling" in plain, false);
    },
  );
  await t.step("a spelling that is not one of the item is a program error", () => {
    assert.throws(
      () => encode({ type: "SEARCH", rq: "s1", item: composed, description: "", spelling: "Cafe" }),
      TypeError,
    );
  });
  await t.step("a name too long only decomposed is taken", () => {
    const name = "e\u0301".repeat(MAX_ITEM_LENGTH);
    const offer = decoded(`OFFER s1 bob ${name} 5`);
    assert.equal(offer.type === "OFFER" && offer.item, "\u00e9".repeat(MAX_ITEM_LENGTH));
  });
  await t.step("a name that composing lengthens past the limit is refused", () => {
    // U+0958 (DEVANAGARI LETTER QA) composes to two code points, U+0915 U+093C.
    const name = "\u0958".repeat(MAX_ITEM_LENGTH / 2 + 1);
    const error = rejected(`OFFER s1 bob ${name} 5`);
    assert.equal(error.code, "invalid_field");
    assert.match(error.message, /^Invalid item ".*" in OFFER: /);
  });
});

Deno.test("decode rejects empty reasons and addresses", () => {
  const reason = rejected("REGISTER-DENIED r1");
  assert.equal(reason.code, "invalid_field");
  assert.equal(reason.message, 'Invalid reason "" in REGISTER-DENIED: must not be empty');
  const cancel = rejected("CANCEL t1", { channel: "tcp" });
  assert.equal(cancel.message, 'Invalid reason "" in CANCEL: must not be empty');
  const address = rejected("Shipping_Info t1 alice", { channel: "tcp" });
  assert.equal(address.message, 'Invalid address "" in Shipping_Info: must not be empty');
});

Deno.test("decode rejects free text over the length limit", () => {
  const description = "word ".repeat(70).trim();
  assert.ok(description.length > MAX_TEXT_LENGTH);
  const error = rejected(`LOOKING_FOR r3 alice Laptop ${description} 500`);
  assert.equal(error.code, "invalid_field");
  assert.match(error.message, /^Invalid description "word word.*…" in LOOKING_FOR: /);
});

Deno.test("decode never quotes card numbers or expiry dates in INFORM_Res errors", async (t) => {
  const tcp = { channel: "tcp" } as const;
  const card = "4111111111111111";
  await t.step("a card number with too many digits", () => {
    const bad = "41111111111111112222";
    const error = rejected(`INFORM_Res t1 alice ${bad} 04/29 12 Main St`, tcp);
    assert.equal(error.code, "invalid_field");
    assert.equal(error.message, "Invalid card in INFORM_Res: expected 8 to 19 digits");
    assert.equal(error.rq, "t1");
    assert.ok(!JSON.stringify(error).includes("4111"));
  });
  await t.step("a card number with dashes", () => {
    const error = rejected("INFORM_Res t1 alice 4111-1111-1111-1111 04/29 12 Main St", tcp);
    assert.match(error.message, /^Invalid card in INFORM_Res/);
    assert.ok(!JSON.stringify(error).includes("4111"));
  });
  await t.step("an expiry with month 13", () => {
    const error = rejected(`INFORM_Res t1 alice ${card} 13/29 12 Main St`, tcp);
    assert.equal(
      error.message,
      "Invalid expiry in INFORM_Res: expected a month and year like 04/29",
    );
    assert.ok(!JSON.stringify(error).includes("13/29"));
    assert.ok(!JSON.stringify(error).includes(card));
  });
  await t.step("another field is wrong while the card is fine", () => {
    const error = rejected(`INFORM_Res t1 ../x ${card} 04/29 12 Main St`, tcp);
    assert.match(error.message, /^Invalid name "..\/x" in INFORM_Res/);
    assert.ok(!JSON.stringify(error).includes(card));
    assert.ok(!JSON.stringify(error).includes("04/29"));
  });
  await t.step("the address is missing", () => {
    const error = rejected(`INFORM_Res t1 alice ${card} 04/29`, tcp);
    assert.equal(error.message, 'Invalid address "" in INFORM_Res: must not be empty');
  });
});

Deno.test("a LIST's quantity is at most 999999 (a store's whole-number column takes it)", () => {
  const list = (quantity: string) => `LIST l1 alice 7 Lamp 25 ${quantity} brass lamp`;
  assert.equal((decoded(list("999999")) as { quantity: number }).quantity, 999_999);
  assert.match(rejected(list("1000000")).message, /at most 999999/);
  assert.match(rejected(list("3000000000")).message, /at most 999999/);
});
