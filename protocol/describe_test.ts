import assert from "node:assert/strict";
import { describe, maskCard } from "./describe.ts";
import type { Message } from "./messages.ts";
import { CANONICAL } from "./_codec_cases.ts";

Deno.test("describe masks the card to its last four digits and hides the expiry", () => {
  const message: Message = {
    type: "INFORM_Res",
    rq: "t1",
    name: "alice",
    card: "4111111111111234",
    expiry: "04/29",
    address: "12 Main St",
  };
  const text = describe(message);
  assert.equal(text, "INFORM_Res t1 alice ************1234 **/** 12 Main St");
  assert.ok(!text.includes("4111111111111234"));
  assert.ok(!text.includes("04/29"));
});

Deno.test("describe writes other messages as their wire text", () => {
  for (const { wire, message } of CANONICAL) {
    if (message.type === "INFORM_Res") continue;
    assert.equal(describe(message), wire);
  }
});

Deno.test("maskCard keeps only the last four digits", () => {
  assert.equal(maskCard("4111111111111234"), "************1234");
  assert.equal(maskCard("12345678"), "****5678");
  assert.equal(maskCard("1234"), "****");
  assert.equal(maskCard("12"), "****");
  assert.equal(maskCard(""), "****");
});

Deno.test("describe cuts a registration's keys and signature short, so no log holds one whole", () => {
  const sig = "S".repeat(86);
  const message: Message = {
    type: "REGISTER",
    rq: "r1",
    name: "alice",
    ip: "127.0.0.1",
    udpPort: 6000,
    tcpPort: 6001,
    extensions: ["from", "auth", `key=${"K".repeat(87)}`, "ts=1700000000000", `sig=${sig}`],
  };
  const text = describe(message);
  assert.equal(
    text,
    "REGISTER r1 alice 127.0.0.1 6000 6001 shop/1 from auth key=KKKKKKKK… ts=1700000000000 sig=SSSSSSSS…",
  );
  assert.ok(!text.includes(sig));
});
