/**
 * The market's flows driven through the state machine alone: no sockets, no
 * KV, no sleeping. Time is the `at` of each event.
 */
import assert from "node:assert/strict";
import { isWrite } from "../protocol/effects.ts";
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

function foundSetup(buyers = ["buyer"]) {
  const h = new Harness();
  for (const buyer of buyers) h.register(buyer);
  h.register("s1");
  h.register("idle");
  buyers.forEach((buyer, i) => {
    h.from(buyer, lookingFor(`b${i + 1}`, buyer, "Laptop", 500));
    h.from("s1", offer(`S${i + 1}`, "s1", "Laptop", 400));
  });
  return h;
}

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

Deno.test("a market restored mid-window finishes the search as if never stopped", () => {
  const h = new Harness();
  h.register("buyer", true);
  h.register("s1");
  h.register("s2");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.from("s1", offer("S1", "s1", "Laptop", 450), T0 + 100);
  // Crash: only what was written survives.
  const restored = new Harness(h.stored());
  restored.ports = h.ports;
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
  const restored = new Harness(h.stored());
  restored.ports = h.ports;
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

Deno.test("ended searches are forgotten after the retention time", () => {
  const h = new Harness();
  h.register("buyer");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 10));
  assert.ok(h.market.request("S1"));
  h.tick(T0 + TIMERS.retention);
  assert.equal(h.market.request("S1"), undefined);
  assert.deepEqual(h.writes.at(-1), { kind: "delete", key: ["request", "S1"] });
});

Deno.test("BUY starts the transaction and its outcome settles the ledger once", async (t) => {
  function bought() {
    const h = foundSetup();
    h.tick(T0 + TIMERS.offerWindow);
    const effects = h.from(
      "buyer",
      { type: "BUY", rq: "b1", item: "Laptop", price: 400 },
      T0 + 2_000,
    );
    const transact = effects.find((effect) => effect.kind === "transact");
    assert.ok(transact && transact.kind === "transact");
    assert.deepEqual(transact.plan.buyer, {
      name: "buyer",
      address: { hostname: "127.0.0.1", port: h.ports.get("buyer")! + 1000 },
      ours: false,
    });
    assert.equal(transact.plan.seller.name, "s1");
    assert.deepEqual([transact.plan.item, transact.plan.price], ["Laptop", 400]);
    return { h, tx: transact.plan.id };
  }
  const party = (name: string) => ({ name, card: "************1111", address: `${name} street` });

  await t.step("success: a completed ledger entry with a 10% fee, then Shipping_Info", () => {
    const { h, tx } = bought();
    const effects = h.feed(h.market.handle({
      kind: "transacted",
      request: "S1",
      tx,
      outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
      at: T0 + 3_000,
    }));
    const ledger = effects.find((e) => isWrite(e) && e.key[0] === "ledger");
    assert.ok(ledger && ledger.kind === "save");
    assert.deepEqual(ledger.value, {
      tx,
      request: "S1",
      buyerRq: "b1",
      item: "Laptop",
      price: 400,
      fee: 40,
      sellerCredit: 360,
      buyer: "buyer",
      seller: "s1",
      buyerCard: "************1111",
      sellerCard: "************1111",
      outcome: "completed",
      at: T0 + 3_000,
    });
    const conclude = effects.find((e) => e.kind === "conclude");
    assert.ok(conclude && conclude.kind === "conclude");
    assert.deepEqual(conclude.conclusion, {
      ok: true,
      buyerName: "buyer",
      address: "buyer street",
    });
    assert.equal(h.market.request("S1")?.state, "bought");
    // A second outcome for the same transaction changes nothing.
    const again = h.market.handle({
      kind: "transacted",
      request: "S1",
      tx,
      outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
      at: T0 + 4_000,
    });
    assert.deepEqual(again.filter((e) => isWrite(e)), []);
  });

  await t.step("failure: a cancelled entry, CANCEL to both, the item free again", () => {
    const { h, tx } = bought();
    h.take("s1");
    h.take("buyer");
    const effects = h.feed(h.market.handle({
      kind: "transacted",
      request: "S1",
      tx,
      outcome: { ok: false, reason: "the card was declined" },
      at: T0 + 3_000,
    }));
    const conclude = effects.find((e) => e.kind === "conclude");
    assert.ok(conclude && conclude.kind === "conclude");
    assert.deepEqual(conclude.conclusion, { ok: false, reason: "the card was declined" });
    assert.deepEqual(h.take("s1"), [{ type: "CANCEL", rq: "S1", item: "Laptop", price: 400 }]);
    assert.deepEqual(h.take("buyer"), [{ type: "CANCEL", rq: "b1", item: "Laptop", price: 400 }]);
    assert.equal(h.market.request("S1")?.state, "cancelled");
    const ledger = h.writes.find((w) => w.key[0] === "ledger");
    assert.equal(
      ledger?.kind === "save" && (ledger.value as { outcome: string }).outcome,
      "cancelled",
    );
  });

  await t.step("a restart during the transaction runs it again with the same RQ#", () => {
    const { h, tx } = bought();
    const restored = new Harness(h.stored());
    restored.ports = h.ports;
    const effects = restored.tick(T0 + 10_000);
    const transact = effects.find((e) => e.kind === "transact");
    assert.ok(transact && transact.kind === "transact");
    assert.equal(transact.plan.id, tx);
  });

  await t.step("a restart after the sale but before Shipping_Info delivers it", () => {
    const { h, tx } = bought();
    h.market.handle({
      kind: "transacted",
      request: "S1",
      tx,
      outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
      at: T0 + 3_000,
    }).forEach((effect) => isWrite(effect) && h.writes.push(effect));
    const restored = new Harness(h.stored());
    restored.ports = h.ports;
    const effects = restored.tick(T0 + 10_000);
    assert.deepEqual(effects.filter((e) => e.kind === "transact"), [], "never charged twice");
    const conclude = effects.find((e) => e.kind === "conclude");
    assert.ok(conclude && conclude.kind === "conclude" && conclude.conclusion.ok);
    assert.deepEqual(conclude.deliver, ["seller"], "a classic buyer gets no receipt");
    // Once shipped, a further restart delivers nothing.
    restored.feed(
      restored.market.handle({ kind: "delivered", request: "S1", to: "seller", at: T0 + 11_000 }),
    );
    const again = new Harness(restored.stored());
    again.ports = h.ports;
    assert.equal(again.market.request("S1")?.shipped, true);
    assert.deepEqual(again.tick(T0 + 12_000).filter((e) => e.kind === "conclude"), []);
  });
});

