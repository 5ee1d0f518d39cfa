/** What the agent does with classic servers' deviations (issue 13's interop list). */
import assert from "node:assert/strict";
import { Harness, only, printed, sent, SERVER, T0 } from "./_agent_harness.ts";

Deno.test("NOT_AVAILABLE and NOT_FOUND without the max price end the search with the price asked", () => {
  for (const type of ["NOT_AVAILABLE", "NOT_FOUND"] as const) {
    const peer = new Harness();
    peer.register("classic");
    const search = only(sent(peer.line("buy Lamp 30")));
    const output = only(printed(peer.receive({ type, rq: search.rq, item: "Lamp" })));
    assert.equal(output.event, type);
    assert.match(output.text, /30/);
    assert.equal(output.fields?.maxPrice, 30);
    assert.equal(
      peer.agent.requests[0]?.state,
      type === "NOT_AVAILABLE" ? "not_available" : "not_found",
    );
  }
});

/** A datagram from the server in a type no P2S2 message has, as the shell delivers it. */
function noise(peer: Harness, text: string, at: number) {
  const type = text.split(" ", 1)[0]!;
  return peer.agent.handle({
    kind: "invalid",
    from: SERVER,
    error: { code: "unknown_type", message: `Unknown message type ${JSON.stringify(type)}` },
    text,
    at,
  });
}

Deno.test("a classic server's own messages are logged, not shown", async (t) => {
  const peer = new Harness();
  peer.register("classic");
  only(sent(peer.line("buy Lamp 30", T0)));
  await t.step("LOOKING_FOR_ACK and TRANSACTION_SUCCESS", () => {
    for (const text of ["LOOKING_FOR_ACK 3", "TRANSACTION_SUCCESS 3 Lamp"]) {
      const effects = noise(peer, text, T0 + 1);
      assert.deepEqual(printed(effects), []);
      assert.ok(effects.some((e) => e.kind === "log" && e.level === "debug"));
    }
    assert.equal(peer.agent.requests[0]?.state, "searching");
  });
  await t.step("an ERROR: long after the LOOKING_FOR ends nothing", () => {
    const effects = noise(peer, "ERROR: list index out of range", T0 + 60_000);
    assert.deepEqual(printed(effects), []);
    assert.equal(peer.agent.requests[0]?.state, "searching");
  });
});

Deno.test("a classic server's ERROR: right after LOOKING_FOR ends that search with its words", async (t) => {
  await t.step("one search pending: refused at once", () => {
    const peer = new Harness();
    peer.register("classic");
    const search = only(sent(peer.line("buy Teapot 25", T0)));
    const effects = noise(peer, "ERROR: could not convert string to float: 'x'\n", T0 + 5);
    const output = only(printed(effects));
    assert.equal(output.event, "DENIED");
    assert.equal(
      output.text,
      "The server refused the search for Teapot: could not convert string to float: 'x'",
    );
    const request = only(peer.agent.requests);
    assert.equal(request.rq, search.rq);
    assert.equal(request.state, "denied");
    assert.equal(request.reason, "could not convert string to float: 'x'");
  });
  await t.step(
    "Unknown command: LOOKING_FOR (a server that knows only REGISTER) refuses it too",
    () => {
      const peer = new Harness();
      peer.register("classic");
      only(sent(peer.line("buy Teapot 25", T0)));
      const output = only(printed(noise(peer, "Unknown command: LOOKING_FOR", T0 + 5)));
      assert.equal(output.event, "DENIED");
      assert.equal(
        output.text,
        "The server refused the search for Teapot: Unknown command: LOOKING_FOR",
      );
      assert.equal(only(peer.agent.requests).state, "denied");
    },
  );
  await t.step("its other words after LOOKING_FOR refuse nothing", () => {
    const peer = new Harness();
    peer.register("classic");
    peer.line("buy Teapot 25", T0);
    for (const text of ["Invalid message format", "Unknown command: OFFER", "LOOKING_FOR_ACK 2"]) {
      assert.deepEqual(printed(noise(peer, text, T0 + 5)), []);
    }
    assert.equal(only(peer.agent.requests).state, "searching");
  });
  await t.step("two searches pending: which one it refuses is unknown, it ends none", () => {
    const peer = new Harness();
    peer.register("classic");
    peer.line("buy Teapot 25", T0);
    peer.line("buy Lamp 30", T0 + 1);
    assert.deepEqual(printed(noise(peer, "ERROR: bad request", T0 + 5)), []);
    assert.deepEqual(peer.agent.requests.map((r) => r.state), ["searching", "searching"]);
  });
});

Deno.test("with a classic server, a search and a hold that hear nothing end after six minutes", async (t) => {
  // A classic server resends nothing and tells a seller nothing when a
  // search ends without a purchase: without these deadlines a lost
  // LOOKING_FOR, NOT_AVAILABLE or ACCEPT left them open for ever (the
  // simulator's seeds 2431 and 4162).
  const peer = new Harness();
  peer.register("classic");
  await t.step("a search without any answer", () => {
    const search = only(sent(peer.line("buy Lamp 30", T0)));
    assert.ok(peer.agent.nextDeadline()! <= T0 + 6 * 60_000);
    assert.deepEqual(printed(peer.tick(T0 + 5 * 60_000)), []);
    assert.equal(peer.agent.requests[0]?.state, "searching");
    const ended = only(printed(peer.tick(T0 + 6 * 60_000)));
    assert.equal(ended.event, "timeout");
    assert.match(ended.text, /no answer about Lamp in 6 minutes: the search ended here/);
    assert.equal(peer.agent.requests.find((r) => r.rq === search.rq)?.state, "failed");
  });
  await t.step("an item held after an ACCEPT the server never took up", () => {
    const at = T0 + 7 * 60_000;
    peer.line("sell Vase 40 --floor 30", at);
    peer.receive({ type: "NEGOTIATE", rq: "n1", item: "Vase", maxPrice: 35 }, at);
    assert.equal(peer.agent.items[0]?.reservedFor, "n1");
    assert.deepEqual(printed(peer.tick(at + 5 * 60_000)), []);
    const freed = only(printed(peer.tick(at + 6 * 60_000)));
    assert.equal(freed.event, "released");
    assert.match(freed.text, /Vase is for sale again: the server started no purchase/);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });
});
