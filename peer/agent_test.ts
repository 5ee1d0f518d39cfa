import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import {
  events,
  Harness,
  MemoryStore,
  only,
  printed,
  sent,
  STRANGER,
  T0,
  writes,
} from "./_agent_harness.ts";

Deno.test("register offers our extensions and learns that the server is ours", () => {
  const peer = new Harness();
  const register = only(sent(peer.line("register")));
  assert.deepEqual(register, {
    type: "REGISTER",
    rq: "alice-a-1",
    name: "alice",
    ip: "127.0.0.1",
    udpPort: 6001,
    tcpPort: 7001,
    extensions: ["from", "ack", "no-offer"],
  });
  const effects = peer.receive({ type: "REGISTERED", rq: "alice-a-1", extensions: ["from"] });
  assert.deepEqual(only(printed(effects)).fields, {
    rq: "alice-a-1",
    name: "alice",
    server: "127.0.0.1:5000",
    serverKind: "ours",
    features: ["from"],
    authenticated: false,
  });
  assert.deepEqual(peer.store.snapshot().registration, {
    registered: true,
    server: "127.0.0.1:5000",
    changedAt: T0,
    serverKind: "ours",
    features: ["from"],
  });
  assert.equal(peer.agent.serverKind, "ours");
  const status = only(printed(peer.line("status")));
  assert.equal(status.fields?.serverKind, "ours");
  assert.match(status.text, /our server \(extensions: from\)/);
});

Deno.test("a REGISTERED without extensions means a classic server", () => {
  const peer = new Harness();
  assert.equal(only(printed(peer.line("status"))).fields?.serverKind, "unknown");
  peer.line("register");
  peer.receive({ type: "REGISTERED", rq: "alice-a-1" });
  assert.equal(peer.agent.serverKind, "classic");
  assert.deepEqual(peer.agent.features, []);
  assert.equal(peer.store.snapshot().registration?.serverKind, "classic");
  assert.match(only(printed(peer.line("status"))).text, /a classic server/);
});

Deno.test("a denied REGISTER with extensions is retried once as a classic REGISTER", async (t) => {
  await t.step("a strict classic server accepts the retry", () => {
    const peer = new Harness();
    peer.line("register");
    const retry = peer.receive({
      type: "REGISTER-DENIED",
      rq: "alice-a-1",
      reason: "Invalid extensions",
    });
    // The first denial is not reported: only the retry's answer is.
    assert.deepEqual(printed(retry), []);
    const again = only(sent(retry));
    assert.equal(again.type, "REGISTER");
    assert.equal(again.rq, "alice-a-2");
    assert.equal("extensions" in again, false);
    assert.equal(peer.agent.pendingCount, 1);
    const done = peer.receive({ type: "REGISTERED", rq: "alice-a-2" });
    assert.deepEqual(events(done), ["REGISTERED"]);
    assert.equal(peer.agent.registered, true);
    assert.equal(peer.agent.serverKind, "classic");
  });

  await t.step("a name in use is denied twice and reported once, with no third try", () => {
    const peer = new Harness();
    peer.line("register");
    peer.receive({ type: "REGISTER-DENIED", rq: "alice-a-1", reason: "name alice in use" });
    const denied = peer.receive({
      type: "REGISTER-DENIED",
      rq: "alice-a-2",
      reason: "name alice in use",
    });
    assert.deepEqual(sent(denied), []);
    assert.deepEqual(only(printed(denied)).fields, {
      rq: "alice-a-2",
      reason: "name alice in use",
    });
    assert.equal(peer.agent.registered, false);
    assert.equal(peer.agent.pendingCount, 0);
  });

  await t.step("a repeated denial of the first REGISTER is not retried again", () => {
    const peer = new Harness();
    peer.line("register");
    peer.receive({ type: "REGISTER-DENIED", rq: "alice-a-1", reason: "Invalid extensions" });
    const duplicate = peer.receive({
      type: "REGISTER-DENIED",
      rq: "alice-a-1",
      reason: "Invalid extensions",
    });
    assert.deepEqual(sent(duplicate), []);
    assert.deepEqual(printed(duplicate), []);
  });
});

