/** The udp and tcp message sets: which keywords each channel reads. */
import assert from "node:assert/strict";
import { type MessageType, SPECS } from "./messages.ts";
import { decoded, rejected } from "./_codec_cases.ts";

Deno.test("decode keeps the udp and tcp message sets apart", async (t) => {
  await t.step("CANCEL on udp is the buyer's 3-field CANCEL", () => {
    assert.deepEqual(decoded("CANCEL r3 Laptop 450"), {
      type: "CANCEL",
      rq: "r3",
      item: "Laptop",
      price: 450,
    });
  });
  await t.step("CANCEL on tcp is TX_CANCEL with a reason", () => {
    assert.deepEqual(decoded("CANCEL r3 Laptop 450", { channel: "tcp" }), {
      type: "TX_CANCEL",
      rq: "r3",
      reason: "Laptop 450",
    });
  });
  await t.step("a transaction CANCEL read on udp fails on its price", () => {
    const error = rejected("CANCEL t1 card declined");
    assert.equal(error.code, "invalid_field");
    assert.match(error.message, /^Invalid price "declined" in CANCEL/);
  });
  await t.step("INFORM_Req is unknown on udp", () => {
    const error = rejected("INFORM_Req t1 Laptop 450");
    assert.equal(error.code, "unknown_type");
    assert.equal(error.rq, "t1");
    assert.match(error.message, /expected one of REGISTER, /);
    assert.doesNotMatch(error.message, /expected one of .*INFORM_/);
  });
  await t.step("INFORM_Res and Shipping_Info are unknown on udp", () => {
    assert.equal(rejected("INFORM_Res t1 alice 4111111111111111 04/29 x").code, "unknown_type");
    assert.equal(rejected("Shipping_Info t1 alice x").code, "unknown_type");
  });
  await t.step("REGISTER is unknown on tcp", () => {
    const error = rejected("REGISTER r1 alice 127.0.0.1 5001 5002", { channel: "tcp" });
    assert.equal(error.code, "unknown_type");
    assert.match(
      error.message,
      /expected one of INFORM_Req, INFORM_Res, Shipping_Info, CANCEL, ACK$/,
    );
  });
  await t.step("ACK acknowledges datagrams on udp and only Shipping_Info on tcp", () => {
    assert.equal(rejected("ACK t1 Shipping_Info").code, "invalid_field");
    assert.equal(rejected("ACK t1 SEARCH", { channel: "tcp" }).code, "invalid_field");
    assert.equal(decoded("ACK t1 SEARCH").type, "ACK");
  });
  await t.step("udp is the default channel", () => {
    assert.equal(decoded("CANCEL r3 Laptop 450").type, "CANCEL");
  });
});

Deno.test("SPECS puts exactly the transaction messages on tcp", () => {
  const tcp = (Object.keys(SPECS) as MessageType[]).filter((type) => SPECS[type].channel === "tcp");
  assert.deepEqual(tcp.sort(), [
    "INFORM_Req",
    "INFORM_Res",
    "Shipping_Info",
    "TX_ACK",
    "TX_CANCEL",
  ]);
  assert.equal(SPECS.TX_CANCEL.keyword, "CANCEL");
  assert.equal(SPECS.TX_ACK.keyword, "ACK");
});
