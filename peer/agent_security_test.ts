/**
 * The peer's security rules, on the pure state machine: keys and signed
 * registration, address cookies, card data only over an authenticated TLS leg.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { PLAINTEXT_REASON, UNAUTHENTICATED_REASON } from "./agent.ts";
import {
  Harness,
  KEY,
  only,
  OURS,
  PAYMENT,
  printed,
  SECURE,
  sent,
  SERVER_KEY,
  T0,
} from "./_agent_harness.ts";

Deno.test("with a key: REGISTER offers auth, and the verified server key shows in status", async (t) => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));

  await t.step("auth is offered", () => {
    assert.deepEqual(register.type === "REGISTER" && register.extensions, [
      ...OURS,
      "book",
      "auth",
    ]);
  });

  await t.step("the REGISTERED's signature tokens are no features", () => {
    const effects = peer.agent.handle({
      kind: "message",
      from: { hostname: "127.0.0.1", port: 5000 },
      message: { type: "REGISTERED", rq: register.rq, extensions: [...SECURE, "key=K", "sig=S"] },
      at: T0,
      serverKey: SERVER_KEY,
    });
    const output = only(printed(effects));
    assert.equal(
      output.text,
      "Registered as alice with 127.0.0.1:5000 (authenticated, server key serverfp)",
    );
    assert.deepEqual(peer.agent.features, SECURE);
    assert.equal(peer.agent.authenticated, true);
  });

  await t.step("status shows both fingerprints and the session", () => {
    const status = only(printed(peer.line("status")));
    assert.equal(status.fields?.keyFingerprint, "peerfp");
    assert.equal(status.fields?.serverKeyFingerprint, "serverfp");
    assert.equal(status.fields?.authenticated, true);
    assert.match(
      status.text,
      /key peerfp; server key serverfp \(pinned at the first registration\)/,
    );
    assert.match(status.text, /session authenticated: MAC on every datagram, TLS on the TCP port/);
  });

  await t.step("key prints the public key", () => {
    const output = only(printed(peer.line("key")));
    assert.equal(output.event, "key");
    assert.deepEqual(output.fields, { key: "peer-public-key", fingerprint: "peerfp" });
    assert.match(output.text, /peer-public-key/);
  });
});

Deno.test("the shell's refusal of a REGISTERED ends the registration with its reason", () => {
  const peer = new Harness({ key: KEY, serverKey: SERVER_KEY, serverKeyGiven: true });
  const register = only(sent(peer.line("register", T0)));
  const effects = peer.agent.handle({
    kind: "refused",
    rq: register.rq,
    reason: "the server signed with key other, not the pinned key serverfp",
    at: T0 + 5,
  });
  const output = only(printed(effects));
  assert.equal(output.event, "refused");
  assert.match(output.text, /^Registration refused: the server signed with key other/);
  assert.equal(peer.agent.registered, false);
  assert.equal(peer.agent.nextDeadline(), undefined);
});

Deno.test("a REGISTER-DENIED is not retried unsigned when the server's key is known", () => {
  const peer = new Harness({ key: KEY, serverKey: SERVER_KEY });
  const register = only(sent(peer.line("register")));
  const effects = peer.receive({
    type: "REGISTER-DENIED",
    rq: register.rq,
    reason: "name alice is bound to another key",
  });
  assert.deepEqual(sent(effects), []);
  assert.equal(
    only(printed(effects)).text,
    "Registration denied: name alice is bound to another key; the name is taken (another peer, " +
      "or alice in another --data directory, holds it): start this peer with another --name",
  );
});

Deno.test("our server's refusal of the unsigned retry reports the signed REGISTER's denial", () => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));
  const retry = only(
    sent(peer.receive({ type: "REGISTER-DENIED", rq: register.rq, reason: "odd" })),
  );
  assert.equal(retry.type, "REGISTER");
  assert.equal("extensions" in retry, false);
  const effects = peer.receive({
    type: "REGISTER-DENIED",
    rq: retry.rq,
    reason: "auth required: this server",
  });
  assert.equal(only(printed(effects)).text, "Registration denied: odd");
});

Deno.test("RETRY to a signed REGISTER: sent again with the cookie signed in, a few times at most", async (t) => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));
  const cookie = "1b2c3dAbCdEfGhIjKlMnOpQrSt_-";
  let pending = register.rq;

  await t.step("the server's RETRY brings a new REGISTER carrying the cookie", () => {
    assert.equal(peer.agent.awaits({ type: "RETRY", rq: register.rq, cookie }), true);
    const again = only(sent(peer.receive({ type: "RETRY", rq: register.rq, cookie })));
    assert.equal(again.type, "REGISTER");
    assert.notEqual(again.rq, register.rq);
    assert.deepEqual(again.type === "REGISTER" && again.extensions, [
      ...OURS,
      "book",
      "auth",
      `cookie=${cookie}`,
    ]);
    pending = again.rq;
    // The first REGISTER is over: a RETRY for it again is not followed.
    assert.deepEqual(sent(peer.receive({ type: "RETRY", rq: register.rq, cookie })), []);
  });

  await t.step("a stream of RETRYs ends the registration after three", () => {
    for (let i = 2; i <= 3; i++) {
      pending = only(sent(peer.receive({ type: "RETRY", rq: pending, cookie }))).rq;
    }
    const over = peer.receive({ type: "RETRY", rq: pending, cookie });
    assert.deepEqual(sent(over), []);
    assert.match(only(printed(over)).text, /asked for its address cookie 3 times/);
    assert.equal(peer.agent.registered, false);
  });

  await t.step("a RETRY for nothing pending is ignored", () => {
    assert.deepEqual(sent(peer.receive({ type: "RETRY", rq: "nobody-1", cookie })), []);
  });
});

Deno.test("card data goes over plain TCP only with --allow-plaintext", async (t) => {
  function buying(options: { allowPlaintext?: boolean }) {
    const peer = new Harness({ autoBuy: true, payment: PAYMENT, ...options });
    peer.register("classic");
    const rq = only(sent(peer.line("buy Laptop 500"))).rq;
    peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480 });
    return peer;
  }
  const informReq: Message = { type: "INFORM_Req", rq: "T1", item: "Laptop", price: 480 };

  await t.step(
    "refused by default: CANCEL with the reason, a clear line, the purchase ends",
    () => {
      const peer = buying({});
      const effects = peer.tcp(1, informReq);
      const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message] : []);
      assert.deepEqual(tcp, [{ type: "TX_CANCEL", rq: "T1", reason: PLAINTEXT_REASON }]);
      assert.ok(effects.some((e) => e.kind === "tcp-close" && e.conn === 1));
      const output = only(printed(effects));
      assert.equal(output.event, "plaintext-refused");
      assert.match(output.text, /the server offers no TLS.*--allow-plaintext/);
      assert.ok(!JSON.stringify(effects).includes(PAYMENT.card));
      assert.equal(peer.agent.requests[0]?.state, "cancelled");
    },
  );

  await t.step("sent with --allow-plaintext", () => {
    const peer = buying({ allowPlaintext: true });
    const effects = peer.tcp(1, informReq);
    const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message.type] : []);
    assert.deepEqual(tcp, ["INFORM_Res"]);
  });
});

Deno.test("a TCP message without the server's MAC is answered CANCEL, never card data", () => {
  const peer = new Harness({ autoBuy: true, payment: PAYMENT });
  peer.register();
  const effects = peer.agent.handle({
    kind: "tcp-unauthenticated",
    conn: 4,
    rq: "T9",
    why: "bad mac",
    at: T0,
  });
  const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message] : []);
  assert.deepEqual(tcp, [{ type: "TX_CANCEL", rq: "T9", reason: UNAUTHENTICATED_REASON }]);
  assert.ok(effects.some((e) => e.kind === "tcp-close" && e.conn === 4));
  assert.equal(only(printed(effects)).event, "warning");
});
