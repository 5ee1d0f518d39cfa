/** The peer's TCP port: connections that misbehave, how many at once, which come from the server. */
import assert from "node:assert/strict";
import { isServerIp, MAX_TCP_CONNECTIONS } from "./peer.ts";
import { PAYMENT } from "./_agent_harness.ts";
import { Fixture, readToClose, write } from "./_peer_harness.ts";

Deno.test("TCP connections that misbehave are closed and the peer goes on", async (t) => {
  await using fixture = await Fixture.start({ payment: PAYMENT, tcpTimeoutMs: 300 });
  await fixture.register("unsigned");

  await t.step("garbage is logged and the connection closed", async () => {
    using conn = await fixture.connect();
    await write(conn, "HELLO there\n");
    await readToClose(conn);
    const warning = await fixture.waitFor("warning", (o) => /HELLO/.test(o.text));
    assert.match(warning.text, /Closed a TCP connection from the server: Unknown message type/);
  });

  await t.step("a silent connection is closed after the read timeout", async () => {
    using conn = await fixture.connect();
    const started = Date.now();
    assert.equal(await readToClose(conn), "");
    assert.ok(Date.now() - started >= 250, "closed before the timeout");
  });

  await t.step(
    `idle connections past ${MAX_TCP_CONNECTIONS} are held pending, not refused`,
    async () => {
      // Only authenticated connections take one of the slots (issue 12): idle
      // ones wait, so they cannot shut the server's own out
      // (tcp_server_test.ts checks the slots themselves).
      await using slow = await Fixture.start({ payment: PAYMENT });
      const conns = [];
      try {
        for (let i = 0; i < MAX_TCP_CONNECTIONS; i++) conns.push(await slow.connect());
        using extra = await slow.connect();
        const closed = readToClose(extra).then(() => "closed");
        const held = new Promise((resolve) => setTimeout(() => resolve("held"), 300));
        assert.equal(await Promise.race([closed, held]), "held");
      } finally {
        for (const conn of conns) conn.close();
      }
    },
  );

  await t.step("the peer still answers commands", async () => {
    fixture.input.type("status");
    const status = await fixture.waitFor("status");
    assert.equal(status.fields?.registered, true);
  });
});

Deno.test("isServerIp tells the server's connections from others", () => {
  assert.equal(isServerIp("10.0.0.5", "10.0.0.5"), true);
  assert.equal(isServerIp("::ffff:10.0.0.5", "10.0.0.5"), true);
  assert.equal(isServerIp("127.0.0.1", "localhost"), true);
  assert.equal(isServerIp("::1", "127.0.0.1"), true);
  assert.equal(isServerIp("10.0.0.6", "10.0.0.5"), false);
  assert.equal(isServerIp("10.0.0.6", "127.0.0.1"), false);
  assert.equal(isServerIp("127.0.0.1", "10.0.0.5"), false);
  assert.equal(isServerIp("10.0.0.6", "[fe80::1]"), false);
  assert.equal(isServerIp("10.0.0.6", "shop.example"), undefined);
});
