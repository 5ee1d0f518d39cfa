/** The peer's UDP link: what it prints when the server cannot be reached. */
import assert from "node:assert/strict";
import type { Output } from "./agent.ts";
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
