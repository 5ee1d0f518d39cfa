/** The agent as a buyer: LOOKING_FOR, FOUND with auto-buy, the end of a search, the requests view. */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { events, Harness, only, printed, registered, sent, T0, writes } from "./_agent_harness.ts";

Deno.test("buy needs a registration, then sends LOOKING_FOR and records the search", () => {
  const peer = new Harness();
  const refused = peer.line("buy Laptop 500");
  assert.deepEqual(sent(refused), []);
  assert.equal(only(printed(refused)).text, "Error: Not registered: type register first");

  peer.register();
  const effects = peer.line("buy Laptop 500 13 inch", T0 + 5);
  assert.deepEqual(sent(effects), [{
    type: "LOOKING_FOR",
    rq: "alice-a-2",
    name: "alice",
    item: "Laptop",
    description: "13 inch",
    maxPrice: 500,
  }]);
  assert.deepEqual(peer.store.snapshot().requests, [{
    rq: "alice-a-2",
    item: "Laptop",
    description: "13 inch",
    maxPrice: 500,
    state: "searching",
    createdAt: T0 + 5,
    updatedAt: T0 + 5,
  }]);
  const output = only(printed(effects));
  assert.equal(output.event, "LOOKING_FOR");
  assert.equal(output.fields?.rq, "alice-a-2");
});

Deno.test("FOUND with auto-buy sends BUY at once", async (t) => {
  for (
    const [how, harness] of [
      ["--auto-buy", () => new Harness({ autoBuy: true })],
      ["set auto-buy on", () => {
        const peer = new Harness();
        const effects = peer.line("set auto-buy on");
        assert.deepEqual(writes(effects), [{
          kind: "save",
          key: ["settings"],
          value: { autoBuy: true, changedAt: T0 },
        }]);
        return peer;
      }],
    ] as const
  ) {
    await t.step(how, () => {
      const peer = harness();
      peer.register();
      const rq = only(sent(peer.line("buy Laptop 500"))).rq;
      const effects = peer.receive({
        type: "FOUND",
        rq,
        item: "Laptop",
        price: 480,
        seller: "bob",
      });
      assert.deepEqual(sent(effects), [{ type: "BUY", rq, item: "Laptop", price: 480 }]);
      assert.deepEqual(events(effects), ["FOUND", "BUY"]);
      assert.equal(printed(effects)[0]?.text, `Found Laptop for 480.00 from bob (request ${rq})`);
      assert.equal(peer.agent.requests[0]?.state, "buying");
      assert.deepEqual(peer.agent.questions, []);
      // A repeated FOUND repeats the BUY (the server keeps one), silently.
      const again = peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480, seller: "bob" });
      assert.deepEqual(sent(again), [{ type: "BUY", rq, item: "Laptop", price: 480 }]);
      assert.deepEqual(printed(again), []);
    });
  }
});

Deno.test("NOT_AVAILABLE and NOT_FOUND end a search with a line of their own", () => {
  const peer = new Harness();
  peer.register();
  const a = only(sent(peer.line("buy Laptop 500"))).rq;
  const b = only(sent(peer.line("buy Phone 100"))).rq;

  const none = peer.receive({ type: "NOT_AVAILABLE", rq: a, item: "Laptop", maxPrice: 500 });
  assert.deepEqual(printed(none), [{
    event: "NOT_AVAILABLE",
    text: "No offer for Laptop within 500.00",
    fields: { rq: a, item: "Laptop", maxPrice: 500 },
  }]);
  const refused = peer.receive({ type: "NOT_FOUND", rq: b, item: "Phone", maxPrice: 100 });
  assert.equal(only(printed(refused)).text, "No seller accepted 100.00 for Phone");
  assert.deepEqual(peer.agent.requests.map((r) => r.state), ["not_available", "not_found"]);

  // Repeats are silent, and a late FOUND does not reopen an ended search.
  assert.deepEqual(
    printed(peer.receive({ type: "NOT_AVAILABLE", rq: a, item: "Laptop", maxPrice: 500 })),
    [],
  );
  const late = peer.receive({ type: "FOUND", rq: a, item: "Laptop", price: 400 });
  // Bookkeeping, not news: in the log (debug) only, never on the terminal.
  assert.deepEqual(events(late), []);
  assert.ok(
    late.some((effect) =>
      effect.kind === "log" && effect.level === "debug" && effect.text.startsWith("Ignored FOUND")
    ),
  );
  assert.deepEqual(sent(late), []);
  assert.equal(peer.agent.requests[0]?.state, "not_available");
});

