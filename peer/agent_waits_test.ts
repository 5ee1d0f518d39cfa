/**
 * Feedback during waits and commands given before the registration
 * completes: "Registering with…", the hint on giving up, `buy` queued
 * behind a pending REGISTER, and `cancel` of an open search.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import {
  events,
  Harness,
  KEY,
  only,
  OURS,
  printed,
  registered,
  sent,
  T0,
} from "./_agent_harness.ts";

Deno.test("register says where it registers at once", () => {
  const peer = new Harness();
  const effects = peer.line("register");
  assert.deepEqual(printed(effects), [{
    event: "registering",
    text: "Registering with 127.0.0.1:5000…",
    fields: { server: "127.0.0.1:5000" },
  }]);
  assert.equal(only(sent(effects)).type, "REGISTER");
});

Deno.test("commands given while REGISTER is pending wait for it", async (t) => {
  await t.step("buy runs once REGISTERED arrives", () => {
    const peer = new Harness();
    const register = only(sent(peer.line("register")));
    const early = peer.line("buy Mug 10");
    assert.deepEqual(sent(early), [], "nothing sent before the registration");
    assert.deepEqual(events(early), [], "no Register first error");
    const done = peer.receive({ type: "REGISTERED", rq: register.rq, extensions: ["from"] });
    assert.deepEqual(events(done), ["REGISTERED", "LOOKING_FOR"]);
    const looking = only(sent(done));
    assert.equal(looking.type, "LOOKING_FOR");
    assert.equal(peer.agent.requests[0]?.item, "Mug");
  });

  await t.step("the commands after a waiting one wait too, in order", () => {
    const peer = new Harness();
    const register = only(sent(peer.line("register")));
    assert.deepEqual(events(peer.line("buy Mug 10")), []);
    assert.deepEqual(events(peer.line("requests")), []);
    const done = peer.receive({ type: "REGISTERED", rq: register.rq, extensions: ["from"] });
    assert.deepEqual(events(done), ["REGISTERED", "LOOKING_FOR", "requests"]);
  });

  await t.step("a denied registration fails them with its error", () => {
    const peer = new Harness();
    const register = only(sent(peer.line("register")));
    peer.line("buy Mug 10");
    const retry = only(sent(peer.receive({
      type: "REGISTER-DENIED",
      rq: register.rq,
      reason: "name alice in use",
    })));
    const denied = peer.receive({ type: "REGISTER-DENIED", rq: retry.rq, reason: "name in use" });
    assert.deepEqual(events(denied), ["REGISTER-DENIED", "error"]);
    assert.equal(
      printed(denied)[1]?.text,
      "Error: Cannot run buy: the registration was denied: name in use",
    );
    assert.deepEqual(sent(denied), []);
  });

  await t.step("a server that never answers fails them with a hint at --server", () => {
    const peer = new Harness({ retransmit: { maxAttempts: 2, initialRto: 100 } });
    peer.line("register", T0);
    peer.line("buy Mug 10", T0);
    peer.tick(T0 + 100);
    const gaveUp = peer.tick(T0 + 300);
    assert.deepEqual(events(gaveUp), ["timeout", "error"]);
    assert.match(printed(gaveUp)[0]!.text, /Start the peer with --server HOST:PORT/);
    assert.equal(
      printed(gaveUp)[1]?.text,
      "Error: Cannot run buy: the server at 127.0.0.1:5000 did not answer",
    );
  });

  await t.step("without a pending REGISTER, buy still says to register", () => {
    const peer = new Harness();
    assert.equal(
      only(printed(peer.line("buy Mug 10"))).text,
      "Error: Not registered: type register first",
    );
  });
});

Deno.test("cancel ends an open search", async (t) => {
  await t.step("with our server: CANCEL at once, and the search is over", () => {
    const peer = registered();
    const rq = only(sent(peer.line("buy Mug 10", T0))).rq;
    const effects = peer.line(`cancel ${rq}`, T0 + 10);
    assert.deepEqual(only(sent(effects)), { type: "CANCEL", rq, item: "Mug", price: 10 });
    assert.match(only(printed(effects)).text, /^Cancelled the search for Mug/);
    assert.equal(peer.agent.requests[0]?.state, "cancelled");
    // A late outcome changes nothing and asks nothing.
    const found = peer.receive({ type: "FOUND", rq, item: "Mug", price: 8 }, T0 + 20);
    assert.deepEqual(peer.agent.questions, []);
    assert.deepEqual(events(found), []);
    assert.deepEqual(events(peer.receive({ type: "NOT_AVAILABLE", rq, item: "Mug" })), []);
  });

  await t.step(
    "by item name; with a classic server the FOUND that comes is answered CANCEL",
    () => {
      const peer = new Harness();
      peer.register("classic");
      const rq = only(sent(peer.line("buy Mug 10"))).rq;
      const effects = peer.line("cancel mug");
      assert.deepEqual(sent(effects), [], "a classic server has no CANCEL for a search");
      assert.match(only(printed(effects)).text, /a FOUND for it will be answered with CANCEL/);
      const found = peer.receive({ type: "FOUND", rq, item: "Mug", price: 8 });
      assert.deepEqual(only(sent(found)), { type: "CANCEL", rq, item: "Mug", price: 8 });
    },
  );

  await t.step("a FOUND being asked is declined", () => {
    const peer = registered();
    const rq = only(sent(peer.line("buy Mug 10"))).rq;
    peer.receive({ type: "FOUND", rq, item: "Mug", price: 8 });
    const effects = peer.line("cancel Mug");
    assert.deepEqual(sent(effects).filter((m) => m.type !== "ACK"), [
      { type: "CANCEL", rq, item: "Mug", price: 8 },
    ]);
    assert.deepEqual(peer.agent.questions, []);
  });

  await t.step("nothing open, or two searches for the item: an error that says what to do", () => {
    const peer = registered();
    assert.match(only(printed(peer.line("cancel Mug"))).text, /No open search "Mug"/);
    peer.line("buy Mug 10");
    peer.line("buy Mug 12");
    assert.match(only(printed(peer.line("cancel Mug"))).text, /2 open searches for Mug/);
  });
});

Deno.test("a search says it was sent and what the server is collecting", async (t) => {
  await t.step("our server", () => {
    const peer = registered();
    const output = only(printed(peer.line("buy Mug 10")));
    assert.match(output.text, /: search sent; the server collects offers until every asked peer/);
    assert.match(output.text, /\(cancel alice-a-2 ends it\)$/);
  });
  await t.step("a classic server", () => {
    const peer = new Harness();
    peer.register("classic");
    assert.match(only(printed(peer.line("buy Mug 10"))).text, /up to 5 minutes/);
  });
});

Deno.test("a registration with a classic REGISTER beside it counts its tries once", () => {
  // After 3 tries a classic REGISTER goes out beside the first; its own
  // retries must not print a second, interleaved count.
  const peer = new Harness({ retransmit: { initialRto: 100, maxRto: 400, maxAttempts: 8 } });
  peer.line("register", T0);
  const shown = [];
  for (let at = T0 + 50; at < T0 + 10_000; at += 50) shown.push(...printed(peer.tick(at)));
  const waits = shown.filter((output) => output.event === "waiting").map((output) => output.text);
  assert.deepEqual(
    waits,
    [2, 4, 6, 8].map((attempt) =>
      `Waiting for the server at 127.0.0.1:5000 (try ${attempt} of 8); type cancel to stop`
    ),
  );
  assert.equal(sent(peer.tick(T0 + 10_001)).length, 0, "both REGISTERs given up");
  assert.match(shown.at(-1)!.text, /got no reply after 8 tries; is the server running/);
});

Deno.test("a server started during the last try registers the peer, not a denial of its classic REGISTER", () => {
  // The peer waits for a server that is not there: after 3 tries a classic
  // REGISTER goes out beside the signed one. The server starts just after
  // the signed one's last try, and refuses the classic one for want of a
  // signature: the signed one is sent again, not the refusal shown.
  const peer = new Harness({
    key: KEY,
    retransmit: { initialRto: 100, maxRto: 400, maxAttempts: 6 },
  });
  const first = only(sent(peer.line("register", T0)));
  let classic: Message | undefined;
  let at = T0;
  let lastTry = 0;
  for (; at < T0 + 10_000 && lastTry < 6; at += 10) {
    for (const message of sent(peer.tick(at))) {
      if (message.type !== "REGISTER") continue;
      if (message.rq === first.rq) lastTry++;
      else classic ??= message;
    }
    if (lastTry === 0) lastTry = 1;
  }
  assert.ok(classic && !("extensions" in classic) && lastTry === 6);
  const denied = peer.receive(
    { type: "REGISTER-DENIED", rq: classic.rq, reason: "auth required: this" },
    at,
  );
  assert.deepEqual(printed(denied), []);
  let again: Message | undefined;
  const shown = [];
  for (; at < T0 + 20_000 && !again; at += 10) {
    const effects = peer.tick(at);
    shown.push(...printed(effects).filter((o) => o.event !== "waiting"));
    again = sent(effects).find((m) => m.type === "REGISTER" && "extensions" in m);
  }
  assert.deepEqual(shown.map((o) => o.text), [], "no denial shown");
  assert.ok(again?.type === "REGISTER");
  const done = peer.receive({ type: "REGISTERED", rq: again.rq, extensions: OURS }, at);
  assert.deepEqual(events(done), ["REGISTERED"]);
  assert.equal(peer.agent.registered, true);
});

Deno.test("a registration the server does not answer shows its wait, and cancel stops it", async (t) => {
  const peer = new Harness({ retransmit: { initialRto: 100, maxAttempts: 5 } });
  peer.line("register", T0);
  const queued = peer.line("buy Mug 10", T0 + 1);
  assert.deepEqual(events(queued), [], "buy waits for the registration");

  await t.step("every other try says so, and how to stop", () => {
    const shown = [];
    for (let at = T0 + 50; at < T0 + 800; at += 50) shown.push(...printed(peer.tick(at)));
    assert.deepEqual(shown.map((output) => output.text), [
      "Waiting for the server at 127.0.0.1:5000 (try 2 of 5); type cancel to stop",
      "Waiting for the server at 127.0.0.1:5000 (try 4 of 5); type cancel to stop",
    ]);
  });

  await t.step("status and help run at once, not behind the queued buy", () => {
    assert.deepEqual(events(peer.line("status", T0 + 801)), ["status"]);
    assert.deepEqual(events(peer.line("help", T0 + 802)), ["help"]);
  });

  await t.step("cancel stops waiting, and the queued buy fails with the reason", () => {
    const effects = peer.line("cancel", T0 + 803);
    assert.deepEqual(printed(effects).map((output) => output.text), [
      "Stopped waiting for the server at 127.0.0.1:5000: not registered (type register to try again)",
      "Error: Cannot run buy: the registration was cancelled",
    ]);
    assert.equal(peer.agent.pendingCount, 0);
    assert.equal(peer.agent.nextDeadline(), undefined);
    assert.deepEqual(events(peer.line("cancel", T0 + 804)), ["error"], "nothing left to cancel");
  });
});

Deno.test("commands waiting for the registration are named when the peer leaves", () => {
  const peer = new Harness();
  peer.line("register", T0);
  peer.line("buy Mug 10", T0 + 1);
  peer.line("sell Cup 5", T0 + 2);
  assert.equal(
    peer.agent.pendingWork,
    "2 commands not run, waiting for the registration (buy, sell)",
  );
  peer.line("cancel", T0 + 3);
  assert.equal(peer.agent.pendingWork, undefined, "run or failed once the wait ends");
});

Deno.test("register typed again while the server is silent sends nothing more", () => {
  const peer = new Harness({ retransmit: { initialRto: 100, maxAttempts: 5 } });
  let datagrams = sent(peer.line("register", T0)).length;
  const again = peer.line("register", T0 + 1);
  assert.deepEqual(sent(again), []);
  assert.equal(
    only(printed(again)).text,
    "Already waiting for the server at 127.0.0.1:5000 to answer; type cancel to stop",
  );
  for (let i = 2; i < 50; i++) datagrams += sent(peer.line("register", T0 + i)).length;
  for (let at = T0 + 100; at < T0 + 60_000; at += 50) datagrams += sent(peer.tick(at)).length;
  // One REGISTER's tries, and the classic one sent beside it: not fifty of each.
  assert.ok(datagrams <= 10, `${datagrams} datagrams`);
});
