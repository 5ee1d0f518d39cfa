import assert from "node:assert/strict";
import { ExtensionSet } from "./extensions.ts";

Deno.test("ExtensionSet keeps the known features once each and drops tokens and unknown words", () => {
  const set = ExtensionSet.from(["from", "ack", "key=abc", "x-new", "ack", "auth"]);
  assert.deepEqual(set.toArray(), ["from", "ack", "auth"]);
  assert.equal(set.has("ack"), true);
  assert.equal(set.has("no-offer"), false);
  assert.equal(set.toString(), "from, ack, auth");
});

Deno.test("ExtensionSet of nothing is a classic peer's: it speaks no extension", () => {
  assert.equal(ExtensionSet.from(undefined).size, 0);
  assert.equal(ExtensionSet.from([]).has("from"), false);
  assert.equal(ExtensionSet.NONE.toString(), "none");
});

Deno.test("ExtensionSet.intersect keeps what both sides offer, in this side's order", () => {
  const ours = ExtensionSet.from(["from", "ack", "no-offer", "auth"]);
  assert.deepEqual(ours.intersect(["auth", "from", "zzz"]).toArray(), ["from", "auth"]);
});
