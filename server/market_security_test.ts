/**
 * Names bound to keys, spoofed datagrams and classic peers, through the
 * state machine alone (the shell's guard does the cryptography; here its
 * verdicts arrive as `registration` and `authenticated` on events).
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Harness, lookingFor, T0 } from "./_market_harness.ts";
import { Market } from "./market.ts";

const KEYS = { send: "c2VuZA", receive: "cmVjZWl2ZQ" };

function signedRegister(rq: string, name: string, udpPort: number): Message {
  return {
    type: "REGISTER",
    rq,
    name,
    ip: "127.0.0.1",
    udpPort,
    tcpPort: udpPort + 1,
    extensions: ["from", "ack", "auth", "key=K", "dh=D", "ca=C", "ts=1", "sig=S"],
  };
}

function registerWithKey(market: Market, port: number, key: string, rq = "r1") {
  return market.handle({
    kind: "message",
    from: { hostname: "127.0.0.1", port },
    message: signedRegister(rq, "alice", port),
    bytes: 800,
    at: T0,
    registration: { proof: { key, ca: `ca-of-${key}` }, keys: KEYS },
  });
}

function sent(effects: ReturnType<Market["handle"]>) {
  return effects.flatMap((effect) =>
    effect.kind === "send"
      ? [effect.message]
      : effect.kind === "fanout"
      ? effect.peers.map(() => effect.message)
      : []
  );
}

Deno.test("a signed registration binds the name to the key", () => {
  const market = new Market();
  const effects = registerWithKey(market, 7000, "key-A");
  assert.deepEqual(sent(effects), [{
    type: "REGISTERED",
    rq: "r1",
    extensions: ["from", "ack", "auth"],
  }]);
  assert.deepEqual(market.peer("alice")?.auth, { key: "key-A", ca: "ca-of-key-A", keys: KEYS });
});

Deno.test("another key cannot take the name; the same key moves it to a new address", () => {
  const market = new Market();
  registerWithKey(market, 7000, "key-A");
  const stolen = registerWithKey(market, 7100, "key-B", "r2");
  assert.deepEqual(sent(stolen), [{
    type: "REGISTER-DENIED",
    rq: "r2",
    reason: "name alice is bound to another key",
  }]);
  assert.equal(market.peer("alice")?.udpPort, 7000);
  const moved = registerWithKey(market, 7200, "key-A", "r3");
  assert.equal(sent(moved)[0]?.type, "REGISTERED");
  assert.equal(market.peer("alice")?.udpPort, 7200);
  assert.equal(market.peer("alice")?.auth?.key, "key-A");
});

Deno.test("a classic REGISTER for a key-bound name is denied", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  registerWithKey(market, 7000, "key-A");
  const effects = market.handle({
    kind: "message",
    from: { hostname: "127.0.0.1", port: 7000 },
    message: {
      type: "REGISTER",
      rq: "c1",
      name: "alice",
      ip: "127.0.0.1",
      udpPort: 7000,
      tcpPort: 7001,
    },
    bytes: 60,
    at: T0,
  });
  assert.deepEqual(sent(effects), [{
    type: "REGISTER-DENIED",
    rq: "c1",
    reason: "name alice in use",
  }]);
});

Deno.test("classic peers are refused unless plaintext is allowed", () => {
  const strict = new Market();
  const classic: Message = {
    type: "REGISTER",
    rq: "c1",
    name: "carol",
    ip: "127.0.0.1",
    udpPort: 7000,
    tcpPort: 7001,
  };
  const event = {
    kind: "message" as const,
    from: { hostname: "127.0.0.1", port: 7000 },
    message: classic,
    at: T0,
  };
  const denied = sent(strict.handle({ ...event, bytes: 1200 }));
  assert.equal(denied[0]?.type, "REGISTER-DENIED");
  assert.match(
    (denied[0] as { reason: string }).reason,
    /only authenticated peers.*--allow-plaintext/,
  );
  assert.equal(strict.peer("carol"), undefined);
  const open = new Market(undefined, { allowPlaintext: true });
  assert.deepEqual(sent(open.handle({ ...event, bytes: 60 })), [{ type: "REGISTERED", rq: "c1" }]);
});

Deno.test("datagrams for a key-bound peer count only when its session vouched for them", () => {
  const h = new Harness();
  h.ports.set("alice", 7000);
  h.feed(registerWithKey(h.market, 7000, "key-A"));
  h.take("alice");
  h.register("bob");
  // From alice's very address, but without her session's MAC: a spoof.
  h.from("alice", { type: "DE-REGISTER", rq: "d1", name: "alice" });
  assert.ok(h.market.peer("alice"), "a spoofed DE-REGISTER changes nothing");
  h.from("alice", lookingFor("b1", "alice", "Lamp", 10));
  assert.equal(h.market.requests().length, 0, "a spoofed LOOKING_FOR starts nothing");
  // The same, authenticated.
  h.feed(h.market.handle({
    kind: "message",
    from: h.address("alice"),
    message: lookingFor("b1", "alice", "Lamp", 10),
    bytes: 60,
    at: T0,
    authenticated: "alice",
  }));
  assert.equal(h.market.requests().length, 1);
});

Deno.test("replies to unregistered sources carry the request's size as their limit", () => {
  const market = new Market();
  const [denial] = market.handle({
    kind: "message",
    from: { hostname: "127.0.0.1", port: 7000 },
    message: { type: "DE-REGISTER", rq: "d1", name: "nobody" },
    bytes: 20,
    at: T0,
  }).filter((effect) => effect.kind === "send");
  assert.equal(denial?.kind === "send" && denial.limit, 20);
});