Deno.test("sell, unsell and inventory keep the items in the store", async (t) => {
  const peer = new Harness();

  await t.step("sell adds an item and stores it under its lower-case name", () => {
    const effects = peer.line(`sell Laptop 500 "a fast one" --floor 450`, T0 + 1);
    assert.deepEqual(writes(effects), [{
      kind: "save",
      key: ["item", "laptop"],
      value: { item: "Laptop", price: 500, description: "a fast one", floor: 450, addedAt: T0 + 1 },
    }]);
    assert.equal(only(printed(effects)).text, "Selling Laptop at 500 (floor 450)");
  });

  await t.step("sell of the same item in other case replaces it", () => {
    const effects = peer.line("sell LAPTOP 480");
    assert.equal(only(printed(effects)).fields?.replaced, true);
    assert.deepEqual(peer.agent.items.map((item) => [item.item, item.price, item.floor]), [
      ["LAPTOP", 480, undefined],
    ]);
  });

  await t.step("inventory shows an aligned table and JSON items", () => {
    peer.line("sell Phone 99.5 old --floor 80");
    const output = only(printed(peer.line("inventory")));
    assert.equal(output.event, "inventory");
    assert.deepEqual(output.text.split("\n"), [
      "ITEM    PRICE  FLOOR  STATE      DESCRIPTION",
      "LAPTOP    480      -  available",
      "Phone    99.5     80  available  old",
    ]);
    const items = output.fields?.items as { item: string; state: string }[];
    assert.deepEqual(items.map((item) => [item.item, item.state]), [
      ["LAPTOP", "available"],
      ["Phone", "available"],
    ]);
  });

  await t.step("unsell removes an item whatever its case", () => {
    const effects = peer.line("unsell phone");
    assert.deepEqual(writes(effects), [{ kind: "delete", key: ["item", "phone"] }]);
    assert.deepEqual(peer.agent.items.map((item) => item.item), ["LAPTOP"]);
  });

  await t.step("unsell of a missing item says how to list the inventory", () => {
    const output = only(printed(peer.line("unsell Phone")));
    assert.equal(output.event, "error");
    assert.match(output.text, /Phone is not in the inventory: type inventory/);
  });

  await t.step("a reserved item can be neither replaced nor removed", () => {
    peer.receive({ type: "RESERVE", rq: "S1", item: "laptop", price: 480 });
    for (const line of ["sell Laptop 999", "unsell Laptop"]) {
      const effects = peer.line(line);
      assert.deepEqual(writes(effects), []);
      const output = only(printed(effects));
      assert.equal(output.event, "error");
      assert.match(output.text, /LAPTOP is reserved for a buyer \(S1\)/);
    }
    assert.equal(peer.agent.items[0]?.price, 480);
    assert.match(only(printed(peer.line("inventory"))).text, /reserved \(S1\)/);
  });
});

Deno.test("SEARCH is answered with OFFER only for an unreserved item, matched in any case", async (t) => {
  const peer = new Harness();
  peer.line("sell Laptop 500");

  await t.step("offers the stored spelling and price", () => {
    const effects = peer.receive({ type: "SEARCH", rq: "S1", item: "laptop", description: "any" });
    assert.deepEqual(sent(effects), [
      { type: "OFFER", rq: "S1", name: "alice", item: "Laptop", price: 500 },
    ]);
    const output = only(printed(effects));
    assert.equal(output.event, "OFFER");
    assert.equal(output.text, "Offered Laptop at 500 (search S1)");
  });

  await t.step("a repeated SEARCH gets the same OFFER without a second line", () => {
    const effects = peer.receive({ type: "SEARCH", rq: "S1", item: "laptop", description: "any" });
    assert.equal(only(sent(effects)).type, "OFFER");
    assert.deepEqual(printed(effects), []);
  });

  await t.step("stays silent on stdout for an item it does not have", () => {
    const effects = peer.receive({ type: "SEARCH", rq: "S2", item: "Phone", description: "" });
    assert.deepEqual(sent(effects), []);
    assert.deepEqual(printed(effects), []);
    assert.ok(effects.some((effect) => effect.kind === "log" && effect.level === "debug"));
  });

  await t.step("stays silent for a reserved item, and offers it again after CANCEL", () => {
    const reserved = peer.receive({ type: "RESERVE", rq: "S1", item: "LAPTOP", price: 500 });
    assert.equal(only(printed(reserved)).text, "Reserved Laptop at 500 for a buyer (S1)");
    assert.deepEqual(writes(reserved), [{
      kind: "save",
      key: ["item", "laptop"],
      value: {
        item: "Laptop",
        price: 500,
        description: "",
        addedAt: T0,
        reservedFor: "S1",
        reservedPrice: 500,
      },
    }]);
    assert.deepEqual(
      sent(peer.receive({ type: "SEARCH", rq: "S3", item: "Laptop", description: "" })),
      [],
    );
    const cancelled = peer.receive({ type: "CANCEL", rq: "S1", item: "Laptop", price: 500 });
    const output = only(printed(cancelled));
    assert.equal(output.text, "Reservation S1 of Laptop cancelled; it is for sale again");
    assert.deepEqual(output.fields, {
      rq: "S1",
      item: "Laptop",
      price: 500,
      role: "seller",
      by: "server",
    });
    assert.equal(peer.store.snapshot().items?.[0]?.reservedFor, undefined);
    assert.equal(
      only(sent(peer.receive({ type: "SEARCH", rq: "S4", item: "Laptop", description: "" })))
        .type,
      "OFFER",
    );
  });
});

