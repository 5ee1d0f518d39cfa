import assert from "node:assert/strict";
import { Random } from "./random.ts";
import { EventQueue } from "./clock.ts";
import { checkEnd, checkSafety, type WorldView } from "./invariants.ts";
import { RecordStore } from "./records.ts";
import { simulate, SimulationFailure } from "./simulation.ts";

/** Enough seeds to meet every fault and path, and well under 30 s on two cores. */
const SEEDS = 500;

Deno.test("the simulated marketplace keeps every rule over 500 seeds, with faults and sales", () => {
  let sales = 0, failed = 0, crashes = 0, dropped = 0, duplicated = 0, delayed = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = simulate(seed);
    sales += result.sales;
    failed += result.failedTransactions;
    crashes += result.crashes;
    dropped += result.network.dropped;
    duplicated += result.network.duplicated;
    delayed += result.network.delayed;
  }
  // A run without sales or faults would prove nothing.
  assert.ok(sales > SEEDS, `only ${sales} sales`);
  assert.ok(failed > 0, "no transaction failed (the invalid card never came up)");
  assert.ok(crashes > SEEDS / 2, `only ${crashes} crashes`);
  assert.ok(dropped > 0 && duplicated > 0 && delayed > 0);
});

Deno.test("the rules hold when plaintext peers crash too, over 300 seeds", () => {
  let crashes = 0;
  for (let seed = 1; seed <= 300; seed++) {
    crashes += simulate(seed, { crashPlaintext: true }).crashes;
  }
  assert.ok(crashes > 150, `only ${crashes} crashes`);
});

Deno.test("a seed replays to the same trace", () => {
  const first = simulate(7, { keepTrace: true });
  const second = simulate(7, { keepTrace: true });
  assert.ok(first.trace!.length > 100);
  assert.deepEqual(second.trace, first.trace);
  assert.equal(second.traceHash, first.traceHash);
  assert.notEqual(simulate(8).traceHash, first.traceHash);
});

Deno.test("the safety check catches an item sold twice and a sale the ledger does not have", () => {
  const market = new RecordStore();
  const bob = new RecordStore();
  const world: WorldView = {
    market,
    agents: new Map([["bob", bob]]),
    cards: [],
  };
  const sale = (tx: string, request: string, buyer: string) => ({
    kind: "write" as const,
    key: ["ledger", tx],
    value: {
      tx,
      request,
      buyerRq: `${buyer}-1`,
      item: "Lamp",
      price: 19.99,
      fee: 2,
      sellerCredit: 17.99,
      buyer,
      seller: "bob",
      outcome: "completed",
      at: 0,
    },
  });
  market.apply([sale("t1", "s1", "ann")]);
  assert.equal(checkSafety(world), undefined);
  bob.apply([{
    kind: "write",
    key: ["history", "t9"],
    value: { tx: "t9", role: "seller", item: "Lamp", price: 19.99, fee: 2, credit: 17.99, at: 0 },
  }]);
  assert.match(checkSafety(world)!, /ledger has no sale/);
  market.apply([sale("t2", "s2", "cat")]);
  assert.match(checkSafety(world)!, /sold twice/);
});

Deno.test("the safety check catches one item reserved for two searches (the market's reservation rule)", () => {
  const market = new RecordStore();
  const world: WorldView = { market, agents: new Map(), cards: [] };
  const found = (id: string) => ({
    kind: "write" as const,
    key: ["request", id],
    value: { id, buyer: "ann", item: "Lamp", state: "found", seller: "bob", price: 10 },
  });
  market.apply([found("s1")]);
  assert.equal(checkSafety(world), undefined);
  market.apply([found("s2")]);
  assert.match(checkSafety(world)!, /reserved for two searches: s1 and s2/);
});

Deno.test("the end check catches an item still reserved and a search still open", () => {
  const ann = new RecordStore();
  const world: WorldView = {
    market: new RecordStore(),
    agents: new Map([["ann", ann]]),
    cards: [],
  };
  assert.equal(checkEnd(world), undefined);
  ann.apply([{
    kind: "write",
    key: ["item", "lamp"],
    value: { item: "Lamp", price: 10, description: "", reservedFor: "s1-5", addedAt: 0 },
  }]);
  assert.equal(checkEnd(world), "ann's Lamp is still reserved for s1-5");
  ann.apply([{ kind: "write", key: ["item", "lamp"] }, {
    kind: "write",
    key: ["request", "ann1-2"],
    value: { rq: "ann1-2", item: "bike", state: "searching" },
  }]);
  assert.equal(checkEnd(world), "ann's search ann1-2 for bike is still searching");
});

Deno.test("a failure names its seed and how to replay it", () => {
  const failure = new SimulationFailure(12, 345, "something broke", ["+1 a", "+2 b"]);
  assert.match(failure.message, /Seed 12 failed at step 345: something broke/);
  assert.match(failure.message, /deno task simulate --seed 12/);
});

Deno.test("the clock runs events in time order, ties in the order scheduled", () => {
  const queue = new EventQueue<string>(0);
  queue.schedule(5, "b");
  queue.schedule(1, "a");
  queue.schedule(5, "c");
  const order = [queue.pop(), queue.pop(), queue.pop()].map((entry) => entry!.event);
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.equal(queue.now, 5);
});

Deno.test("the generator is deterministic per seed and spread over its range", () => {
  const a = new Random(1), b = new Random(1);
  const draws = Array.from({ length: 1000 }, () => a.int(0, 9));
  assert.deepEqual(draws, Array.from({ length: 1000 }, () => b.int(0, 9)));
  for (let digit = 0; digit <= 9; digit++) {
    const count = draws.filter((d) => d === digit).length;
    assert.ok(count > 60 && count < 140, `${digit} drawn ${count} times`);
  }
});