Deno.test("DENIED ends a search as denied, with the server's reason", () => {
  const peer = registered();
  const rq = only(sent(peer.line("buy Lamp 30", T0))).rq;
  const effects = peer.receive(
    { type: "DENIED", rq, reason: "too many open searches (8)" },
    T0 + 5,
  );
  const output = only(printed(effects));
  assert.equal(output.event, "DENIED");
  assert.equal(output.text, "The server denied the search for Lamp: too many open searches (8)");
  assert.deepEqual(output.fields, { rq, reason: "too many open searches (8)", item: "Lamp" });
  assert.equal(peer.agent.requests[0]?.state, "denied");
  assert.equal(peer.store.snapshot().requests?.[0]?.reason, "too many open searches (8)");
  assert.equal(peer.agent.nextDeadline(), undefined, "LOOKING_FOR is not sent again");
  assert.deepEqual(printed(peer.receive({ type: "DENIED", rq, reason: "again" })), []);
});

Deno.test("answers to requests this peer never made are warned about and change nothing", async (t) => {
  const peer = new Harness();
  peer.register();
  peer.line("sell Laptop 500");
  const messages: Message[] = [
    { type: "FOUND", rq: "nope", item: "Laptop", price: 1 },
    { type: "NOT_AVAILABLE", rq: "nope", item: "Laptop", maxPrice: 1 },
    { type: "NOT_FOUND", rq: "nope", item: "Laptop", maxPrice: 1 },
    { type: "CANCEL", rq: "nope", item: "Laptop", price: 1 },
    { type: "REGISTERED", rq: "nope" },
    { type: "DE-REGISTERED", rq: "nope" },
  ];
  for (const message of messages) {
    await t.step(message.type, () => {
      const effects = peer.receive(message);
      assert.deepEqual(events(effects), ["warning"]);
      assert.deepEqual(sent(effects), []);
      assert.deepEqual(writes(effects), []);
    });
  }
});

Deno.test("requests lists the searches with their state, price, seller and age", () => {
  const peer = new Harness();
  peer.register();
  const a = only(sent(peer.line("buy Laptop 500", T0))).rq;
  peer.line("buy Phone 100", T0 + 1000);
  peer.receive({ type: "FOUND", rq: a, item: "Laptop", price: 480, seller: "bob" });
  peer.line("y");
  const output = only(printed(peer.line("requests", T0 + 125_000)));
  assert.equal(output.event, "requests");
  assert.deepEqual(output.text.split("\n"), [
    "RQ         ITEM       MAX  STATE       PRICE  SELLER  AGE",
    "alice-a-2  Laptop  500.00  buying     480.00  bob      2m",
    "alice-a-3  Phone   100.00  searching       -  -        2m",
  ]);
  const requests = output.fields?.requests as { rq: string; state: string }[];
  assert.deepEqual(requests.map((r) => [r.rq, r.state]), [[a, "buying"], [
    "alice-a-3",
    "searching",
  ]]);
});

Deno.test("every event's writes come before its sends and prints", () => {
  const peer = new Harness({ autoBuy: true });
  peer.register();
  const rq = only(sent(peer.line("buy Laptop 500"))).rq;
  const effects = peer.receive({ type: "FOUND", rq, item: "Laptop", price: 400 });
  const kinds = effects.map((effect) => effect.kind).filter((kind) => kind !== "log");
  assert.deepEqual(kinds, ["save", "save", "print", "send", "print"]);
});

Deno.test("NOT_AVAILABLE that names a silent listing says the seller did not answer", () => {
  const peer = new Harness();
  peer.register("ours", ["from", "book"]);
  const search = only(sent(peer.line("buy Teapot 25")));
  const output = only(printed(peer.receive({
    type: "NOT_AVAILABLE",
    rq: search.rq,
    item: "Teapot",
    maxPrice: 25,
    silentPrice: 20,
  })));
  assert.equal(
    output.text,
    "No offer for Teapot within 25.00: the seller of the listing at 20.00 did not answer",
  );
  assert.equal(output.fields?.silentPrice, 20);
  assert.equal(peer.agent.requests[0]?.state, "not_available");
});
