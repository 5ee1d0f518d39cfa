/** The agent's questions: NEGOTIATE and FOUND asked one at a time, answered by the next line. */
import assert from "node:assert/strict";
import { events, Harness, only, printed, sent, T0, writes } from "./_agent_harness.ts";

Deno.test("NEGOTIATE without a floor asks, and the next line answers", async (t) => {
  await t.step("y accepts and reserves", () => {
    const peer = new Harness();
    peer.line("sell Laptop 500");
    const asked = peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
    assert.deepEqual(sent(asked), []);
    const prompt = only(printed(asked));
    assert.equal(prompt.event, "prompt");
    assert.equal(
      prompt.text,
      "A buyer offers 450.00 for Laptop (your price 500.00). Accept? [y/N]",
    );
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
    "a command typed while the question shows runs, and the question is shown again",
    () => {
      const peer = new Harness();
      peer.register();
      peer.line("sell Laptop 500");
      peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
      const command = peer.line("buy Desk 30");
      assert.deepEqual(events(command), ["LOOKING_FOR", "prompt"]);
      assert.equal(printed(command)[1]?.fields?.rq, "S1");
      assert.deepEqual(sent(command).map((m) => m.type), ["LOOKING_FOR"]);
      assert.deepEqual(peer.agent.questions.map((q) => q.rq), ["S1"]);
      assert.deepEqual(sent(peer.line("y")), [
        { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 450 },
      ]);
    },
  );

  for (const answer of ["n", "", "no", "NO"]) {
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

  for (const typo of ["invntory", "maybe", "yess", "sell"]) {
    await t.step(
      `${JSON.stringify(typo)} is an error, not an answer: the question is shown again`,
      () => {
        const peer = new Harness();
        peer.line("sell Laptop 500");
        peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
        const typed = peer.line(typo);
        assert.deepEqual(sent(typed), [], "no REFUSE");
        assert.deepEqual(events(typed), ["error", "prompt"]);
        assert.equal(
          printed(typed)[1]?.text,
          "A buyer offers 450.00 for Laptop (your price 500.00). Accept? [y/N]",
        );
        assert.deepEqual(peer.agent.questions.map((q) => q.rq), ["S1"]);
        assert.deepEqual(sent(peer.line("yes")), [
          { type: "ACCEPT", rq: "S1", item: "Laptop", maxPrice: 450 },
        ]);
      },
    );
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
      question: "Buy Laptop for 480.00 from bob? [y/N]",
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
    assert.equal(printed(asked)[1]?.text, "Buy Phone for 90.00? [y/N]");
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

Deno.test("a NEGOTIATE question is withdrawn when the server's time for it runs out", async (t) => {
  await t.step("by the negotiation timeout the agent knows, less a margin", () => {
    const peer = new Harness({ negotiationTimeout: 60_000 });
    peer.line("sell Laptop 500");
    peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 }, T0);
    assert.equal(peer.agent.nextDeadline(), T0 + 59_000);
    assert.deepEqual(printed(peer.tick(T0 + 58_999)), []);
    const expired = peer.tick(T0 + 59_000);
    assert.deepEqual(sent(expired), [
      { type: "REFUSE", rq: "S1", item: "Laptop", maxPrice: 450 },
    ]);
    assert.equal(
      only(printed(expired)).text,
      "Refused 450.00 for Laptop: the question is withdrawn, " +
        "not answered within the server's negotiation time",
    );
    assert.deepEqual(peer.agent.questions, []);
    assert.equal(peer.agent.nextDeadline(), undefined);
    // A late "y" accepts nothing: it is a command (unknown) now.
    const late = peer.line("y");
    assert.deepEqual(sent(late), []);
    assert.deepEqual(events(late), ["error"]);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });

  await t.step("by the server's CANCEL for it", () => {
    const peer = new Harness();
    peer.line("sell Laptop 500");
    peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 });
    const cancel = peer.receive({ type: "CANCEL", rq: "S1", item: "Laptop", price: 450 });
    assert.deepEqual(sent(cancel), []);
    assert.deepEqual(events(cancel), ["withdrawn"]);
    assert.match(
      only(printed(cancel)).text,
      /^Question withdrawn: the server ended the negotiation/,
    );
    assert.deepEqual(peer.agent.questions, []);
    assert.deepEqual(sent(peer.line("y")), []);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });

  await t.step("after a restart, a question whose time ran out meanwhile", () => {
    const peer = new Harness();
    peer.line("sell Laptop 500");
    peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Laptop", maxPrice: 450 }, T0);
    const restarted = new Harness({}, peer.store);
    const started = restarted.start(T0 + 120_000);
    assert.ok(sent(started).some((m) => m.type === "REFUSE" && m.rq === "S1"));
    assert.deepEqual(restarted.agent.questions, []);
  });
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

Deno.test("Ctrl-C at a question declines it, as n would; with none it says how to leave", async (t) => {
  const peer = new Harness();
  peer.register();
  const rq = only(sent(peer.line("buy Laptop 500"))).rq;
  peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480, seller: "bob" });

  await t.step("at Buy? it sends CANCEL", () => {
    const effects = peer.line("\x03");
    assert.deepEqual(sent(effects), [{ type: "CANCEL", rq, item: "Laptop", price: 480 }]);
    assert.deepEqual(events(effects), ["CANCEL"]);
    assert.deepEqual(peer.agent.questions, []);
  });

  await t.step("with no question it changes nothing and says how to leave", () => {
    const effects = peer.line("\x03");
    assert.deepEqual(sent(effects), []);
    assert.deepEqual(printed(effects).map((output) => output.text), [
      "To leave, type quit or press Ctrl-D",
    ]);
  });
});
