import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import type { Party, TransactionPlan } from "./transaction.ts";
import {
  awaitsAck,
  ConclusionMachine,
  DELIVERY_ATTEMPTS,
  deliveryPause,
  type LegEffect,
  TransactionMachine,
} from "./transaction_machine.ts";

const party = (name: string, port: number): Party => ({
  name,
  address: { hostname: "127.0.0.1", port },
  ours: true,
});

const plan: TransactionPlan = {
  id: "T7",
  item: "Laptop",
  price: 499.99,
  buyer: party("alice", 7001),
  seller: party("bob", 7002),
};

const now = new Date("2026-12-08T03:00:00Z");

function answer(name: string, card = "4111111111111111", expiry = "11/39"): Message {
  return { type: "INFORM_Res", rq: "T7", name, card, expiry, address: "42 Main St" };
}

/** A machine with both parties reached and waiting for their answers. */
function waitingForBoth(): TransactionMachine {
  const machine = new TransactionMachine(plan, now);
  machine.reached("buyer");
  machine.reached("seller");
  return machine;
}

const kinds = (effects: readonly { kind: string }[]) => effects.map((effect) => effect.kind);

function outcomeOf(effects: readonly LegEffect[]) {
  const last = effects.at(-1);
  assert.equal(last?.kind, "outcome", `expected an outcome in ${JSON.stringify(kinds(effects))}`);
  return (last as Extract<LegEffect, { kind: "outcome" }>).outcome;
}

Deno.test("the TCP leg sends INFORM_Req, charges once both details pass, and stores masked cards", async (t) => {
  const machine = new TransactionMachine(plan, now);
  await t.step("each party reached is sent INFORM_Req", () => {
    assert.deepEqual(machine.reached("buyer"), [{
      kind: "send",
      role: "buyer",
      message: { type: "INFORM_Req", rq: "T7", item: "Laptop", price: 499.99 },
    }]);
    assert.equal(machine.waiting("buyer"), true);
  });
  await t.step("one answer alone does not charge", () => {
    assert.deepEqual(machine.answered("buyer", answer("alice")), []);
  });
  await t.step("the second answer asks the processor for the exact price", () => {
    machine.reached("seller");
    const effects = machine.answered("seller", answer("bob", "5555555555554444"));
    assert.deepEqual(kinds(effects), ["charge"]);
    const { request } = effects[0] as Extract<LegEffect, { kind: "charge" }>;
    assert.equal(request.key, "T7");
    assert.equal(request.amount, 499.99);
    assert.equal(request.buyer.card, "4111111111111111");
  });
  await t.step("the approval ends the leg with the cards masked", () => {
    const outcome = outcomeOf(machine.charged({ approved: true }));
    assert.equal(outcome.ok, true);
    const text = JSON.stringify(outcome);
    assert.doesNotMatch(text, /4111111111111111|5555555555554444/);
    assert.match(text, /1111/);
    assert.match(text, /4444/);
    assert.equal(machine.over, true);
  });
  await t.step("a refusal ends it with the processor's reason", () => {
    const other = waitingForBoth();
    other.answered("buyer", answer("alice"));
    other.answered("seller", answer("bob"));
    assert.deepEqual(outcomeOf(other.charged({ approved: false, reason: "insufficient funds" })), {
      ok: false,
      reason: "insufficient funds",
    });
  });
  await t.step("a processor that throws fails the leg", () => {
    const other = waitingForBoth();
    other.answered("buyer", answer("alice"));
    other.answered("seller", answer("bob"));
    assert.deepEqual(outcomeOf(other.chargeFailed(new Error("offline"))), {
      ok: false,
      reason: "the payment failed: Error: offline",
    });
  });
});

Deno.test("the first party that fails ends the TCP leg's wait for the other", async (t) => {
  await t.step("a decline while the other is still typing: the outcome at once", () => {
    const machine = waitingForBoth();
    const effects = machine.answered("seller", {
      type: "TX_CANCEL",
      rq: "T7",
      reason: "changed my mind",
    });
    assert.deepEqual(kinds(effects), ["rejected", "stop-waiting", "outcome"]);
    assert.deepEqual(outcomeOf(effects), {
      ok: false,
      reason: "the seller bob declined: changed my mind",
    });
    assert.equal(machine.waiting("buyer"), false);
    assert.deepEqual(machine.answered("buyer", answer("alice")), [], "a late answer is ignored");
  });
  await t.step("details that cannot be charged fail the leg like a decline", () => {
    const machine = waitingForBoth();
    const effects = machine.answered("buyer", answer("alice", "4111111111111112"));
    assert.deepEqual(kinds(effects), ["stop-waiting", "outcome"]);
    assert.match(
      (outcomeOf(effects) as { reason: string }).reason,
      /buyer's card .*1112 is invalid/,
    );
    assert.doesNotMatch(JSON.stringify(effects), /4111111111111112/);
  });
  await t.step("the outcome names the failure that came first, not the buyer's", () => {
    const machine = waitingForBoth();
    const effects = machine.failed("seller", "the seller bob sent a line that does not parse");
    assert.deepEqual(outcomeOf(effects), {
      ok: false,
      reason: "the seller bob sent a line that does not parse",
    });
  });
  await t.step("a party reached after the other failed is told, not waited for", () => {
    const machine = new TransactionMachine(plan, now);
    assert.deepEqual(machine.failed("seller", "the seller bob could not be reached"), [
      { kind: "stop-waiting", reason: "the seller bob could not be reached" },
    ]);
    const effects = machine.reached("buyer");
    assert.deepEqual(kinds(effects), ["send", "outcome"]);
    assert.deepEqual(outcomeOf(effects), {
      ok: false,
      reason: "the seller bob could not be reached",
    });
  });
});