Deno.test("our buyer's receipt is delivered until it arrives, across a restart too", () => {
  const h = new Harness();
  h.register("buyer", ["from", "ack"]);
  h.register("s1");
  h.register("idle");
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.from("s1", offer("S1", "s1", "Laptop", 400));
  h.tick(T0 + TIMERS.offerWindow);
  const bought = h.from("buyer", { type: "BUY", rq: "b1", item: "Laptop", price: 400 }, T0 + 2_000);
  const transact = bought.find((e) => e.kind === "transact");
  assert.ok(transact && transact.kind === "transact");
  const party = (name: string) => ({ name, card: "************1111", address: `${name} street` });
  const settled = h.feed(h.market.handle({
    kind: "transacted",
    request: "S1",
    tx: transact.plan.id,
    outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
    at: T0 + 3_000,
  }));
  const conclude = settled.find((e) => e.kind === "conclude");
  assert.ok(conclude && conclude.kind === "conclude");
  assert.deepEqual(conclude.deliver, ["seller", "buyer"]);
  // The seller heard; the buyer's connection had dropped. After a restart
  // only the buyer is still owed its receipt.
  h.feed(h.market.handle({ kind: "delivered", request: "S1", to: "seller", at: T0 + 3_100 }));
  const restored = new Harness(h.stored());
  restored.ports = h.ports;
  const again = restored.tick(T0 + 10_000).find((e) => e.kind === "conclude");
  assert.ok(again && again.kind === "conclude");
  assert.deepEqual(again.deliver, ["buyer"]);
});

Deno.test("a seller that comes back at a new address is sent its undelivered sale there", () => {
  const h = new Harness();
  const KEYS = { send: "c2VuZA", receive: "cmVjZWl2ZQ" };
  const signedRegister = (rq: string, port: number) =>
    h.feed(h.market.handle({
      kind: "message",
      from: { hostname: "127.0.0.1", port },
      message: {
        type: "REGISTER",
        rq,
        name: "s1",
        ip: "127.0.0.1",
        udpPort: port,
        tcpPort: port + 1000,
        extensions: ["from", "ack", "auth", "key=K", "dh=D", "ca=C", "ts=1", "sig=S"],
      },
      bytes: 800,
      at: T0 - 500,
      registration: { proof: { key: "key-s1", ca: "ca-s1" }, keys: KEYS },
    }));
  h.register("buyer");
  signedRegister("r1", 6900);
  h.ports.set("s1", 6900);
  h.from("buyer", lookingFor("b1", "buyer", "Laptop", 500));
  h.feed(h.market.handle({
    kind: "message",
    from: h.address("s1"),
    message: offer("S1", "s1", "Laptop", 400),
    bytes: 60,
    at: T0,
    authenticated: "s1",
  }));
  h.tick(T0 + TIMERS.offerWindow);
  const bought = h.from("buyer", { type: "BUY", rq: "b1", item: "Laptop", price: 400 }, T0 + 2_000);
  const transact = bought.find((e) => e.kind === "transact");
  assert.ok(transact && transact.kind === "transact");
  const party = (name: string) => ({ name, card: "************1111", address: `${name} street` });
  h.feed(h.market.handle({
    kind: "transacted",
    request: "S1",
    tx: transact.plan.id,
    outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
    at: T0 + 3_000,
  }));
  // The seller was killed before it stored the sale, and restarted elsewhere.
  const back = signedRegister("r2", 6950).filter((e) => e.kind === "conclude");
  assert.equal(back.length, 1);
  const conclude = back[0]!;
  assert.ok(conclude.kind === "conclude" && conclude.conclusion.ok);
  assert.deepEqual(conclude.deliver, ["seller"]);
  assert.equal(conclude.plan.id, transact.plan.id);
  assert.deepEqual(conclude.plan.seller.address, { hostname: "127.0.0.1", port: 7950 });
  assert.equal(conclude.plan.seller.acks, true);
  // Once it acknowledged, coming back again owes it nothing.
  h.feed(h.market.handle({ kind: "delivered", request: "S1", to: "seller", at: T0 + 4_000 }));
  assert.deepEqual(signedRegister("r3", 6960).filter((e) => e.kind === "conclude"), []);
});
