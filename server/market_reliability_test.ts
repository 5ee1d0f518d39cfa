/**
 * Idempotence, acknowledgements, retransmission, early decisions and caps,
 * driven through the state machine alone.
 */
import assert from "node:assert/strict";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

const OURS = ["from", "ack", "no-offer"];
const RETRANSMIT = { initialRto: 100, minRto: 50, maxRto: 400, maxAttempts: 3 };

Deno.test("our peer registering with extensions gets those the server speaks", () => {
  const h = new Harness();
  h.ports.set("alice", 7000);
  h.from("alice", {
    type: "REGISTER",
    rq: "r1",
    name: "alice",
    ip: "127.0.0.1",
    udpPort: 7000,
    tcpPort: 7001,
    extensions: ["from", "ack", "teleport"],
  });
  assert.deepEqual(h.take("alice"), [{
    type: "REGISTERED",
    rq: "r1",
    extensions: ["from", "ack"],
  }]);
  assert.deepEqual(h.market.peer("alice")?.extensions, ["from", "ack"]);
});

Deno.test("a repeated DE-REGISTER gets the same reply and is processed once", () => {
  const h = new Harness();
  h.register("alice");
  h.from("alice", { type: "DE-REGISTER", rq: "d1", name: "alice" });
  h.from("alice", { type: "DE-REGISTER", rq: "d1", name: "alice" }, T0 + 1_000);
  assert.deepEqual(h.take("alice"), [
    { type: "DE-REGISTERED", rq: "d1" },
    { type: "DE-REGISTERED", rq: "d1" },
  ]);
  assert.equal(h.writes.filter((w) => w.kind === "delete").length, 1);
  // Long after, the cache has forgotten: the name is simply not registered.
  h.from("alice", { type: "DE-REGISTER", rq: "d1", name: "alice" }, T0 + 120_000);
  assert.equal(h.take("alice")[0]?.type, "DE-REGISTER-DENIED");
});

Deno.test("requests of our peers are acknowledged; classic peers get no ACK", () => {
  const h = new Harness();
  h.register("ours", OURS);
  h.register("classic");
  h.from("ours", lookingFor("b1", "ours", "Lamp", 10));
  h.from("classic", lookingFor("c1", "classic", "Lamp", 10));
  assert.deepEqual(h.take("ours").filter((m) => m.type === "ACK"), [{
    type: "ACK",
    rq: "b1",
    of: "LOOKING_FOR",
  }]);
  assert.deepEqual(h.take("classic").filter((m) => m.type === "ACK"), []);
});

Deno.test("the server retransmits to our peers until they ACK, with backoff, then gives up", async (t) => {
  await t.step("acknowledged: no more sends", () => {
    const h = new Harness(undefined, { retransmit: RETRANSMIT });
    h.register("buyer", OURS);
    h.register("seller", OURS);
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    assert.equal(h.take("seller")[0]?.type, "SEARCH");
    h.tick(T0 + 100);
    assert.deepEqual(
      h.take("seller").map((m) => m.type),
      ["SEARCH"],
      "resent after the initial timeout",
    );
    h.from("seller", { type: "ACK", rq: "S1", of: "SEARCH" }, T0 + 120);
    h.tick(T0 + 4_000);
    assert.deepEqual(h.take("seller"), []);
    assert.equal(h.market.unacknowledged, 0);
  });

  await t.step("never acknowledged: three sends at doubling intervals, then a warning", () => {
    const h = new Harness(undefined, { retransmit: RETRANSMIT });
    h.register("buyer", OURS);
    h.register("seller", OURS);
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.take("seller");
    const sendTimes: number[] = [];
    for (let at = T0; at <= T0 + 2_000; at += 10) {
      if (h.tick(at).length && h.take("seller").length) sendTimes.push(at - T0);
    }
    assert.deepEqual(sendTimes, [100, 300]);
    assert.equal(h.market.unacknowledged, 0);
  });

  await t.step("classic peers are sent everything once", () => {
    const h = new Harness(undefined, { retransmit: RETRANSMIT });
    h.register("buyer", OURS);
    h.register("seller");
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.take("seller");
    h.tick(T0 + 1_000);
    assert.deepEqual(h.take("seller"), []);
  });
});