Deno.test("RESERVE of an item not in the inventory prints a warning and stores nothing", () => {
  const peer = new Harness();
  const effects = peer.receive({ type: "RESERVE", rq: "S1", item: "Laptop", price: 500 });
  assert.equal(only(printed(effects)).event, "warning");
  assert.deepEqual(writes(effects), []);
});

Deno.test("a repeated RESERVE is shown once", () => {
  const peer = new Harness();
  peer.line("sell Laptop 500");
  peer.receive({ type: "RESERVE", rq: "S1", item: "Laptop", price: 500 });
  const again = peer.receive({ type: "RESERVE", rq: "S1", item: "Laptop", price: 500 });
  assert.deepEqual(printed(again), []);
  assert.deepEqual(writes(again), []);
});

Deno.test("NEGOTIATE with a floor is decided without asking", async (t) => {
  const peer = new Harness();
  peer.line("sell Laptop 500 --floor 450");

  await t.step("a max below the floor is refused", () => {
    const effects = peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 449.99 });
    assert.deepEqual(sent(effects), [
      { type: "REFUSE", rq: "S1", item: "Laptop", maxPrice: 449.99 },
    ]);
    assert.deepEqual(events(effects), ["REFUSE"]);
    assert.equal(printed(effects)[0]?.text, "Refused 449.99 for Laptop: below your floor 450");
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
    assert.deepEqual(peer.agent.questions, []);
  });

  await t.step("a max at the floor is accepted and the item reserved", () => {
    const effects = peer.receive({ type: "NEGOTIATE", rq: "S2", item: "laptop", maxPrice: 450 });
    assert.deepEqual(sent(effects), [
      { type: "ACCEPT", rq: "S2", item: "laptop", maxPrice: 450 },
    ]);
    const output = only(printed(effects));
    assert.equal(output.event, "ACCEPT");
    assert.equal(output.fields?.by, "floor");
    assert.equal(peer.store.snapshot().items?.[0]?.reservedFor, "S2");
    // Stored before it is sent.
    assert.ok(
      effects.findLastIndex((e) => e.kind === "save") < effects.findIndex((e) => e.kind === "send"),
    );
  });

  await t.step("the server's RESERVE confirming the ACCEPT is shown, not acted on twice", () => {
    const effects = peer.receive({ type: "RESERVE", rq: "S2", item: "Laptop", price: 450 });
    assert.deepEqual(events(effects), ["RESERVE"]);
    assert.deepEqual(writes(effects), []);
  });

  await t.step("a repeated NEGOTIATE gets the same answer again", () => {
    assert.deepEqual(
      sent(peer.receive({ type: "NEGOTIATE", rq: "S2", item: "laptop", maxPrice: 450 })),
      [{ type: "ACCEPT", rq: "S2", item: "laptop", maxPrice: 450 }],
    );
    assert.deepEqual(
      sent(peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 449.99 })),
      [{ type: "REFUSE", rq: "S1", item: "Laptop", maxPrice: 449.99 }],
    );
  });

  await t.step("a reserved item is refused", () => {
    const effects = peer.receive({ type: "NEGOTIATE", rq: "S3", item: "Laptop", maxPrice: 499 });
    assert.equal(only(sent(effects)).type, "REFUSE");
    assert.match(only(printed(effects)).text, /reserved for another buyer/);
  });

  await t.step("a missing item is refused", () => {
    const effects = peer.receive({ type: "NEGOTIATE", rq: "S4", item: "Phone", maxPrice: 10 });
    assert.deepEqual(sent(effects), [{ type: "REFUSE", rq: "S4", item: "Phone", maxPrice: 10 }]);
  });
});

