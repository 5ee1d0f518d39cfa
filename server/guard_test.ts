/**
 * The guard's lingering sessions, with real MACs: what a departed peer's
 * address may still do, and what it may not.
 */
import assert from "node:assert/strict";
import { Channel } from "../security/channel.ts";
import { createIdentity } from "../security/identity.ts";
import { Guard } from "./guard.ts";
import type { RegisteredPeer } from "./market.ts";

// Any bytes make an HMAC key; the handshake that derives real ones is
// covered end to end (tests/security_test.ts).
const KEYS = { send: "c2VydmVyLXRvLXBlZXI", receive: "cGVlci10by1zZXJ2ZXI" };
const X = { hostname: "127.0.0.1", port: 7001 };
const utf8 = new TextEncoder();

function record(name: string, port: number, auth = true): RegisteredPeer {
  return {
    name,
    ip: "127.0.0.1",
    udpPort: port,
    tcpPort: port + 1,
    source: { hostname: "127.0.0.1", port },
    registeredAt: 0,
    ...(auth ? { extensions: ["auth"], auth: { key: "K", ca: "C", keys: KEYS } } : {}),
  };
}

/** A guard where alice registered at X and then left; and alice's side of the session. */
async function departed(): Promise<{ guard: Guard; alice: Channel; now: number }> {
  const { identity } = await createIdentity();
  const guard = new Guard(identity, { ratePerSecond: 1000 });
  const now = Date.now();
  guard.update("alice", record("alice", X.port), now);
  guard.update("alice", undefined, now);
  return { guard, alice: new Channel({ send: KEYS.receive, receive: KEYS.send }), now };
}

Deno.test("a departed peer's resent DE-REGISTER opens, proves no name, and its reply is sealed", async () => {
  const { guard, alice, now } = await departed();
  const admission = await guard.admit(utf8.encode(alice.seal("DE-REGISTER d1 alice")), X, now);
  assert.deepEqual(admission, {
    kind: "message",
    message: { type: "DE-REGISTER", rq: "d1", name: "alice" },
  });
  const reply = await guard.sealNow(X, { type: "DE-REGISTERED", rq: "d1" }, "DE-REGISTERED d1");
  const opened = alice.open(reply);
  assert.deepEqual(opened, { ok: true, text: "DE-REGISTERED d1" });
});

Deno.test("a departed peer's session cannot act in the name, not even against its new holder", async () => {
  const { guard, alice, now } = await departed();
  guard.update("alice", record("alice", 7100), now); // someone else took the free name
  for (const text of ["LOOKING_FOR l1 alice Lamp 30", "BUY l1 Lamp 25"]) {
    const admission = await guard.admit(utf8.encode(alice.seal(text)), X, now);
    assert.equal(admission.kind, "dropped", text);
  }
  const deregister = await guard.admit(utf8.encode(alice.seal("DE-REGISTER d2 alice")), X, now);
  assert.ok(deregister.kind === "message" && deregister.authenticated === undefined);
});

Deno.test("a classic peer at an address a peer just left is read and answered in plain text", async () => {
  const { guard, now } = await departed();
  const register = "REGISTER r1 carl 127.0.0.1 7001 7002";
  const admission = await guard.admit(utf8.encode(register), X, now);
  assert.deepEqual(admission, {
    kind: "message",
    message: {
      type: "REGISTER",
      rq: "r1",
      name: "carl",
      ip: "127.0.0.1",
      udpPort: 7001,
      tcpPort: 7002,
    },
  });
  const denied = "REGISTER-DENIED r1 name carl in use";
  assert.equal(
    await guard.sealNow(
      X,
      { type: "REGISTER-DENIED", rq: "r1", reason: "name carl in use" },
      denied,
    ),
    denied,
  );
  // Once carl is registered there, not even DE-REGISTERED to it is sealed.
  guard.update("carl", record("carl", X.port, false), now);
  assert.equal(
    await guard.sealNow(X, { type: "DE-REGISTERED", rq: "d9" }, "DE-REGISTERED d9"),
    "DE-REGISTERED d9",
  );
});

Deno.test("a lingering session ends after its time", async () => {
  const { guard, alice, now } = await departed();
  const late = now + 61_000;
  const admission = await guard.admit(utf8.encode(alice.seal("DE-REGISTER d1 alice")), X, late);
  // Read as a stranger's datagram: the MAC word is one field too many.
  assert.equal(admission.kind, "invalid");
});
