/** An agent rebuilt from its stored records: state, open questions, open requests. */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import {
  Harness,
  KEY,
  MemoryStore,
  only,
  others,
  OURS,
  printed,
  SECURE,
  sent,
  SERVER_KEY,
  T0,
} from "./_agent_harness.ts";

Deno.test("a restarted peer restores its state and asks its open questions again", async (t) => {
  const store = new MemoryStore();
  const before = new Harness({}, store);
  before.register();
  before.line("sell Laptop 500");
  before.line("sell Phone 100");
  before.line("set auto-buy off");
  const a = only(sent(before.line("buy Camera 300", T0 + 1))).rq;
  before.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 }, T0 + 2);
  before.receive({ type: "FOUND", rq: a, item: "Camera", price: 250, seller: "bob" }, T0 + 3);
  before.receive({ type: "RESERVE", rq: "S2", item: "Phone", price: 100 }, T0 + 4);
  assert.deepEqual(before.agent.questions.map((q) => q.rq), ["S1", a]);

  await t.step("the inventory, searches, settings and registration come back", () => {
    const after = new Harness({}, store, "alice-b");
    assert.equal(after.agent.registered, true);
    assert.equal(after.agent.serverKind, "ours");
    assert.equal(after.agent.autoBuy, false);
    assert.deepEqual(after.agent.items.map((i) => [i.item, i.reservedFor]), [
      ["Laptop", undefined],
      ["Phone", "S2"],
    ]);
    assert.deepEqual(after.agent.requests.map((r) => [r.rq, r.state]), [[a, "found"]]);
    // Without a start event, the first event also asks the first question.
    const [status, prompt] = printed(after.line("status"));
    assert.equal(prompt?.event, "prompt");
    assert.equal(status?.fields?.items, 2);
    assert.equal(status?.fields?.reserved, 1);
    assert.equal(status?.fields?.openRequests, 1);
    assert.equal(status?.fields?.questions, 2);
  });

  await t.step("the questions are asked again in their order, and answered", () => {
    const after = new Harness({}, store, "alice-c");
    const started = after.start();
    assert.deepEqual(printed(started).map((o) => [o.event, o.fields?.rq]), [["prompt", "S1"]]);
    const first = after.line("y");
    assert.deepEqual(sent(first), [{ type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 450 }]);
    assert.equal(printed(first).at(-1)?.fields?.rq, a);
    assert.deepEqual(sent(after.line("n")), [
      { type: "CANCEL", rq: a, item: "Camera", price: 250 },
    ]);
  });

  await t.step("answered questions are not asked after another restart", () => {
    const after = new Harness({}, store, "alice-d");
    assert.deepEqual(after.agent.questions, []);
    assert.deepEqual(printed(after.start()), []);
  });
});

Deno.test("a restarted peer with auto-buy asks a FOUND of an earlier run and buys only after registering", async (t) => {
  const store = new MemoryStore();
  const before = new Harness({}, store);
  before.register("ours", OURS);
  const camera = only(others(before.line("buy Camera 300"))).rq;
  const lamp = only(others(before.line("buy Lamp 40"))).rq;
  before.receive({ type: "FOUND", rq: camera, item: "Camera", price: 250 });
  const after = new Harness({ autoBuy: true }, store, "alice-b");
  let register: Message | undefined;

  await t.step("the stored FOUND is shown and asked while it registers again", () => {
    const effects = after.start(T0 + 9);
    register = only(others(effects));
    assert.equal(register.type, "REGISTER");
    assert.deepEqual(printed(effects).map((o) => [o.event, o.fields?.rq]), [["prompt", camera]]);
    assert.equal(store.snapshot().requests?.find((r) => r.rq === camera)?.state, "found");
  });

  await t.step("a FOUND that comes before REGISTERED is asked too", () => {
    const effects = after.receive({ type: "FOUND", rq: lamp, item: "Lamp", price: 35 }, T0 + 10);
    assert.deepEqual(others(effects), []);
    assert.deepEqual(after.agent.questions.map((q) => q.rq), [camera, lamp]);
  });

  await t.step("a FOUND after REGISTERED is bought at once; the asked ones wait for y or n", () => {
    after.receive({ type: "REGISTERED", rq: register!.rq, extensions: OURS }, T0 + 11);
    const desk = only(others(after.line("buy Desk 90", T0 + 12))).rq;
    const effects = after.receive({ type: "FOUND", rq: desk, item: "Desk", price: 80 }, T0 + 13);
    assert.deepEqual(others(effects), [{ type: "BUY", rq: desk, item: "Desk", price: 80 }]);
    assert.deepEqual(after.agent.questions.map((q) => q.rq), [camera, lamp]);
    assert.deepEqual(others(after.line("y", T0 + 14)), [
      { type: "BUY", rq: camera, item: "Camera", price: 250 },
    ]);
  });
});

Deno.test("a restarted peer registers again, signed, and sends its open requests again", async (t) => {
  const store = new MemoryStore();
  const before = new Harness({ key: KEY }, store);
  const register = only(sent(before.line("register", T0)));
  before.agent.handle({
    kind: "message",
    from: { hostname: "127.0.0.1", port: 5000 },
    message: { type: "REGISTERED", rq: register.rq, extensions: SECURE },
    at: T0,
    serverKey: SERVER_KEY,
  });
  store.apply([{
    kind: "save",
    key: ["registration"],
    value: {
      registered: true,
      server: "127.0.0.1:5000",
      changedAt: T0,
      serverKind: "ours",
      features: SECURE,
    },
  }]);
  const searching = only(sent(before.line("buy Lamp 30", T0 + 1)));
  const buying = only(sent(before.line("buy Desk 90", T0 + 2))).rq;
  before.receive({ type: "FOUND", rq: buying, item: "Desk", price: 80 }, T0 + 3);
  before.line("y", T0 + 4);

  const after = new Harness({ key: KEY, serverKey: SERVER_KEY }, store, "alice-b");
  let again: Message;
  await t.step("start sends a REGISTER with auth", () => {
    again = only(sent(after.start(T0 + 100)));
    assert.equal(again.type, "REGISTER");
    assert.deepEqual(again.type === "REGISTER" && again.extensions, [...OURS, "book", "auth"]);
  });

  await t.step("its REGISTERED takes up the open search and purchase", () => {
    const effects = after.agent.handle({
      kind: "message",
      from: { hostname: "127.0.0.1", port: 5000 },
      message: { type: "REGISTERED", rq: again.rq, extensions: SECURE },
      at: T0 + 150,
      serverKey: SERVER_KEY,
    });
    assert.equal(only(printed(effects)).fields?.again, true);
    assert.deepEqual(sent(effects), [searching, {
      type: "BUY",
      rq: buying,
      item: "Desk",
      price: 80,
    }]);
    assert.equal(after.agent.pendingCount, 2);
  });
});
