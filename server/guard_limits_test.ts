/**
 * The guard's flood limits and registration freshness, with real signed
 * REGISTERs (made by a real peer guard on a real KV file) and real MACs.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Channel } from "../security/channel.ts";
import { createIdentity } from "../security/identity.ts";
import { PeerGuard } from "../peer/guard.ts";
import { PeerStore } from "../peer/store.ts";
import { Guard } from "./guard.ts";

const utf8 = new TextEncoder();
const KEYS = { send: "c2VydmVyLXRvLXBlZXI", receive: "cGVlci10by1zZXJ2ZXI" };
const at = (port: number) => ({ hostname: "127.0.0.1", port });

async function serverGuard(
  options: { ratePerSecond: number; signaturesPerSecond?: number; validateAddresses?: boolean },
) {
  const { identity } = await createIdentity();
  // The cookie exchange has a test of its own; the others start past it.
  return new Guard(identity, { validateAddresses: false, ...options });
}

/** A real peer guard for alice, and a signed REGISTER text of hers for each RQ# asked. */
async function alice(): Promise<
  AsyncDisposable & { register: (rq: string, cookie?: string) => Promise<string> }
> {
  const dir = await Deno.makeTempDir({ prefix: "shop-guard-limits-" });
  const store = await PeerStore.open(dir, "alice");
  const guard = await PeerGuard.open(store, { name: "alice", server: at(5000), ips: [] });
  return {
    register: (rq, cookie) => {
      const message: Message = {
        type: "REGISTER",
        rq,
        name: "alice",
        ip: "127.0.0.1",
        udpPort: 6000,
        tcpPort: 6001,
        extensions: ["from", "ack", "no-offer", "auth", ...(cookie ? [`cookie=${cookie}`] : [])],
      };
      return guard.outgoing(message);
    },
    async [Symbol.asyncDispose]() {
      await store[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("three sockets of one host share one host's flood budget", async () => {
  const guard = await serverGuard({ ratePerSecond: 100 });
  const now = Date.now();
  let admitted = 0;
  for (let i = 0; i < 300; i++) {
    for (const port of [7001, 7002, 7003]) {
      const admission = await guard.admit(utf8.encode(`LOOKING_FOR l${i} x Lamp 5`), at(port), now);
      if (admission.kind !== "dropped") admitted++;
    }
  }
  // A burst is twice the rate: 200 for the host, not 200 per socket.
  assert.equal(admitted, 200);
  const other = await guard.admit(
    utf8.encode("LOOKING_FOR l1 y Lamp 5"),
    { hostname: "127.0.0.2", port: 7001 },
    now,
  );
  assert.notEqual(other.kind, "dropped", "another host has its own budget");
});

Deno.test("a peer with a session has its own budget, untouched by strangers on its host", async () => {
  const guard = await serverGuard({ ratePerSecond: 100 });
  const now = Date.now();
  guard.update("alice", {
    name: "alice",
    ip: "127.0.0.1",
    udpPort: 7100,
    tcpPort: 7101,
    source: at(7100),
    registeredAt: now,
    extensions: ["auth"],
    auth: { key: "K", ca: "C", keys: KEYS },
  }, now);
  for (let i = 0; i < 500; i++) {
    await guard.admit(utf8.encode(`LOOKING_FOR l${i} x Lamp 5`), at(7200 + (i % 5)), now);
  }
  const peer = new Channel({ send: KEYS.receive, receive: KEYS.send });
  const admission = await guard.admit(
    utf8.encode(peer.seal("LOOKING_FOR a1 alice Lamp 5")),
    at(7100),
    now,
  );
  assert.equal(admission.kind, "message");
  assert.ok(admission.kind === "message" && admission.authenticated === "alice");
});

Deno.test("signature checks are limited per host before they are done", async () => {
  const guard = await serverGuard({ ratePerSecond: 10_000, signaturesPerSecond: 5 });
  await using peer = await alice();
  const now = Date.now();
  const whys = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    const text = await peer.register(`alice-${i}`);
    const admission = await guard.admit(utf8.encode(text), at(7001 + (i % 4)), now);
    const why = admission.kind === "dropped" ? admission.why : admission.kind;
    whys.set(why, (whys.get(why) ?? 0) + 1);
  }
  // Twice the rate in a burst for the host, whichever of its 4 sockets sent.
  assert.equal(whys.get("message"), 10);
  assert.equal(whys.get("over the signature-check limit"), 30);
});

Deno.test("a captured signed REGISTER replayed from another socket is refused once it was answered", async () => {
  const guard = await serverGuard({ ratePerSecond: 1000 });
  await using peer = await alice();
  const now = Date.now();
  const text = await peer.register("alice-1");
  const first = await guard.admit(utf8.encode(text), at(7001), now);
  assert.equal(first.kind, "message");
  await guard.sealNow(at(7001), { type: "REGISTERED", rq: "alice-1" }, "REGISTERED alice-1");
  // Her own retransmission, while its exchange is pending, still opens.
  const again = await guard.admit(utf8.encode(text), at(7001), now + 500);
  assert.equal(again.kind, "message");
  const replay = await guard.admit(utf8.encode(text), at(7999), now + 20_000);
  assert.equal(replay.kind, "invalid");
  assert.match(
    replay.kind === "invalid" ? replay.error.message : "",
    /not newer than the last one accepted/,
  );
  // A newer registration of hers is taken.
  const newer = await guard.admit(utf8.encode(await peer.register("alice-2")), at(7001), now);
  assert.equal(newer.kind, "message");
});

Deno.test("a signed REGISTER without its address's cookie gets a small RETRY and leaves no state", async () => {
  const guard = await serverGuard({ ratePerSecond: 1000, validateAddresses: true });
  await using peer = await alice();
  const now = Date.now();
  const text = await peer.register("alice-1");
  const first = await guard.admit(utf8.encode(text), at(7001), now);
  assert.equal(first.kind, "challenge");
  const retry = first.kind === "challenge" ? first.text : "";
  assert.match(retry, /^RETRY alice-1 [0-9a-z]+[A-Za-z0-9_-]{22}$/);
  assert.ok(retry.length * 3 <= text.length, `${retry.length} bytes for ${text.length}`);
  const cookie = retry.split(" ")[2]!;

  // The cookie signed in, from the address it was given to: admitted.
  const signed = await peer.register("alice-2", cookie);
  const admitted = await guard.admit(utf8.encode(signed), at(7001), now);
  assert.equal(admitted.kind, "message");
  // The same REGISTER from any other address is only asked for a cookie again.
  const elsewhere = await guard.admit(utf8.encode(signed), at(7999), now);
  assert.equal(elsewhere.kind, "challenge");
  // So is a cookie that came from an earlier epoch than the one before.
  const late = await guard.admit(utf8.encode(signed), at(7001), now + 90_000);
  assert.equal(late.kind, "challenge");
});

Deno.test("the sessions of one host share a few sessions' budgets, however many it registers", async () => {
  const guard = await serverGuard({ ratePerSecond: 100 });
  const now = Date.now();
  const peers = Array.from({ length: 20 }, (_, i) => {
    const port = 7300 + i;
    guard.update(`p${i}`, {
      name: `p${i}`,
      ip: "127.0.0.1",
      udpPort: port,
      tcpPort: port + 1000,
      source: at(port),
      registeredAt: now,
      extensions: ["auth"],
      auth: { key: `K${i}`, ca: "C", keys: KEYS },
    }, now);
    return { port, channel: new Channel({ send: KEYS.receive, receive: KEYS.send }) };
  });
  let admitted = 0;
  for (let round = 0; round < 300; round++) {
    for (const peer of peers) {
      const text = peer.channel.seal(`LOOKING_FOR l${round} x Lamp 5`);
      if ((await guard.admit(utf8.encode(text), at(peer.port), now)).kind !== "dropped") admitted++;
    }
  }
  // 20 sessions × a burst of 200 would be 4,000; the host's sessions share 8 × 200.
  assert.equal(admitted, 8 * 200);
});
