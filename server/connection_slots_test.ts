import assert from "node:assert/strict";
import { ConnectionSlots } from "./connection_slots.ts";

/** Whether a promise has settled after the pending microtasks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("connection slots: at most N per peer, the rest wait their turn", async () => {
  const slots = new ConnectionSlots(2);
  const first = await slots.take(["alice", "bob"]);
  const second = await slots.take(["alice", "carol"]);
  assert.equal(slots.inUse("alice"), 2);
  const third = slots.take(["alice", "bob"]);
  assert.equal(await settled(third), false, "alice is full");
  assert.equal(slots.waiting, 1);
  first();
  first(); // a second release gives nothing back twice
  assert.equal(await settled(third), true);
  assert.equal(slots.inUse("alice"), 2);
  assert.equal(slots.inUse("bob"), 1);
  second();
  (await third)();
  assert.equal(slots.inUse("alice"), 0);
  assert.equal(slots.inUse("bob"), 0);
  assert.equal(slots.inUse("carol"), 0);
});

Deno.test("connection slots: both parties are taken together, so crossed waits cannot deadlock", async () => {
  const slots = new ConnectionSlots(1);
  // Two purchases between the same two peers, in opposite roles.
  const a = await slots.take(["buyer", "seller"]);
  const b = slots.take(["seller", "buyer"]);
  assert.equal(await settled(b), false);
  // Nothing is held by the waiting one: a third party is unaffected.
  const c = await slots.take(["carol"]);
  assert.equal(slots.inUse("buyer"), 1);
  a();
  assert.equal(await settled(b), true);
  (await b)();
  c();
  assert.equal(slots.inUse("seller"), 0);
});

Deno.test("connection slots: a waiter blocked on a busy peer does not hold up one that fits", async () => {
  const slots = new ConnectionSlots(1);
  const busy = await slots.take(["alice"]);
  const blocked = slots.take(["alice", "bob"]);
  const fits = slots.take(["bob"]);
  assert.equal(await settled(fits), true);
  assert.equal(await settled(blocked), false);
  (await fits)();
  busy();
  assert.equal(await settled(blocked), true);
  (await blocked)();
});

Deno.test("connection slots: an aborted wait leaves the queue and takes nothing", async () => {
  const slots = new ConnectionSlots(1);
  const held = await slots.take(["alice"]);
  const controller = new AbortController();
  const waiting = slots.take(["alice", "bob"], controller.signal);
  controller.abort(new Error("closing"));
  await assert.rejects(waiting, /closing/);
  assert.equal(slots.waiting, 0);
  assert.equal(slots.inUse("bob"), 0);
  held();
  assert.equal(slots.inUse("alice"), 0);
});
