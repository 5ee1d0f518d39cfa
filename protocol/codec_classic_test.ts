/**
 * What classic implementations met on loopback write (issue 13, "Interop
 * with other implementations"): each deviation decodes where its meaning
 * is plain, and our side never writes it.
 */
import assert from "node:assert/strict";
import { encode } from "./codec.ts";
import type { Channel, Message } from "./messages.ts";
import { decoded, rejected, show, utf8 } from "./_codec_cases.ts";

Deno.test("decode accepts NOT_AVAILABLE and NOT_FOUND without the max price", async (t) => {
  for (const type of ["NOT_AVAILABLE", "NOT_FOUND"] as const) {
    await t.step(type, () => {
      assert.deepEqual(decoded(utf8.encode(`${type} r3 Lamp`)), { type, rq: "r3", item: "Lamp" });
      assert.deepEqual(decoded(utf8.encode(`${type} r3 Lamp 30.0\n`)), {
        type,
        rq: "r3",
        item: "Lamp",
        maxPrice: 30,
      });
    });
    await t.step(`${type} is written with the max price when it has one`, () => {
      assert.equal(encode({ type, rq: "r3", item: "Lamp", maxPrice: 30 }), `${type} r3 Lamp 30`);
      assert.equal(encode({ type, rq: "r3", item: "Lamp" }), `${type} r3 Lamp`);
    });
  }
  await t.step("a short form with a bad item names the item", () => {
    const bad = rejected("NOT_FOUND r3 La\u0085mp");
    assert.equal(bad.code, "invalid_field");
    assert.match(bad.message, /^Invalid item/);
    assert.equal(bad.rq, "r3");
  });
  await t.step("anything else is still a field count error about the usual form", () => {
    const error = rejected("NOT_AVAILABLE r3");
    assert.equal(error.code, "field_count");
    assert.equal(error.message, "NOT_AVAILABLE needs 3 fields (rq item maxPrice), got 1");
    assert.match(rejected("NOT_AVAILABLE r3 Lamp 30 40").message, /needs 3 fields.*got 4/);
  });
});

Deno.test("decode accepts BUY, CANCEL, ACCEPT and REFUSE with the sender's name after the RQ#", async (t) => {
  const cases: [string, Message][] = [
    ["BUY 7 bob Lamp 25", { type: "BUY", rq: "7", item: "Lamp", price: 25, sender: "bob" }],
    ["CANCEL 7 bob Lamp 25.0", {
      type: "CANCEL",
      rq: "7",
      item: "Lamp",
      price: 25,
      sender: "bob",
    }],
    ["ACCEPT s1 carol Mug 30", {
      type: "ACCEPT",
      rq: "s1",
      item: "Mug",
      maxPrice: 30,
      sender: "carol",
    }],
    ["REFUSE s1 carol Mug 30", {
      type: "REFUSE",
      rq: "s1",
      item: "Mug",
      maxPrice: 30,
      sender: "carol",
    }],
  ];
  for (const [wire, message] of cases) {
    await t.step(show(wire), () => {
      assert.deepEqual(decoded(utf8.encode(wire)), message);
      // Our side never writes the name: the message goes out in the spec's form.
      const spec = wire.split(" ").filter((_, i) => i !== 2).join(" ").replace("25.0", "25");
      assert.equal(encode(message), spec);
      const { sender: _sender, ...usual } = message as Message & { sender?: string };
      assert.deepEqual(decoded(spec), usual);
    });
  }
  await t.step("a token there that is no name is still an extra field", () => {
    const error = rejected("BUY 7 bob! Lamp 25");
    assert.equal(error.code, "field_count");
    assert.equal(error.message, "BUY needs 3 fields (rq item price), got 4");
    assert.equal(error.rq, "7");
  });
  await t.step("two extra tokens are refused", () => {
    assert.match(rejected("CANCEL 7 bob Lamp 25 now").message, /CANCEL needs 3 fields.*got 5/);
  });
  await t.step("the TCP CANCEL keeps its reason", () => {
    assert.deepEqual(decoded("CANCEL t1 bob Lamp 25", { channel: "tcp" }), {
      type: "TX_CANCEL",
      rq: "t1",
      reason: "bob Lamp 25",
    });
  });
});

Deno.test("decode accepts DE-REGISTERED with the peer's name after the RQ#", async (t) => {
  await t.step("as a classic server that knows only REGISTER writes it", () => {
    assert.deepEqual(decoded(utf8.encode("DE-REGISTERED r4 alice")), {
      type: "DE-REGISTERED",
      rq: "r4",
      name: "alice",
    });
  });
  await t.step("the name is never written", () => {
    assert.equal(encode({ type: "DE-REGISTERED", rq: "r4", name: "alice" }), "DE-REGISTERED r4");
  });
  await t.step("a token there that is no name is still an extra field", () => {
    assert.equal(rejected("DE-REGISTERED r4 al/ice").code, "field_count");
  });
});

Deno.test("decode reads what a classic Python peer and server write", async (t) => {
  // Prices as Python floats, the seller's name after FOUND, an empty
  // description leaving two spaces, a server-made RQ# for the transaction.
  const cases: [string, Message, Channel?][] = [
    ["FOUND bob-f8941b9b-2 Lamp 25.0 from alice", {
      type: "FOUND",
      rq: "bob-f8941b9b-2",
      item: "Lamp",
      price: 25,
      seller: "alice",
    }],
    ["RESERVE bob-f8941b9b-2 Lamp 25.0", {
      type: "RESERVE",
      rq: "bob-f8941b9b-2",
      item: "Lamp",
      price: 25,
    }],
    ["LOOKING_FOR dave-adabc0df-dd1b-41b9-b234-dc9b359e0d4b-3 dave Mug  30.0", {
      type: "LOOKING_FOR",
      rq: "dave-adabc0df-dd1b-41b9-b234-dc9b359e0d4b-3",
      name: "dave",
      item: "Mug",
      description: "",
      maxPrice: 30,
    }],
    ["INFORM_Req Server-71151008-f9c5-40b5-944f-887f55493fdb-1 Lamp 25.0", {
      type: "INFORM_Req",
      rq: "Server-71151008-f9c5-40b5-944f-887f55493fdb-1",
      item: "Lamp",
      price: 25,
    }, "tcp"],
  ];
  for (const [wire, message, channel] of cases) {
    await t.step(show(wire), () => {
      assert.deepEqual(decoded(utf8.encode(wire), { channel }), message);
    });
  }
});
