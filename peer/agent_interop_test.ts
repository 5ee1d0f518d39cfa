/**
 * Registering with classic servers that deviate: one that never answers a
 * REGISTER with extensions, one that answers what does not parse, and ones
 * that answer with their own counter instead of our RQ#.
 */
import assert from "node:assert/strict";
import { events, Harness, only, printed, sent, SERVER, T0 } from "./_agent_harness.ts";

const timing = { retransmit: { initialRto: 100, maxAttempts: 12 } };

Deno.test("a REGISTER with extensions unanswered after 3 tries gets a classic one beside it", () => {
  const peer = new Harness(timing);
  const first = only(sent(peer.line("register", T0)));
  assert.ok("extensions" in first);
  assert.deepEqual(sent(peer.tick(T0 + 100)), [first]);
  assert.deepEqual(sent(peer.tick(T0 + 300)), [first]);
  const fourth = sent(peer.tick(T0 + 700));
  assert.equal(fourth.length, 2);
  assert.deepEqual(fourth[0], first);
  const classic = fourth[1]!;
  assert.equal(classic.type, "REGISTER");
  assert.equal("extensions" in classic, false);
  const done = peer.receive({ type: "REGISTERED", rq: classic.rq }, T0 + 710);
  assert.deepEqual(events(done), ["REGISTERED"]);
  assert.equal(peer.agent.serverKind, "classic");
  // The first is sent no more: each copy may crash a classic server's
  // handler. A late answer to it still counts (see the next test).
  assert.equal(peer.agent.pendingCount, 0);
  const after = [];
  for (let at = T0 + 800; at < T0 + 60_000; at += 100) after.push(...peer.tick(at));
  assert.deepEqual(sent(after), [], "nothing sent again");
  assert.deepEqual(printed(after), [], "nothing to say");
  assert.equal(peer.agent.registered, true);
});

Deno.test("our server answering the first REGISTER after the classic one makes the server ours", () => {
  const peer = new Harness(timing);
  const first = only(sent(peer.line("register", T0)));
  peer.tick(T0 + 100);
  peer.tick(T0 + 300);
  const classic = sent(peer.tick(T0 + 700))[1]!;
  peer.receive({ type: "REGISTERED", rq: classic.rq }, T0 + 710);
  const buy = only(sent(peer.line("buy Mug 10", T0 + 720)));
  assert.equal(peer.agent.serverKind, "classic");
  const late = peer.receive(
    { type: "REGISTERED", rq: first.rq, extensions: ["from", "ack"] },
    T0 + 730,
  );
  assert.equal(peer.agent.serverKind, "ours");
  assert.deepEqual(printed(late), []);
  // The search sent meanwhile is sent again, now until acknowledged.
  assert.deepEqual(sent(late), [buy]);
  assert.equal(peer.agent.pendingCount, 1);
});

Deno.test("an answer that does not parse makes the peer fall back at once", () => {
  const peer = new Harness(timing);
  peer.line("register", T0);
  const effects = peer.agent.handle({
    kind: "invalid",
    from: SERVER,
    error: { code: "unknown-type", message: 'unknown message type "ERROR:"' } as never,
    at: T0 + 5,
  });
  const classic = only(sent(effects));
  assert.equal(classic.type, "REGISTER");
  assert.equal("extensions" in classic, false);
  // The server's own counter answers it: exactly one classic REGISTER is pending.
  const done = peer.receive({ type: "REGISTERED", rq: "1" }, T0 + 10);
  assert.deepEqual(events(done), ["REGISTERED"]);
  assert.equal(peer.agent.registered, true);
});

Deno.test("a classic server's own counter answers the one REGISTER pending", async (t) => {
  await t.step("REGISTERED 1", () => {
    const peer = new Harness();
    peer.line("register");
    const done = peer.receive({ type: "REGISTERED", rq: "1" });
    assert.deepEqual(events(done), ["REGISTERED"]);
    assert.equal(peer.agent.serverKind, "classic");
  });

  await t.step("REGISTER-DENIED -1 Error-invalid literal: retried classic, then denied", () => {
    const peer = new Harness();
    peer.line("register");
    const retry = peer.receive({
      type: "REGISTER-DENIED",
      rq: "-1",
      reason: "Error-invalid literal for int() with base 10: 'shop/1'",
    });
    const classic = only(sent(retry));
    assert.equal("extensions" in classic, false);
    const denied = peer.receive({
      type: "REGISTER-DENIED",
      rq: "1",
      reason: "Name-Already-Exists",
    });
    assert.equal(
      only(printed(denied)).text,
      "Registration denied: Name-Already-Exists; the name is taken (another peer, " +
        "or alice in another --data directory, holds it): start this peer with another --name",
    );
  });

  await t.step("a repeat of an answer acted on is not taken for another REGISTER", () => {
    const peer = new Harness();
    peer.line("register");
    peer.receive({ type: "REGISTERED", rq: "1" });
    peer.line("register");
    assert.deepEqual(events(peer.receive({ type: "REGISTERED", rq: "1" })), []);
  });
});
