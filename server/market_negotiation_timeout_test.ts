/** A negotiation whose time runs out on the server (issue 13: the seller's question must go too). */
import assert from "node:assert/strict";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

const OURS = ["from", "ack", "no-offer"];

function negotiating(sellerOurs: boolean): Harness {
  const h = new Harness();
  h.register("ann", OURS);
  h.register("bob", sellerOurs ? OURS : false);
  h.from("ann", lookingFor("a1", "ann", "Toaster", 30));
  h.from("bob", offer("S1", "bob", "Toaster", 40), T0 + 10);
  h.tick(T0 + TIMERS.offerWindow);
  assert.equal(h.market.request("S1")?.state, "negotiating");
  h.take("bob");
  return h;
}

Deno.test("our seller that did not answer NEGOTIATE in time is sent CANCEL, so its question is withdrawn", () => {
  const h = negotiating(true);
  h.tick(T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout);
  assert.deepEqual(h.take("bob").filter((m) => m.type === "CANCEL"), [
    { type: "CANCEL", rq: "S1", item: "Toaster", price: 30 },
  ]);
  assert.equal(h.market.request("S1")?.state, "not_found");
});

Deno.test("a classic seller whose NEGOTIATE timed out is sent nothing it would not expect", () => {
  const h = negotiating(false);
  h.tick(T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout);
  assert.deepEqual(h.take("bob"), []);
  assert.equal(h.market.request("S1")?.state, "not_found");
});
