import assert from "node:assert/strict";
import type { RegisteredPeer } from "./records.ts";
import { addressOf, isFrom, Registry } from "./registry.ts";

function peer(name: string, port: number, extensions?: string[]): RegisteredPeer {
  return {
    name,
    ip: "127.0.0.1",
    udpPort: port,
    tcpPort: port + 1,
    source: { hostname: "127.0.0.1", port: port + 100 },
    registeredAt: 0,
    ...(extensions ? { extensions } : {}),
  };
}

Deno.test("registry finds a peer by name and by both of its addresses", () => {
  const registry = new Registry();
  registry.add(peer("alice", 6000));
  assert.equal(registry.size, 1);
  assert.equal(registry.get("alice")?.udpPort, 6000);
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 6100 }), "alice");
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 6000 }), "alice");
  assert.equal(registry.nameAt({ hostname: "10.0.0.1", port: 6000 }), undefined);
  assert.ok(registry.knows({ hostname: "127.0.0.1", port: 6100 }));
  assert.deepEqual([...registry.values()].map((p) => p.name), ["alice"]);
});

Deno.test("registry never lets an announced port take another peer's address", () => {
  const registry = new Registry();
  const old = peer("alice", 6000);
  registry.add(old);
  // bob announces the port alice registered from: it proves nothing.
  registry.add({ ...peer("bob", 7000), udpPort: 6100 });
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 6100 }), "alice");
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 7100 }), "bob");
  // Our peers are found only where their datagrams come from.
  registry.add(peer("carol", 8000, ["from"]));
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 8100 }), "carol");
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 8000 }), undefined);
  registry.remove(old);
  assert.equal(registry.get("alice"), undefined);
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 6100 }), undefined);
  assert.equal(registry.nameAt({ hostname: "127.0.0.1", port: 7100 }), "bob");
});

Deno.test("registry counts names per host (classic ones apart) and per key", () => {
  const registry = new Registry();
  registry.add(peer("c1", 6000));
  registry.add({ ...peer("s1", 6200, ["auth"]), auth: { key: "k", ca: "c", keys: {} as never } });
  assert.deepEqual(registry.namesAt("127.0.0.1"), { all: 2, classic: 1 });
  assert.equal(registry.namesOfKey("k"), 1);
  registry.remove(registry.get("c1")!);
  registry.remove(registry.get("s1")!);
  assert.deepEqual(registry.namesAt("127.0.0.1"), { all: 0, classic: 0 });
  assert.equal(registry.namesOfKey("k"), 0);
});

Deno.test("registry knows which extensions each peer speaks, none for classic peers", () => {
  const registry = new Registry();
  registry.add(peer("ours", 6000, ["from", "ack"]));
  registry.add(peer("also", 6200, ["from", "ack"]));
  registry.add(peer("classic", 6400));
  assert.ok(registry.speaks("ours", "ack"));
  assert.ok(!registry.speaks("ours", "no-offer"));
  assert.ok(!registry.speaks("classic", "ack"));
  assert.ok(!registry.speaks("stranger", "ack"));
  assert.equal(registry.extensions("classic").size, 0);
  // Peers that agreed the same words share one set.
  assert.equal(registry.extensions("ours"), registry.extensions("also"));
  registry.remove(registry.get("ours")!);
  assert.ok(!registry.speaks("ours", "ack"));
});

Deno.test("our peers are sent datagrams at their source, classic ones at their announced port", () => {
  assert.deepEqual(addressOf(peer("ours", 6000, [])), { hostname: "127.0.0.1", port: 6100 });
  assert.deepEqual(addressOf(peer("classic", 6000)), { hostname: "127.0.0.1", port: 6000 });
});

Deno.test("a datagram is from a classic peer by address, from an authenticated one by its session", () => {
  const classic = peer("classic", 6000);
  assert.ok(isFrom(classic, { hostname: "127.0.0.1", port: 6000 }, undefined));
  assert.ok(isFrom(classic, { hostname: "127.0.0.1", port: 6100 }, undefined));
  assert.ok(!isFrom(classic, { hostname: "127.0.0.1", port: 6001 }, undefined));
  const keyed = {
    ...peer("keyed", 6000, ["auth"]),
    auth: { key: "k", ca: "c", keys: {} as never },
  };
  assert.ok(!isFrom(keyed, { hostname: "127.0.0.1", port: 6100 }, undefined));
  assert.ok(isFrom(keyed, { hostname: "10.1.1.1", port: 1 }, "keyed"));
  assert.ok(!isFrom(keyed, { hostname: "127.0.0.1", port: 6100 }, "other"));
});

Deno.test("a classic peer is taken at any free port of its IP, never at another peer's address", () => {
  const registry = new Registry();
  registry.add(peer("carl", 6000));
  registry.add(peer("dora", 6300));
  registry.add(peer("ours", 6600, ["from"]));
  const carl = registry.get("carl")!, ours = registry.get("ours")!;
  assert.ok(registry.sentBy(carl, { hostname: "127.0.0.1", port: 41234 }, undefined));
  assert.ok(!registry.sentBy(carl, { hostname: "127.0.0.1", port: 6400 }, undefined), "dora's");
  assert.ok(!registry.sentBy(carl, { hostname: "127.0.0.2", port: 41234 }, undefined));
  assert.ok(!registry.sentBy(ours, { hostname: "127.0.0.1", port: 41234 }, undefined));
});