Deno.test("NEGOTIATE without a floor asks, and the next line answers", async (t) => {
  await t.step("y accepts and reserves", () => {
    const peer = new Harness();
    peer.line("sell Laptop 500");
    const asked = peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
    assert.deepEqual(sent(asked), []);
    const prompt = only(printed(asked));
    assert.equal(prompt.event, "prompt");
    assert.equal(prompt.text, "A buyer offers 450 for Laptop (your price 500). Accept? [y/N]");
    assert.deepEqual(prompt.fields, {
      rq: "S1",
      question: prompt.text,
      about: "NEGOTIATE",
      item: "Laptop",
      maxPrice: 450,
      price: 500,
    });
    const answered = peer.line("Y");
    assert.deepEqual(sent(answered), [
      { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 450 },
    ]);
    assert.equal(only(printed(answered)).fields?.by, "you");
    assert.equal(peer.agent.items[0]?.reservedFor, "S1");
    assert.deepEqual(peer.agent.questions, []);
  });

  await t.step(
    "a command typed while the question shows runs, and the question still waits",
    () => {
      const peer = new Harness();
      peer.register();
      peer.line("sell Laptop 500");
      peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
      const command = peer.line("buy Desk 30");
      assert.deepEqual(events(command), ["LOOKING_FOR"], "no second prompt");
      assert.deepEqual(sent(command).map((m) => m.type), ["LOOKING_FOR"]);
      assert.deepEqual(peer.agent.questions.map((q) => q.rq), ["S1"]);
      assert.deepEqual(sent(peer.line("y")), [
        { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 450 },
      ]);
    },
  );

  for (const answer of ["n", "", "maybe", "NO"]) {
    await t.step(`${JSON.stringify(answer)} refuses, and is not run as a command`, () => {
      const peer = new Harness();
      peer.line("sell Laptop 500");
      peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
      const answered = peer.line(answer);
      assert.deepEqual(sent(answered), [
        { type: "REFUSE", rq: "S1", item: "Laptop", maxPrice: 450 },
      ]);
      assert.deepEqual(events(answered), ["REFUSE"]);
      assert.equal(peer.agent.items[0]?.reservedFor, undefined);
      // The line after the answer is a command again.
      assert.deepEqual(events(peer.line("status")), ["status"]);
    });
  }

  await t.step("a RESERVE meanwhile makes the question moot: refused, not asked", () => {
    const peer = new Harness();
    peer.line("sell Laptop 500");
    peer.line("sell Phone 100");
    peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Phone", maxPrice: 90 });
    peer.receive({ type: "NEGOTIATE", rq: "S2", item: "Laptop", maxPrice: 450 });
    const reserved = peer.receive({ type: "RESERVE", rq: "S3", item: "Laptop", price: 500 });
    assert.deepEqual(sent(reserved), [
      { type: "REFUSE", rq: "S2", item: "Laptop", maxPrice: 450 },
    ]);
    assert.deepEqual(peer.agent.questions.map((q) => q.rq), ["S1"]);
  });
});

Deno.test("buy needs a registration, then sends LOOKING_FOR and records the search", () => {
  const peer = new Harness();
  const refused = peer.line("buy Laptop 500");
  assert.deepEqual(sent(refused), []);
  assert.equal(only(printed(refused)).text, "Error: Register first: type register");

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
      assert.equal(printed(effects)[0]?.text, `Found Laptop for 480 from bob (request ${rq})`);
      assert.equal(peer.agent.requests[0]?.state, "buying");
      assert.deepEqual(peer.agent.questions, []);
      // A repeated FOUND repeats the BUY (the server keeps one), silently.
      const again = peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480, seller: "bob" });
      assert.deepEqual(sent(again), [{ type: "BUY", rq, item: "Laptop", price: 480 }]);
      assert.deepEqual(printed(again), []);
    });
  }
});

