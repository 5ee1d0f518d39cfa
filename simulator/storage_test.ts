import assert from "node:assert/strict";
import type { Action } from "./_effects.ts";
import { EventQueue } from "./clock.ts";
import { Random } from "./random.ts";
import {
  NO_STORAGE_FAULTS,
  type Outage,
  planOutages,
  SimulatedStore,
  type StorageFaults,
  storageStats,
} from "./storage.ts";

/** A store on a clock of its own; `run` plays the clock out. */
function world(rates: Partial<StorageFaults>, outages: Outage[] = []) {
  const queue = new EventQueue<() => void>(0);
  const stats = storageStats();
  const store = new SimulatedStore("server", {
    host: { now: () => queue.now, at: (at, _label, run) => queue.schedule(at, run) },
    random: new Random(1),
    rates: { ...NO_STORAGE_FAULTS, ...rates },
    stats,
    outages,
  });
  const run = async () => {
    for (let next = queue.pop(); next; next = queue.pop()) {
      next.event();
      await Promise.resolve();
    }
  };
  return { queue, stats, store, run };
}

const set = (key: string, value: string): Action => ({ kind: "write", key: [key], value });

Deno.test("a store applies commits in the order handed over, a slow one holding up the next", async () => {
  const { queue, stats, store, run } = world({ slow: 1, maxSlow: 500 });
  const done: [string, number][] = [];
  const first = store.commit([set("ann", "old")], 1).then(() => done.push(["first", queue.now]));
  const second = store.commit([set("ann", "new")], 2).then(() => done.push(["second", queue.now]));
  await run();
  await Promise.all([first, second]);
  assert.deepEqual(done.map(([which]) => which), ["first", "second"]);
  assert.ok(done[0]![1] > 0 && done[1]![1] >= done[0]![1]);
  assert.deepEqual(store.records.version(["ann"]), { value: "new", batch: 2 });
  assert.equal(stats.slow, 2);
});

Deno.test("a commit that fails before writing stores nothing; one that fails after writing stores all", async () => {
  const before = world({ failBefore: 1 });
  const lost = before.store.commit([set("ann", "1")], 1);
  await before.run();
  await assert.rejects(lost, /No space left on device/);
  assert.equal(before.store.records.version(["ann"]), undefined);
  assert.equal(before.stats.failedBefore, 1);

  const after = world({ failAfter: 1 });
  const ambiguous = after.store.commit([set("ann", "1"), set("bob", "2")], 1);
  await after.run();
  await assert.rejects(ambiguous, /outcome is unknown/);
  assert.deepEqual(after.store.records.version(["bob"]), { value: "2", batch: 1 });
  assert.equal(after.stats.failedAfter, 1);
});

Deno.test("an outage refuses commits and reads until it ends", async () => {
  const { queue, stats, store, run } = world({}, [{ who: "server", from: 10, until: 20 }]);
  queue.schedule(15, () => {
    assert.equal(store.available, false);
    store.commit([set("ann", "1")], 1).catch(() => {});
  });
  queue.schedule(20, () => {
    assert.equal(store.available, true);
    void store.commit([set("ann", "2")], 2);
  });
  await run();
  assert.equal(stats.outages, 1);
  assert.equal(stats.refused, 1);
  assert.deepEqual(store.records.version(["ann"]), { value: "2", batch: 2 });
});

Deno.test("a crash finishes the commits the store had, so none lands after a restart", async () => {
  const { queue, store, run } = world({ minLatency: 100, maxLatency: 100 });
  const pending = store.commit([set("ann", "1")], 1);
  let atCrash: unknown;
  queue.schedule(50, () => {
    store.flush();
    atCrash = store.records.version(["ann"]);
  });
  await run();
  await pending;
  assert.deepEqual(atCrash, { value: "1", batch: 1 });
});

Deno.test("outages come from the seed, on the machines that may stop", () => {
  const rates = { ...NO_STORAGE_FAULTS, outage: 1, minOutage: 100, maxOutage: 200 };
  const a = planOutages(new Random(5), rates, ["server", "ann"], 0);
  assert.deepEqual(planOutages(new Random(5), rates, ["server", "ann"], 0), a);
  assert.equal(a.length, 1);
  assert.ok(["server", "ann"].includes(a[0]!.who));
  assert.ok(a[0]!.until - a[0]!.from >= 100 && a[0]!.until - a[0]!.from <= 200);
  assert.deepEqual(planOutages(new Random(5), NO_STORAGE_FAULTS, ["server"], 0), []);
});
