/**
 * What a restarted market sends again to the sellers of searches that
 * ended shortly before the crash: the CANCEL that releases their item was
 * awaiting its ACK in memory only.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

const OURS = ["from", "ack", "no-offer"];

/** ann looks for a lamp; bob (ours, or classic) offers it at `price`; the window closes. */
function decided(sellerOurs: boolean, price = 20): Harness {
  const h = new Harness();
  h.register("ann", OURS);
  h.register("bob", sellerOurs ? OURS : false);
  h.from("ann", lookingFor("a1", "ann", "Lamp", 30));
  h.from("bob", offer("S1", "bob", "Lamp", price), T0 + 10);
  h.tick(T0 + TIMERS.offerWindow);
  return h;
}

/** The market rebuilt from what it stored, ticked once, as after a crash. */
function restarted(h: Harness, at: number): Harness {
  const again = new Harness(h.stored());
  again.ports = h.ports;
  again.tick(at);
  return again;
}

const cancels = (messages: Message[]) => messages.filter((m) => m.type === "CANCEL");

Deno.test("a restarted market sends again the CANCEL of a reservation that lapsed before the crash", () => {
  const h = decided(true);
  assert.equal(h.market.request("S1")?.state, "found");
  h.tick(T0 + TIMERS.offerWindow + TIMERS.reserveTimeout);
  assert.equal(h.market.request("S1")?.state, "cancelled");
  assert.equal(cancels(h.take("bob")).length, 1);

  const again = restarted(h, T0 + 10_000);
  assert.deepEqual(cancels(again.take("bob")), [
    { type: "CANCEL", rq: "S1", item: "Lamp", price: 20 },
  ]);
  // Tracked until bob acknowledges it, as the first one was.
  assert.equal(again.market.unacknowledged > 0, true);
});

Deno.test("a restarted market sends again the CANCEL of a negotiation that ended without a deal", () => {
  const h = decided(true, 40);
  assert.equal(h.market.request("S1")?.state, "negotiating");
  h.tick(T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout);
  assert.equal(h.market.request("S1")?.state, "not_found");
  h.take("bob");
  const again = restarted(h, T0 + 10_000);
  assert.deepEqual(cancels(again.take("bob")).map((m) => m.rq), ["S1"]);
});

Deno.test("a restarted market sends nothing again to a classic seller, nor for long-ended searches", () => {
  const classic = decided(false);
  classic.tick(T0 + TIMERS.offerWindow + TIMERS.reserveTimeout);
  classic.take("bob");
  assert.deepEqual(restarted(classic, T0 + 10_000).take("bob"), []);

  const old = decided(true);
  old.tick(T0 + TIMERS.offerWindow + TIMERS.reserveTimeout);
  old.take("bob");
  assert.deepEqual(cancels(restarted(old, T0 + 10 * 60_000).take("bob")), []);
});

Deno.test("a restarted market does not cancel what a seller never held: an offer not chosen", () => {
  const h = new Harness();
  h.register("ann", OURS);
  h.register("bob", OURS);
  h.from("ann", lookingFor("a1", "ann", "Lamp", 30));
  h.from("ann", { type: "DE-REGISTER", rq: "d1", name: "ann" }, T0 + 100);
  assert.equal(h.market.request("S1")?.state, "cancelled");
  h.take("bob");
  assert.deepEqual(cancels(restarted(h, T0 + 1_000).take("bob")), []);
});
