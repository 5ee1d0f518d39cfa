import assert from "node:assert/strict";
import { HEARD_CAP, Traffic } from "./traffic.ts";

Deno.test("traffic counts datagrams and remembers when each address was last heard", () => {
  const traffic = new Traffic();
  traffic.datagram();
  traffic.datagram();
  traffic.heard({ hostname: "127.0.0.1", port: 7000 }, 10);
  traffic.heard({ hostname: "127.0.0.1", port: 7000 }, 20);
  assert.equal(traffic.datagrams, 2);
  assert.equal(traffic.lastHeard({ hostname: "127.0.0.1", port: 7000 }), 20);
  assert.equal(traffic.lastHeard({ hostname: "127.0.0.1", port: 7001 }), undefined);
});

Deno.test("traffic forgets the least recently heard address past its cap", () => {
  const traffic = new Traffic();
  traffic.heard({ hostname: "10.0.0.1", port: 1 }, 1);
  for (let port = 2; port <= HEARD_CAP; port++) traffic.heard({ hostname: "10.0.0.2", port }, 2);
  // Heard again: moved to the end, so it outlives the others.
  traffic.heard({ hostname: "10.0.0.1", port: 1 }, 3);
  traffic.heard({ hostname: "10.0.0.3", port: 1 }, 4);
  assert.equal(traffic.lastHeard({ hostname: "10.0.0.1", port: 1 }), 3);
  assert.equal(traffic.lastHeard({ hostname: "10.0.0.2", port: 2 }), undefined);
});
