/** The agent's registration with the server: REGISTER, the server's kind, denials, de-registering. */
import assert from "node:assert/strict";
import { decode } from "../protocol/mod.ts";
import { events, Harness, only, printed, sent, STRANGER, T0 } from "./_agent_harness.ts";

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
    extensions: ["from", "ack", "no-offer", "book"],
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

Deno.test("deregister when not registered is a local error: nothing is sent", () => {
  const peer = new Harness();
  const effects = peer.line("deregister");
  assert.deepEqual(sent(effects), []);
  const output = only(printed(effects));
  assert.equal(output.event, "error");
  assert.equal(output.text, "Error: Not registered: nothing to de-register");
  assert.equal(peer.agent.pendingCount, 0);
});

Deno.test("a flood of stranger's datagrams warns twice a second, the rest in the debug log", () => {
  const peer = new Harness();
  const junk = decode(new TextEncoder().encode("\u00ffjunk"));
  assert.ok(!junk.ok);
  const effects = [];
  for (let i = 0; i < 1_000; i++) {
    const at = T0 + i; // a second of them, then more in the next
    effects.push(
      ...peer.receive(
        { type: "SEARCH", rq: `S${i}`, item: "Laptop", description: "" },
        at,
        STRANGER,
      ),
      ...peer.agent.handle({ kind: "invalid", from: STRANGER, error: junk.error, at }),
    );
  }
  effects.push(
    ...peer.agent.handle({ kind: "invalid", from: STRANGER, error: junk.error, at: T0 + 1_000 }),
  );
  assert.deepEqual(events(effects), ["warning", "warning", "warning"]);
  const logged = effects.filter((effect) => effect.kind === "log" && effect.level === "debug");
  assert.equal(logged.length, 1_998);
});
