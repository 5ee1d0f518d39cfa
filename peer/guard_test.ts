import assert from "node:assert/strict";
import { decode, type Message } from "../protocol/mod.ts";
import { verifyRegistration } from "../security/handshake.ts";
import { createIdentity } from "../security/identity.ts";
import { parseServerKey, PeerGuard } from "./guard.ts";
import { PeerStore } from "./store.ts";

const SERVER = { hostname: "127.0.0.1", port: 5000 };

async function withGuard(
  run: (guard: PeerGuard, store: PeerStore) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shop-guard-test-" });
  try {
    await using store = await PeerStore.open(dir, "alice");
    const guard = await PeerGuard.open(store, {
      name: "alice",
      server: SERVER,
      ips: ["127.0.0.1"],
    });
    await run(guard, store);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseServerKey takes a P-256 public key and refuses anything else", async () => {
  const { identity } = await createIdentity();
  assert.equal(parseServerKey(identity.publicText), identity.publicText);
  for (const bad of ["", "abc", "!".repeat(87), identity.publicText.slice(1)]) {
    assert.throws(() => parseServerKey(bad), TypeError);
  }
});

Deno.test("the identity is made once and kept in the peer's KV", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shop-guard-test-" });
  try {
    const open = async () => {
      await using store = await PeerStore.open(dir, "alice");
      return (await PeerGuard.open(store, { name: "alice", server: SERVER, ips: [] })).key;
    };
    const first = await open();
    assert.deepEqual(await open(), first);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a REGISTER offering auth is signed once per RQ#, the same text on every send", async () => {
  await withGuard(async (guard) => {
    const register: Message = {
      type: "REGISTER",
      rq: "alice-1",
      name: "alice",
      ip: "127.0.0.1",
      udpPort: 6000,
      tcpPort: 6001,
      extensions: ["from", "ack", "no-offer", "auth"],
    };
    const text = await guard.outgoing(register);
    assert.equal(await guard.outgoing(register), text);
    assert.ok(new TextEncoder().encode(text).length <= 1200);
    const checked = await verifyRegistration(text, Date.now());
    assert.ok(checked.ok);
    assert.equal(checked.proof.key, guard.key.key);
    assert.equal(checked.proof.ca, guard.certificates.caText);
    // Another RQ# gets another exchange key.
    const other = await guard.outgoing({ ...register, rq: "alice-2" });
    assert.notEqual(other.match(/dh=(\S+)/)?.[1], text.match(/dh=(\S+)/)?.[1]);
    // Without a session, other datagrams go out plain; a classic REGISTER too.
    assert.equal(
      await guard.outgoing({ type: "DE-REGISTER", rq: "x", name: "alice" }),
      "DE-REGISTER x alice",
    );
    const classic = await guard.outgoing({ ...register, rq: "alice-3", extensions: undefined });
    assert.ok(decode(classic).ok);
    assert.ok(!classic.includes("sig="));
  });
});

Deno.test("without a session, what the server sends passes as it is", async () => {
  await withGuard(async (guard) => {
    const incoming = await guard.incoming(
      new TextEncoder().encode("REGISTERED r1"),
      () => false,
    );
    assert.deepEqual(incoming, { kind: "message", message: { type: "REGISTERED", rq: "r1" } });
    assert.equal(guard.sealing, false);
  });
});
