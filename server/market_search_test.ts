/**
 * A search through the market state machine alone: SEARCH to the peers,
 * the offer window, NEGOTIATE, NOT_AVAILABLE, repeats. No sockets, no KV,
 * no sleeping: time is the `at` of each event.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

Deno.test("the cheapest of three offers within the max wins when the window closes", () => {
  const h = new Harness();
  h.register("buyer", true);
  for (const seller of ["s1", "s2", "s3"]) h.register(seller);
  h.register("idle"); // asked but silent, as a classic peer without the item is
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  for (const seller of ["s1", "s2", "s3"]) {
    assert.deepEqual(h.take(seller), [{
      type: "SEARCH",
      rq: "S1",
      item: "Laptop",
      description: "any",
    }]);
  }
  h.from("s1", offer("S1", "s1", "Laptop", 480), T0 + 100);
  h.from("s2", offer("S1", "s2", "laptop", 450), T0 + 200);
  h.from("s3", offer("S1", "s3", "Laptop", 520), T0 + 300);
  assert.equal(h.market.nextDeadline(), T0 + 100 + TIMERS.offerWindow);
  h.tick(T0 + 1_099);
  assert.deepEqual(h.take("buyer"), [], "nothing before the window closes");
  h.tick(T0 + 1_100);
  assert.deepEqual(h.take("buyer"), [{
    type: "FOUND",
    rq: "b1",
    item: "Laptop",
    price: 450,
    seller: "s2",
  }]);
  assert.deepEqual(h.take("s2"), [{ type: "RESERVE", rq: "S1", item: "Laptop", price: 450 }]);
  assert.deepEqual([...h.take("s1"), ...h.take("s3")], []);
  assert.equal(h.market.request("S1")?.state, "found");
});

Deno.test("a classic buyer's FOUND carries no seller name", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("s1");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.from("s1", offer("S1", "s1", "Laptop", 400));
  h.tick(T0 + TIMERS.offerWindow);
  assert.deepEqual(h.take("buyer"), [{ type: "FOUND", rq: "b1", item: "Laptop", price: 400 }]);
});

Deno.test("a classic buyer's decomposed item name reaches classic sellers as it wrote it", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("classic");
  h.register("ours", true);
  h.from("buyer", {
    type: "LOOKING_FOR",
    rq: "b1",
    name: "buyer",
    item: "Caf\u00e9",
    description: "any",
    maxPrice: 20,
    spelling: "Cafe\u0301",
  });
  // A classic seller compares bytes: "Cafe\u0301" is what it listed.
  assert.deepEqual(h.take("classic"), [{
    type: "SEARCH",
    rq: "S1",
    item: "Caf\u00e9",
    description: "any",
    spelling: "Cafe\u0301",
  }]);
  // Ours compose every name: the composed one.
  assert.deepEqual(h.take("ours"), [{
    type: "SEARCH",
    rq: "S1",
    item: "Caf\u00e9",
    description: "any",
  }]);
  h.from("classic", offer("S1", "classic", "Caf\u00e9", 15));
  h.tick(T0 + TIMERS.offerWindow);
  assert.deepEqual(h.take("buyer"), [{ type: "FOUND", rq: "b1", item: "Caf\u00e9", price: 15 }]);
});

Deno.test("offers above the max lead to NEGOTIATE with the cheapest seller", async (t) => {
  function setup() {
    const h = new Harness();
    h.register("buyer", true);
    h.register("s1");
    h.register("s2");
    h.register("idle");
    h.from("buyer", lookingFor("b1", "buyer", "Laptop", 400));
    h.from("s1", offer("S1", "s1", "Laptop", 550));
    h.from("s2", offer("S1", "s2", "Laptop", 450));
    h.tick(T0 + TIMERS.offerWindow);
    h.take("s1");
    assert.deepEqual(h.take("s2").at(-1), {
      type: "NEGOTIATE",
      rq: "S1",
      item: "Laptop",
      maxPrice: 400,
    });
    assert.deepEqual(h.take("s1"), []);
    assert.equal(h.market.request("S1")?.state, "negotiating");
    return h;
  }

  await t.step("ACCEPT gives FOUND at the buyer's max and reserves the item", () => {
    const h = setup();
    h.from("s2", { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 400 }, T0 + 1_500);
    assert.deepEqual(h.take("buyer").at(-1), {
      type: "FOUND",
      rq: "b1",
      item: "Laptop",
      price: 400,
      seller: "s2",
    });
    assert.deepEqual(h.take("s2"), [{ type: "RESERVE", rq: "S1", item: "Laptop", price: 400 }]);
  });

  await t.step("REFUSE gives NOT_FOUND", () => {
    const h = setup();
    h.from("s2", { type: "REFUSE", rq: "S1", item: "Laptop", maxPrice: 400 }, T0 + 1_500);
    assert.deepEqual(h.take("buyer").at(-1), {
      type: "NOT_FOUND",
      rq: "b1",
      item: "Laptop",
      maxPrice: 400,
    });
    assert.equal(h.market.request("S1")?.state, "not_found");
  });

  await t.step("no answer within the negotiation timeout gives NOT_FOUND", () => {
    const h = setup();
    h.tick(T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout - 1);
    assert.deepEqual(h.take("buyer").filter((m) => m.type === "NOT_FOUND"), []);
    h.tick(T0 + TIMERS.offerWindow + TIMERS.negotiationTimeout);
    assert.deepEqual(h.take("buyer").at(-1), {
      type: "NOT_FOUND",
      rq: "b1",
      item: "Laptop",
      maxPrice: 400,
    });
    // A late ACCEPT is answered with CANCEL so the seller releases the item.
    h.from("s2", { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 400 }, T0 + 10_000);
    assert.deepEqual(h.take("s2"), [{ type: "CANCEL", rq: "S1", item: "Laptop", price: 400 }]);
    assert.deepEqual(h.take("buyer"), []);
  });

  await t.step("an ACCEPT from another peer is ignored", () => {
    const h = setup();
    h.from("s1", { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 400 }, T0 + 1_500);
    assert.deepEqual(h.take("buyer"), []);
    assert.equal(h.market.request("S1")?.state, "negotiating");
  });
});

Deno.test("no offer within the search timeout gives NOT_AVAILABLE", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("s1");
  h.from("buyer", lookingFor("b1", "buyer", "Unicorn", 10));
  h.tick(T0 + TIMERS.searchTimeout - 1);
  assert.deepEqual(h.take("buyer"), []);
  h.tick(T0 + TIMERS.searchTimeout);
  assert.deepEqual(h.take("buyer"), [{
    type: "NOT_AVAILABLE",
    rq: "b1",
    item: "Unicorn",
    maxPrice: 10,
  }]);
});

Deno.test("a search with no other peer registered is NOT_AVAILABLE at once", () => {
  const h = new Harness();
  h.register("buyer");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 10));
  assert.deepEqual(h.take("buyer"), [{
    type: "NOT_AVAILABLE",
    rq: "b1",
    item: "Laptop",
    maxPrice: 10,
  }]);
});

Deno.test("offers that do not fit the search are ignored", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("s1");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.register("late", false, T0 + 10);
  const before = h.writes.length;
  h.from("s1", offer("S404", "s1", "Laptop", 1)); // unknown search
  h.from("s1", offer("S1", "s1", "Phone", 1)); // another item
  h.from("late", offer("S1", "late", "Laptop", 1)); // registered after the search
  h.from("s1", offer("S1", "buyer", "Laptop", 1)); // the buyer's name from s1's address is fine IP-wise, but the buyer was not asked
  assert.equal(h.writes.length, before);
  assert.equal(h.market.offers("S1").length, 0);
});

Deno.test("a retransmitted LOOKING_FOR starts no second search and repeats the outcome", () => {
  const h = new Harness();
  h.register("buyer");
  h.register("s1");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  assert.equal(h.take("s1").length, 1);
  h.tick(T0 + TIMERS.searchTimeout);
  h.take("buyer");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500), T0 + 6_000);
  assert.deepEqual(h.take("buyer"), [{
    type: "NOT_AVAILABLE",
    rq: "b1",
    item: "Laptop",
    maxPrice: 500,
  }]);
});

Deno.test("classic buyers reusing the same RQ# are told apart by address", () => {
  const h = new Harness();
  h.register("ann");
  h.register("bea");
  h.register("s1");
  h.register("s2");
  h.from("ann", lookingFor("1", "ann", "Laptop", 500));
  h.from("bea", lookingFor("1", "bea", "Laptop", 500));
  h.from("s1", offer("S1", "s1", "Laptop", 400));
  h.from("s2", offer("S2", "s2", "Laptop", 300));
  h.tick(T0 + TIMERS.offerWindow);
  h.from("bea", { type: "BUY", rq: "1", item: "Laptop", price: 300 });
  assert.equal(h.market.request("S2")?.state, "buying");
  assert.equal(h.market.request("S1")?.state, "found");
});

Deno.test("ended searches are forgotten after the retention time", () => {
  const h = new Harness();
  h.register("buyer");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 10));
  assert.ok(h.market.request("S1"));
  h.tick(T0 + TIMERS.retention);
  assert.equal(h.market.request("S1"), undefined);
  assert.deepEqual(h.writes.at(-1), { kind: "delete", key: ["request", "S1"] });
});

Deno.test("the buyer's CANCEL of an open search ends it at once", async (t) => {
  await t.step(
    "while offers are collected: cancelled, no outcome, a late offer reserves nothing",
    () => {
      const h = new Harness();
      h.register("buyer", true);
      h.register("s1");
      h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
      h.take("buyer");
      h.take("s1");
      h.from("buyer", { type: "CANCEL", rq: "b1", item: "Laptop", price: 500 }, T0 + 10);
      assert.equal(h.market.request("S1")?.state, "cancelled");
      h.from("s1", offer("S1", "s1", "Laptop", 400), T0 + 20);
      h.tick(T0 + TIMERS.offerWindow + 10);
      assert.deepEqual(h.take("buyer").filter((m) => m.type !== "ACK"), []);
      assert.deepEqual(h.take("s1").filter((m) => m.type !== "ACK"), [], "no RESERVE");
      assert.equal(h.market.request("S1")?.state, "cancelled");
    },
  );

  await t.step("while negotiating: cancelled, and a late ACCEPT is told CANCEL", () => {
    const h = new Harness();
    h.register("buyer", true);
    h.register("s1");
    h.from("buyer", lookingFor("b1", "buyer", "Laptop", 400));
    h.from("s1", offer("S1", "s1", "Laptop", 550));
    h.tick(T0 + TIMERS.offerWindow);
    assert.equal(h.market.request("S1")?.state, "negotiating");
    h.take("s1");
    h.from("buyer", { type: "CANCEL", rq: "b1", item: "Laptop", price: 400 });
    assert.equal(h.market.request("S1")?.state, "cancelled");
    h.from("s1", { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 400 });
    assert.deepEqual(h.take("s1").filter((m) => m.type !== "ACK"), [
      { type: "CANCEL", rq: "S1", item: "Laptop", price: 400 },
    ]);
  });

  await t.step(
    "an ACCEPT repeated after the search ended is not sent again the RESERVE it first got",
    () => {
      const h = new Harness();
      h.register("buyer", true);
      h.register("s1");
      h.from("buyer", lookingFor("b1", "buyer", "Laptop", 400));
      h.from("s1", offer("S1", "s1", "Laptop", 550));
      h.tick(T0 + TIMERS.offerWindow);
      h.take("s1");
      const accept = { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 400 } as const;
      h.from("s1", accept, T0 + TIMERS.offerWindow + 10);
      assert.deepEqual(h.take("s1").filter((m) => m.type === "RESERVE").length, 1);
      h.from("buyer", { type: "CANCEL", rq: "b1", item: "Laptop", price: 400 });
      assert.equal(h.market.request("S1")?.state, "cancelled");
      h.take("s1");
      // The seller's copy of its ACCEPT arrives late (its ACK was lost).
      h.from("s1", accept, T0 + TIMERS.offerWindow + 20);
      const replies = h.take("s1").filter((m) => m.type !== "ACK");
      assert.equal(replies.some((m) => m.type === "RESERVE"), false, JSON.stringify(replies));
    },
  );
});

Deno.test("a classic REGISTER and one with extensions from the same source", async (t) => {
  const withExtensions = (h: Harness, rq: string, extensions?: string[]): Message => {
    const port = h.address("alice").port;
    return {
      type: "REGISTER",
      rq,
      name: "alice",
      ip: "127.0.0.1",
      udpPort: port,
      tcpPort: port + 1000,
      ...(extensions ? { extensions } : {}),
    };
  };

  await t.step("the classic one first: the one with extensions takes its place", () => {
    const h = new Harness();
    h.register("alice");
    h.from("alice", withExtensions(h, "alice-ext", ["from", "ack"]));
    assert.deepEqual(h.take("alice"), [{
      type: "REGISTERED",
      rq: "alice-ext",
      extensions: ["from", "ack"],
    }]);
  });

  await t.step("the one with extensions first: the classic one is confirmed as it", () => {
    const h = new Harness();
    h.register("alice", ["from", "ack"]);
    h.from("alice", withExtensions(h, "alice-classic"));
    assert.deepEqual(
      h.take("alice").filter((m) => m.type === "REGISTERED"),
      [{ type: "REGISTERED", rq: "alice-classic", extensions: ["from", "ack"] }],
    );
  });
});
