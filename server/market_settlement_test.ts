/** The transaction after BUY: the ledger entry, Shipping_Info and CANCEL, delivery across restarts. */
import assert from "node:assert/strict";
import { isWrite } from "../protocol/effects.ts";
import { foundSetup, Harness, lookingFor, offer, party, T0, TIMERS } from "./_market_harness.ts";

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
    // Money in the log has two decimals, as everywhere a person reads it.
    const paid = effects.find((e) => e.kind === "log" && /paid/.test(e.text));
    assert.ok(paid && paid.kind === "log");
    assert.match(paid.text, /buyer paid 400\.00 for Laptop; s1 is credited 360\.00, fee 40\.00$/);
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
    const restored = h.restarted();
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
    const restored = h.restarted();
    const effects = restored.tick(T0 + 10_000);
    assert.deepEqual(effects.filter((e) => e.kind === "transact"), [], "never charged twice");
    const conclude = effects.find((e) => e.kind === "conclude");
    assert.ok(conclude && conclude.kind === "conclude" && conclude.conclusion.ok);
    assert.deepEqual(conclude.deliver, ["seller"], "a classic buyer gets no receipt");
    // Once shipped, a further restart delivers nothing.
    restored.feed(
      restored.market.handle({ kind: "delivered", request: "S1", to: "seller", at: T0 + 11_000 }),
    );
    const again = restored.restarted();
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
  const restored = h.restarted();
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