Deno.test("FOUND without auto-buy asks; n sends CANCEL and y sends BUY", async (t) => {
  const peer = new Harness();
  peer.register();
  const first = only(sent(peer.line("buy Laptop 500"))).rq;
  const second = only(sent(peer.line("buy Phone 100"))).rq;

  await t.step("FOUND asks whether to buy", () => {
    const effects = peer.receive({
      type: "FOUND",
      rq: first,
      item: "Laptop",
      price: 480,
      seller: "bob",
    });
    assert.deepEqual(sent(effects), []);
    assert.deepEqual(events(effects), ["FOUND", "prompt"]);
    assert.deepEqual(printed(effects)[1]?.fields, {
      rq: first,
      question: "Buy Laptop for 480 from bob? [y/N]",
      about: "FOUND",
      item: "Laptop",
      price: 480,
      seller: "bob",
    });
    assert.equal(peer.agent.requests[0]?.state, "found");
  });

  await t.step("a repeated FOUND does not ask again", () => {
    const effects = peer.receive({ type: "FOUND", rq: first, item: "Laptop", price: 480 });
    assert.deepEqual(sent(effects), []);
    assert.deepEqual(printed(effects), []);
    assert.equal(peer.agent.questions.length, 1);
  });

  await t.step("n cancels", () => {
    const effects = peer.line("n");
    assert.deepEqual(sent(effects), [{ type: "CANCEL", rq: first, item: "Laptop", price: 480 }]);
    const output = only(printed(effects));
    assert.equal(output.event, "CANCEL");
    assert.equal(output.fields?.by, "you");
    assert.equal(peer.store.snapshot().requests?.find((r) => r.rq === first)?.state, "cancelled");
  });

  await t.step("a FOUND without a seller asks without one, and yes buys", () => {
    const asked = peer.receive({ type: "FOUND", rq: second, item: "Phone", price: 90 });
    assert.equal(printed(asked)[1]?.text, "Buy Phone for 90? [y/N]");
    const effects = peer.line(" yes ");
    assert.deepEqual(sent(effects), [{ type: "BUY", rq: second, item: "Phone", price: 90 }]);
    assert.deepEqual(events(effects), ["BUY"]);
    assert.equal(peer.agent.requests[1]?.state, "buying");
  });
});

