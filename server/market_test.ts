import assert from "node:assert/strict";
import { isWrite } from "../protocol/effects.ts";
import type { Address, Message } from "../protocol/mod.ts";
import { type Effect, Market, type RegisteredPeer } from "./market.ts";

const ALICE: Address = { hostname: "127.0.0.1", port: 6001 };
const ELSEWHERE: Address = { hostname: "10.9.9.9", port: 6001 };
const T0 = Date.UTC(2026, 10, 25);

function message(market: Market, from: Address, message: Message, at = T0): Effect[] {
  return market.handle({ kind: "message", from, message, bytes: 60, at });
}

function sent(effects: Effect[]): Message[] {
  return effects.flatMap((effect) =>
    effect.kind === "send"
      ? [effect.message]
      : effect.kind === "fanout"
      ? effect.peers.map(() => effect.message)
      : []
  );
}

function writes(effects: Effect[]) {
  return effects.filter((effect) => isWrite(effect));
}

const register = (rq: string, udpPort = 6001): Message => ({
  type: "REGISTER",
  rq,
  name: "alice",
  ip: "127.0.0.1",
  udpPort,
  tcpPort: 7001,
});

Deno.test("market registers a new name, stores it and replies REGISTERED", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  const effects = message(market, ALICE, register("r1"));
  assert.deepEqual(sent(effects), [{ type: "REGISTERED", rq: "r1" }]);
  const expected: RegisteredPeer = {
    name: "alice",
    ip: "127.0.0.1",
    udpPort: 6001,
    tcpPort: 7001,
    source: ALICE,
    registeredAt: T0,
  };
  assert.deepEqual(writes(effects), [{
    kind: "save",
    key: ["peer", "alice"],
    value: expected,
  }]);
  assert.deepEqual(market.peer("alice"), expected);
  // The write comes before the reply, so a shell never confirms unstored state.
  assert.ok(
    effects.findIndex((e) => isWrite(e)) < effects.findIndex((e) => e.kind === "send"),
  );
});

Deno.test("market answers a repeated REGISTER from the same peer without a second write", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  message(market, ALICE, register("r1"));
  const again = message(market, ALICE, register("r1"));
  assert.deepEqual(sent(again), [{ type: "REGISTERED", rq: "r1" }]);
  assert.equal(writes(again).length, 0);
});

Deno.test("market denies a name in use to another address or other ports", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  message(market, ALICE, register("r1"));
  const fromElsewhere = message(market, ELSEWHERE, register("r2"));
  assert.deepEqual(sent(fromElsewhere), [{
    type: "REGISTER-DENIED",
    rq: "r2",
    reason: "name alice in use",
  }]);
  const otherPorts = message(market, ALICE, register("r3", 6002));
  assert.equal(sent(otherPorts)[0]?.type, "REGISTER-DENIED");
  assert.equal(writes(fromElsewhere).length + writes(otherPorts).length, 0);
  assert.equal(market.peer("alice")?.source, ALICE);
});

Deno.test("market de-registers only from the registered address", async (t) => {
  const market = new Market(undefined, { allowPlaintext: true });
  message(market, ALICE, register("r1"));

  await t.step("another host is denied", () => {
    const effects = message(market, ELSEWHERE, { type: "DE-REGISTER", rq: "d1", name: "alice" });
    assert.equal(sent(effects)[0]?.type, "DE-REGISTER-DENIED");
    assert.ok(market.peer("alice"));
  });

  await t.step("the peer itself is de-registered and the record deleted", () => {
    const effects = message(market, ALICE, { type: "DE-REGISTER", rq: "d2", name: "alice" });
    assert.deepEqual(sent(effects), [{ type: "DE-REGISTERED", rq: "d2" }]);
    assert.deepEqual(writes(effects), [{ kind: "delete", key: ["peer", "alice"] }]);
    assert.equal(market.peer("alice"), undefined);
  });

  await t.step("an unknown name is denied", () => {
    const effects = message(market, ALICE, { type: "DE-REGISTER", rq: "d3", name: "alice" });
    assert.deepEqual(sent(effects), [{
      type: "DE-REGISTER-DENIED",
      rq: "d3",
      reason: "name alice not registered",
    }]);
  });
});

Deno.test("market restored from a snapshot knows the stored peers", () => {
  const first = new Market(undefined, { allowPlaintext: true });
  const effects = message(first, ALICE, register("r1"));
  const stored = writes(effects).flatMap((effect) =>
    effect.kind === "save" && effect.key[0] === "peer" ? [effect.value as RegisteredPeer] : []
  );
  const restored = new Market({ peers: stored }, { allowPlaintext: true });
  assert.deepEqual(restored.peer("alice"), first.peer("alice"));
  assert.equal(sent(message(restored, ELSEWHERE, register("r2")))[0]?.type, "REGISTER-DENIED");
});

Deno.test("market answers an undecodable request with a denial and changes nothing", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  const effects = market.handle({
    kind: "invalid",
    from: ALICE,
    error: {
      code: "invalid_field",
      message: 'Invalid udpPort "0" in REGISTER: port must be 1 to 65535',
      keyword: "REGISTER",
      rq: "r9",
    },
    bytes: 40,
    at: T0,
  });
  assert.deepEqual(sent(effects), [{
    type: "REGISTER-DENIED",
    rq: "r9",
    reason: 'Invalid udpPort "0" in REGISTER: port must be 1 to 65535',
  }]);
  assert.equal(writes(effects).length, 0);
  assert.equal([...market.peers()].length, 0);
});

Deno.test("market sends nothing back for garbage without a readable request token", () => {
  const market = new Market(undefined, { allowPlaintext: true });
  const effects = market.handle({
    kind: "invalid",
    from: ALICE,
    error: { code: "encoding", message: "Message is not valid UTF-8 text" },
    bytes: 4,
    at: T0,
  });
  assert.deepEqual(sent(effects), []);
  assert.deepEqual(effects.map((e) => e.kind), ["log"]);
});
