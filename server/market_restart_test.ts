/** A market rebuilt from its stored records in the middle of a search. */
import assert from "node:assert/strict";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

Deno.test("a market restored mid-window finishes the search as if never stopped", () => {
  const h = new Harness();
  h.register("buyer", true);
  h.register("s1");
  h.register("s2");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.from("s1", offer("S1", "s1", "Laptop", 450), T0 + 100);
  // Crash: only what was written survives.
  const restored = h.restarted();
  // s2 still answers the search it got before the crash.
  restored.from("s2", offer("S1", "s2", "Laptop", 420), T0 + 300);
  restored.tick(T0 + 100 + TIMERS.offerWindow);
  assert.deepEqual(restored.take("buyer"), [{
    type: "FOUND",
    rq: "b1",
    item: "Laptop",
    price: 420,
    seller: "s2",
  }]);
});

Deno.test("a market restored long after a deadline acts on it at once", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("s1");
  h.register("idle");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 300));
  h.from("s1", offer("S1", "s1", "Laptop", 450));
  h.tick(T0 + TIMERS.offerWindow);
  assert.equal(h.market.request("S1")?.state, "negotiating");
  const restored = h.restarted();
  assert.equal(restored.market.nextDeadline(), 0, "a restart first resends what may be lost");
  restored.tick(T0 + TIMERS.offerWindow + 1);
  assert.equal(restored.market.nextDeadline(), T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout);
  restored.tick(T0 + 3_600_000);
  assert.deepEqual(restored.take("buyer"), [{
    type: "NOT_FOUND",
    rq: "b1",
    item: "Laptop",
    maxPrice: 300,
  }]);
});