Deno.test("questions are asked one at a time, first come first asked", () => {
  const peer = new Harness();
  peer.register();
  peer.line("sell Bike 200");
  const a = only(sent(peer.line("buy Laptop 500"))).rq;
  const b = only(sent(peer.line("buy Phone 100"))).rq;

  const first = peer.receive({ type: "FOUND", rq: a, item: "Laptop", price: 480 });
  assert.deepEqual(events(first), ["FOUND", "prompt"]);
  // Later questions are queued, not printed over the one being asked.
  assert.deepEqual(
    events(peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Bike", maxPrice: 150 })),
    [],
  );
  assert.deepEqual(
    events(peer.receive({ type: "FOUND", rq: b, item: "Phone", price: 90 })),
    ["FOUND"],
  );

  const answerA = peer.line("y");
  assert.deepEqual(sent(answerA).map((m) => [m.type, m.rq]), [["BUY", a]]);
  assert.equal(printed(answerA).at(-1)?.fields?.rq, "S1");

  const answerS1 = peer.line("n");
  assert.deepEqual(sent(answerS1).map((m) => [m.type, m.rq]), [["REFUSE", "S1"]]);
  assert.equal(printed(answerS1).at(-1)?.fields?.rq, b);

  const answerB = peer.line("y");
  assert.deepEqual(sent(answerB).map((m) => [m.type, m.rq]), [["BUY", b]]);
  assert.deepEqual(events(answerB), ["BUY"]);
  assert.deepEqual(peer.agent.questions, []);
});

Deno.test("a CANCEL from the server ends a purchase and drops its question", async (t) => {
  const peer = new Harness();
  peer.register();
  const a = only(sent(peer.line("buy Laptop 500"))).rq;
  const b = only(sent(peer.line("buy Phone 100"))).rq;
  peer.receive({ type: "FOUND", rq: a, item: "Laptop", price: 480, seller: "bob" });
  peer.receive({ type: "FOUND", rq: b, item: "Phone", price: 90 });

  await t.step("the question being asked is dropped and the next one asked", () => {
    const effects = peer.receive({ type: "CANCEL", rq: a, item: "Laptop", price: 480 });
    assert.deepEqual(sent(effects), []);
    assert.deepEqual(events(effects), ["CANCEL", "prompt"]);
    const [cancel, prompt] = printed(effects);
    assert.equal(cancel?.text, "Purchase of Laptop cancelled by the server");
    assert.deepEqual(cancel?.fields, {
      rq: a,
      item: "Laptop",
      price: 480,
      role: "buyer",
      by: "server",
    });
    assert.equal(prompt?.fields?.rq, b);
    assert.equal(peer.store.snapshot().requests?.find((r) => r.rq === a)?.state, "cancelled");
  });

  await t.step("a repeated CANCEL does nothing more", () => {
    const effects = peer.receive({ type: "CANCEL", rq: a, item: "Laptop", price: 480 });
    assert.deepEqual(printed(effects), []);
    assert.deepEqual(writes(effects), []);
  });

  await t.step("the next line answers the remaining question", () => {
    assert.deepEqual(sent(peer.line("y")).map((m) => [m.type, m.rq]), [["BUY", b]]);
  });

  await t.step("a purchase being bought can still be cancelled by the server", () => {
    const effects = peer.receive({ type: "CANCEL", rq: b, item: "Phone", price: 90 });
    assert.deepEqual(events(effects), ["CANCEL"]);
    assert.equal(peer.agent.requests.find((r) => r.rq === b)?.state, "cancelled");
  });
});

Deno.test("NOT_AVAILABLE and NOT_FOUND end a search with a line of their own", () => {
  const peer = new Harness();
  peer.register();
  const a = only(sent(peer.line("buy Laptop 500"))).rq;
  const b = only(sent(peer.line("buy Phone 100"))).rq;

  const none = peer.receive({ type: "NOT_AVAILABLE", rq: a, item: "Laptop", maxPrice: 500 });
  assert.deepEqual(printed(none), [{
    event: "NOT_AVAILABLE",
    text: "No offer for Laptop within 500",
    fields: { rq: a, item: "Laptop", maxPrice: 500 },
  }]);
  const refused = peer.receive({ type: "NOT_FOUND", rq: b, item: "Phone", maxPrice: 100 });
  assert.equal(only(printed(refused)).text, "No seller accepted 100 for Phone");
  assert.deepEqual(peer.agent.requests.map((r) => r.state), ["not_available", "not_found"]);

  // Repeats are silent, and a late FOUND does not reopen an ended search.
  assert.deepEqual(
    printed(peer.receive({ type: "NOT_AVAILABLE", rq: a, item: "Laptop", maxPrice: 500 })),
    [],
  );
  const late = peer.receive({ type: "FOUND", rq: a, item: "Laptop", price: 400 });
  assert.deepEqual(events(late), ["warning"]);
  assert.deepEqual(sent(late), []);
  assert.equal(peer.agent.requests[0]?.state, "not_available");
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

Deno.test("messages from anyone but the server are ignored with a warning", () => {
  const peer = new Harness();
  peer.line("sell Laptop 500");
  const effects = peer.receive(
    { type: "SEARCH", rq: "S1", item: "Laptop", description: "" },
    T0,
    STRANGER,
  );
  assert.deepEqual(sent(effects), []);
  assert.match(
    only(printed(effects)).text,
    /Ignored SEARCH from 127\.0\.0\.1:5999: not the server/,
  );
});

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

Deno.test("a restarted peer with auto-buy buys the FOUND it had not answered", () => {
  const store = new MemoryStore();
  const before = new Harness({}, store);
  before.register();
  const rq = only(sent(before.line("buy Camera 300"))).rq;
  before.receive({ type: "FOUND", rq, item: "Camera", price: 250 });

  const after = new Harness({ autoBuy: true }, store, "alice-b");
  const effects = after.start(T0 + 9);
  assert.deepEqual(sent(effects), [{ type: "BUY", rq, item: "Camera", price: 250 }]);
  assert.deepEqual(events(effects), ["BUY"]);
  assert.equal(store.snapshot().requests?.[0]?.state, "buying");
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
    "RQ         ITEM    MAX  STATE      PRICE  SELLER  AGE",
    "alice-a-2  Laptop  500  buying       480  bob      2m",
    "alice-a-3  Phone   100  searching      -  -        2m",
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

Deno.test("a command typed wrongly prints an error that says what to type", () => {
  const peer = new Harness();
  const output = only(printed(peer.line("sell Laptop")));
  assert.equal(output.event, "error");
  assert.match(output.text, /^Error: Cannot run sell: missing PRICE; usage: sell ITEM PRICE/);
  assert.deepEqual(printed(peer.line("   ")), []);
});
