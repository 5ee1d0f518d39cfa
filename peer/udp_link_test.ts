/** The peer's UDP link: what it prints when the server cannot be reached. */
import assert from "node:assert/strict";
import type { Output, PeerEvent } from "./agent.ts";
import { PeerGuard } from "./guard.ts";
import { PeerStore } from "./store.ts";
import { UdpLink } from "./udp_link.ts";
import { systemClock } from "../shell/clock.ts";

Deno.test("a server whose host does not resolve is reported once, not on every retry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shop-udp-link-test-" });
  try {
    // `.invalid` never resolves (RFC 2606): no query leaves this machine.
    const server = { hostname: "nosuch.invalid", port: 5000 };
    await using store = await PeerStore.open(dir, "alice");
    const guard = await PeerGuard.open(store, { name: "alice", server, ips: ["127.0.0.1"] });
    const printed: Output[] = [];
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await using link = new UdpLink(socket, {
      server,
      guard,
      clock: systemClock,
      isServer: () => false,
      awaits: () => false,
      deliver: () => {},
      print: (output) => printed.push(output),
    });
    for (let i = 0; i < 3; i++) {
      await link.send({ type: "DE-REGISTER", rq: `alice-${i}`, name: "alice" });
    }
    assert.equal(printed.length, 1, printed.map((output) => output.text).join("\n"));
    assert.match(printed[0]!.text, /^Error: cannot reach the server at nosuch\.invalid:5000/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a datagram of an unknown type from the server reaches the agent with its text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shop-udp-link-test-" });
  try {
    const server = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const address = { hostname: "127.0.0.1", port: (server.addr as Deno.NetAddr).port };
    await using store = await PeerStore.open(dir, "alice");
    const guard = await PeerGuard.open(store, {
      name: "alice",
      server: address,
      ips: ["127.0.0.1"],
    });
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const { promise, resolve } = Promise.withResolvers<PeerEvent>();
    await using _link = new UdpLink(socket, {
      server: address,
      guard,
      clock: systemClock,
      isServer: (from) => from.port === address.port,
      awaits: () => false,
      deliver: resolve,
      print: () => {},
    });
    const text = "ERROR: could not convert string to float: 'x'";
    await server.send(new TextEncoder().encode(text), socket.addr);
    const event = await promise;
    assert.equal(event.kind, "invalid");
    assert.equal(event.kind === "invalid" && event.text, text);
    server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