Deno.test("the TCP leg's deadline fails whoever did not answer", () => {
  const machine = new TransactionMachine(plan, now);
  machine.reached("buyer");
  machine.answered("buyer", answer("alice"));
  const effects = machine.timedOut();
  assert.deepEqual(outcomeOf(effects), {
    ok: false,
    reason: "the seller bob could not be reached at 127.0.0.1:7002 in time",
  });
  assert.deepEqual(machine.timedOut(), [], "a second deadline does nothing");
});

Deno.test("Shipping_Info deliveries pause 1 s, doubling up to 30 s, for a bounded number of tries", () => {
  const pauses: number[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const pause = deliveryPause(attempt);
    if (pause === undefined) break;
    pauses.push(pause);
  }
  assert.equal(pauses.length, DELIVERY_ATTEMPTS);
  assert.deepEqual(pauses.slice(0, 7), [0, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
  assert.ok(pauses.slice(6).every((pause) => pause === 30_000));
});

Deno.test("Shipping_Info counts as told only once acknowledged, by a party with the ack extension", () => {
  const shipping: Message = {
    type: "Shipping_Info",
    rq: "T7",
    name: "alice",
    address: "42 Main St",
  };
  const acking = { ...plan, seller: { ...plan.seller, acks: true } };
  assert.equal(awaitsAck(acking, "seller", shipping), true);
  assert.equal(awaitsAck(acking, "buyer", shipping), false, "the buyer has no ack extension");
  assert.equal(awaitsAck(plan, "seller", shipping), false);
  const cancel: Message = { type: "TX_CANCEL", rq: "T7", reason: "the seller bob declined" };
  assert.equal(awaitsAck(acking, "seller", cancel), false, "CANCEL is told by writing it");
});

Deno.test("the TCP leg ends with CANCEL to both, or Shipping_Info told, acknowledged or delivered anew", async (t) => {
  const shipTo = { ok: true, buyerName: "alice", address: "42 Main St" } as const;
  const acking = { ...plan, seller: { ...plan.seller, acks: true } };
  await t.step("CANCEL to both; the connections close once both are written", () => {
    const machine = new ConclusionMachine(plan, { ok: false, reason: "no stock" }, []);
    const sends = machine.start(true);
    assert.deepEqual(sends.map((effect) => effect.kind === "send" && effect.role), [
      "buyer",
      "seller",
    ]);
    assert.deepEqual(machine.sent("buyer", true), []);
    assert.deepEqual(machine.sent("seller", true), [{ kind: "close" }]);
  });
  await t.step("Shipping_Info to a seller that acknowledges counts once its ACK came", () => {
    const machine = new ConclusionMachine(acking, shipTo, ["seller", "buyer"]);
    assert.deepEqual(kinds(machine.start(true)), ["send", "send"]);
    assert.deepEqual(machine.sent("seller", true), [{ kind: "await-ack", role: "seller" }]);
    assert.deepEqual(machine.sent("buyer", true), [], "the seller's ACK is still awaited");
    assert.deepEqual(machine.acknowledged("seller", true), [
      { kind: "close" },
      { kind: "delivered", role: "seller" },
      { kind: "delivered", role: "buyer" },
    ]);
  });
  await t.step("no ACK, or a write that failed: Shipping_Info goes on new connections", () => {
    const machine = new ConclusionMachine(acking, shipTo, ["seller", "buyer"]);
    machine.start(true);
    machine.sent("buyer", false);
    machine.sent("seller", true);
    assert.deepEqual(machine.acknowledged("seller", false), [
      { kind: "close" },
      { kind: "deliver", role: "seller" },
      { kind: "deliver", role: "buyer" },
    ]);
  });
  await t.step("without the leg's connections (a restart) everyone is delivered anew", () => {
    const machine = new ConclusionMachine(plan, shipTo, ["seller"]);
    assert.deepEqual(machine.start(false), [{ kind: "close" }, {
      kind: "deliver",
      role: "seller",
    }]);
  });
});
