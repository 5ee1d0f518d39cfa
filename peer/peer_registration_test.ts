/** The peer registering: the server's key pinned, re-registration after a restart, no answer, de-registering. */
import assert from "node:assert/strict";
import { createIdentity } from "../security/identity.ts";
import { FakeServer, Fixture } from "./_peer_harness.ts";

Deno.test("a REGISTERED signed by another key than the expected one is refused", async (t) => {
  const [{ identity: real }, { identity: impostor }] = await Promise.all([
    createIdentity(),
    createIdentity(),
  ]);

  await t.step("the key given with --server-key", async () => {
    await using fixture = await Fixture.start({ serverKey: real.publicText });
    fixture.input.type("register");
    const register = await fixture.server.expect("REGISTER");
    await fixture.server.acceptSigned(register, impostor);
    const refused = await fixture.waitFor("refused");
    assert.match(
      refused.text,
      /^Registration refused: the server at .* signed with key .*--server-key/,
    );
    assert.equal(fixture.peer.agent.registered, false);
    assert.equal(fixture.peer.tls, false);
  });

  await t.step("the key pinned at the first registration, after a restart", async () => {
    const dir = await Deno.makeTempDir({ prefix: "shop-peer-test-" });
    using server = new FakeServer();
    try {
      {
        await using first = await Fixture.start({ dir, server });
        await first.registerSigned(real);
      }
      await using second = await Fixture.start({ dir, server });
      // Registered before, it registers again by itself, signed.
      const again = await server.expect("REGISTER");
      assert.ok(again.text.includes(" sig="));
      await server.acceptSigned(again, impostor);
      const refused = await second.waitFor("refused");
      assert.match(refused.text, /not the key pinned for it/);
      // Nothing from the impostor's session is acted on.
      await server.sendSealed("SEARCH S9 Lamp", second.peerUdp);
      assert.equal(await server.gets("NO_OFFER", 400), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("an unsigned REGISTERED from a server whose key is pinned", async () => {
    await using fixture = await Fixture.start({ serverKey: real.publicText });
    fixture.input.type("register");
    const register = await fixture.server.expect("REGISTER");
    await fixture.server.send(`REGISTERED ${register.message.rq} shop/1 from ack`, register.from);
    const refused = await fixture.waitFor("refused");
    assert.match(refused.text, /without its signature/);
    assert.equal(fixture.peer.agent.registered, false);
  });
});

Deno.test("a restarted peer re-registers with its key from a new port, and its search goes on", async () => {
  const { identity: serverId } = await createIdentity();
  const dir = await Deno.makeTempDir({ prefix: "shop-peer-test-" });
  using server = new FakeServer();
  try {
    let firstKey: string;
    let firstPort: number;
    let rq: string;
    {
      await using first = await Fixture.start({ dir, server });
      const register = await first.registerSigned(serverId);
      firstKey = server.proof!.key;
      firstPort = register.message.udpPort;
      first.input.type("buy Lamp 30");
      rq = (await server.expect("LOOKING_FOR")).message.rq;
      await server.sendSealed(`ACK ${rq} LOOKING_FOR`, first.peerUdp);
    }
    // Its old port is held by someone else now: it comes back on another.
    const squatter = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: firstPort,
    });
    try {
      await using second = await Fixture.start({ dir, server });
      const again = await server.expect("REGISTER");
      assert.notEqual(again.message.udpPort, firstPort);
      await server.acceptSigned(again, serverId);
      assert.equal(server.proof!.key, firstKey, "the same key, from the KV");
      const registered = await second.waitFor("REGISTERED");
      assert.equal(registered.fields?.again, true);
      // The search is sent again, sealed with the new session.
      const resent = await server.expect("LOOKING_FOR", (r) => r.message.rq === rq);
      assert.ok(resent.sealed);
      await server.sendSealed(`FOUND ${rq} Lamp 25 from bob`, second.peerUdp);
      await server.expect("BUY");
    } finally {
      squatter.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server that never answers: REGISTER is sent again, then a timeout line", async () => {
  await using fixture = await Fixture.start({
    retransmit: { initialRto: 50, maxAttempts: 3 },
  });
  fixture.input.type("register");
  const first = await fixture.server.expect("REGISTER");
  const again = await fixture.server.expect("REGISTER");
  assert.equal(again.text, first.text, "the same signed text, so the server keeps one exchange");
  const timeout = await fixture.waitFor("timeout");
  assert.match(timeout.text, /^Server not answering: REGISTER got no reply after 3 tries; /);
});

Deno.test("deregister when not registered is refused locally, nothing sent", async () => {
  await using fixture = await Fixture.start();
  fixture.input.type("deregister");
  const error = await fixture.waitFor("error");
  assert.equal(error.text, "Error: Not registered: nothing to de-register");
  assert.equal(await fixture.server.gets("DE-REGISTER", 300), false);
});
