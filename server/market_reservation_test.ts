/** The reservation after FOUND: the buyer's CANCEL or BUY, no answer, two buyers, a party leaving. */
import assert from "node:assert/strict";
import { foundSetup, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

Deno.test("the buyer's CANCEL releases the seller's item, which is offered again", () => {
  const h = foundSetup();
  h.tick(T0 + TIMERS.offerWindow);
  h.take("buyer");
  h.take("s1");
  h.from("buyer", { type: "CANCEL", rq: "b1", item: "Laptop", price: 400 }, T0 + 2_000);
  assert.deepEqual(h.take("s1"), [{ type: "CANCEL", rq: "S1", item: "Laptop", price: 400 }]);
  assert.equal(h.market.request("S1")?.state, "cancelled");
  h.from("buyer", lookingFor("b2", "buyer", "Laptop", 500), T0 + 3_000);
  h.from("s1", offer("S2", "s1", "Laptop", 400), T0 + 3_100);
  h.tick(T0 + 3_100 + TIMERS.offerWindow);
  assert.deepEqual(h.take("buyer").at(-1), { type: "FOUND", rq: "b2", item: "Laptop", price: 400 });
});

Deno.test("BUY records the purchase as buying and keeps the item reserved", () => {
  const h = foundSetup();
  h.tick(T0 + TIMERS.offerWindow);
  h.from("buyer", { type: "BUY", rq: "b1", item: "Laptop", price: 400 }, T0 + 2_000);
  assert.equal(h.market.request("S1")?.state, "buying");
  h.tick(T0 + 100 * TIMERS.reserveTimeout);
  assert.equal(h.market.request("S1")?.state, "buying", "no reservation timeout after BUY");
});

Deno.test("a FOUND left unanswered cancels the reservation and tells both sides", () => {
  const h = foundSetup();
  h.tick(T0 + TIMERS.offerWindow);
  h.take("buyer");
  h.take("s1");
  h.tick(T0 + TIMERS.offerWindow + TIMERS.reserveTimeout);
  assert.deepEqual(h.take("s1"), [{ type: "CANCEL", rq: "S1", item: "Laptop", price: 400 }]);
  assert.deepEqual(h.take("buyer"), [{ type: "CANCEL", rq: "b1", item: "Laptop", price: 400 }]);
  // A BUY after that is told again that the purchase is cancelled.
  h.from("buyer", { type: "BUY", rq: "b1", item: "Laptop", price: 400 }, T0 + 20_000);
  assert.deepEqual(h.take("buyer"), [{ type: "CANCEL", rq: "b1", item: "Laptop", price: 400 }]);
  assert.equal(h.market.request("S1")?.state, "cancelled");
});

Deno.test("two buyers racing for one item: exactly one gets it", () => {
  const h = foundSetup(["ann", "bea"]);
  h.tick(T0 + TIMERS.offerWindow);
  const found = [...h.take("ann"), ...h.take("bea")].filter((m) => m.type !== "SEARCH");
  assert.deepEqual(found.map((m) => m.type).sort(), ["FOUND", "NOT_AVAILABLE"]);
  assert.deepEqual(h.take("s1").filter((m) => m.type === "RESERVE").length, 1);
});

Deno.test("a peer that de-registers mid-flow ends its flows and tells the others", async (t) => {
  await t.step("the buyer leaves after FOUND: the seller's item is released", () => {
    const h = foundSetup();
    h.tick(T0 + TIMERS.offerWindow);
    h.take("s1");
    h.from("buyer", { type: "DE-REGISTER", rq: "d1", name: "buyer" }, T0 + 2_000);
    assert.deepEqual(h.take("s1"), [{ type: "CANCEL", rq: "S1", item: "Laptop", price: 400 }]);
    assert.equal(h.market.request("S1")?.state, "cancelled");
  });

  await t.step("the seller leaves after FOUND: the buyer is told", () => {
    const h = foundSetup();
    h.tick(T0 + TIMERS.offerWindow);
    h.take("buyer");
    h.from("s1", { type: "DE-REGISTER", rq: "d1", name: "s1" }, T0 + 2_000);
    assert.deepEqual(h.take("buyer"), [{ type: "CANCEL", rq: "b1", item: "Laptop", price: 400 }]);
  });

  await t.step("the only seller leaves mid-window: NOT_AVAILABLE when it closes", () => {
    const h = foundSetup();
    h.from("s1", { type: "DE-REGISTER", rq: "d1", name: "s1" }, T0 + 500);
    h.tick(T0 + TIMERS.offerWindow);
    assert.deepEqual(h.take("buyer"), [{
      type: "NOT_AVAILABLE",
      rq: "b1",
      item: "Laptop",
      maxPrice: 500,
    }]);
  });
});