Deno.test("a search ends as soon as every asked seller has answered", async (t) => {
  await t.step("offers and NO_OFFERs: FOUND at once, long before the window", () => {
    const h = new Harness();
    h.register("buyer", OURS);
    for (const name of ["s1", "s2", "s3"]) h.register(name, OURS);
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.from("s1", { type: "NO_OFFER", rq: "S1", name: "s1", item: "Lamp" }, T0 + 5);
    h.from("s2", offer("S1", "s2", "Lamp", 9), T0 + 6);
    assert.deepEqual(h.take("buyer").filter((m) => m.type === "FOUND"), []);
    h.from("s3", { type: "NO_OFFER", rq: "S1", name: "s3", item: "Lamp" }, T0 + 7);
    assert.deepEqual(h.take("buyer").filter((m) => m.type === "FOUND"), [{
      type: "FOUND",
      rq: "b1",
      item: "Lamp",
      price: 9,
      seller: "s2",
    }]);
    assert.equal(h.market.request("S1")?.updatedAt, T0 + 7);
  });

  await t.step("nobody has it: NOT_AVAILABLE at once instead of after the search timeout", () => {
    const h = new Harness();
    h.register("buyer", OURS);
    h.register("s1", OURS);
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.from("s1", { type: "NO_OFFER", rq: "S1", name: "s1", item: "Lamp" }, T0 + 5);
    assert.deepEqual(h.take("buyer").filter((m) => m.type === "NOT_AVAILABLE").length, 1);
  });

  await t.step("a silent classic seller keeps the window open", () => {
    const h = new Harness();
    h.register("buyer", OURS);
    h.register("s1", OURS);
    h.register("classic");
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.from("s1", offer("S1", "s1", "Lamp", 9), T0 + 5);
    assert.deepEqual(h.take("buyer").filter((m) => m.type === "FOUND"), []);
    h.tick(T0 + 5 + TIMERS.offerWindow);
    assert.equal(h.take("buyer").filter((m) => m.type === "FOUND").length, 1);
  });

  await t.step("a NO_OFFER from a peer never asked does not count", () => {
    const h = new Harness();
    h.register("buyer", OURS);
    h.register("s1", OURS);
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
    h.register("late", OURS, T0 + 1);
    h.from("late", { type: "NO_OFFER", rq: "S1", name: "late", item: "Lamp" }, T0 + 5);
    h.from("s1", { type: "NO_OFFER", rq: "S1", name: "buyer", item: "Lamp" }, T0 + 6);
    assert.equal(h.market.request("S1")?.state, "searching");
  });
});

Deno.test("a buyer's open searches are capped with a clear denial", () => {
  const h = new Harness(undefined, { limits: { openRequestsPerPeer: 2 } });
  h.register("buyer", OURS);
  h.register("classic");
  h.register("seller");
  for (const rq of ["b1", "b2", "b3"]) h.from("buyer", lookingFor(rq, "buyer", "Lamp", 10));
  for (const rq of ["c1", "c2", "c3"]) h.from("classic", lookingFor(rq, "classic", "Lamp", 10));
  assert.deepEqual(h.take("buyer").filter((m) => m.type === "DENIED"), [{
    type: "DENIED",
    rq: "b3",
    reason: "too many open searches (2)",
  }]);
  assert.deepEqual(h.take("classic").filter((m) => m.type === "NOT_AVAILABLE").map((m) => m.rq), [
    "c3",
  ]);
  assert.equal(h.market.requests().length, 4);
  // Once a search ends, there is room again.
  h.tick(T0 + TIMERS.searchTimeout);
  h.from("buyer", lookingFor("b4", "buyer", "Lamp", 10), T0 + TIMERS.searchTimeout + 1);
  assert.equal(h.market.requests().filter((r) => r.buyerRq === "b4").length, 1);
});

Deno.test("the reply cache stays within its cap", () => {
  const h = new Harness(undefined, { limits: { replyCache: 50 } });
  h.register("alice");
  for (let i = 0; i < 500; i++) {
    h.from("alice", { type: "DE-REGISTER", rq: `x${i}`, name: "nobody" }, T0 + i);
  }
  assert.ok(h.market.cachedReplies <= 50, `${h.market.cachedReplies} cached`);
});

Deno.test("after a restart the server resends what our peers may have missed", () => {
  const h = new Harness();
  h.register("buyer", OURS);
  h.register("s1", OURS);
  h.register("s2", OURS);
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 10));
  h.from("buyer", lookingFor("b2", "buyer", "Vase", 10));
  h.from("s1", offer("S1", "s1", "Lamp", 9), T0 + 5);
  h.from("s2", { type: "NO_OFFER", rq: "S1", name: "s2", item: "Lamp" }, T0 + 6);
  assert.equal(h.market.request("S1")?.state, "found");
  const restored = h.restarted();
  restored.tick(T0 + 1_000);
  // The FOUND and the RESERVE may have been lost with the crash: sent again.
  assert.deepEqual(restored.take("buyer").map((m) => `${m.type} ${m.rq}`), ["FOUND b1"]);
  assert.deepEqual(restored.take("s1").map((m) => `${m.type} ${m.rq}`), ["RESERVE S1"]);
  // The open search's SEARCHes are not (its stored offers and its timers still decide it).
  assert.deepEqual(restored.take("s2"), []);
});
