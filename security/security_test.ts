import assert from "node:assert/strict";
import { authorityPem, peerCertificates } from "./certificates.ts";
import { Channel, deriveSession, ephemeral } from "./channel.ts";
import { splitSigned, verifyRegistration } from "./handshake.ts";
import { createIdentity, sign } from "./identity.ts";

Deno.test("both sides of a key exchange derive matching directional keys", async () => {
  const [peer, server] = await Promise.all([ephemeral(), ephemeral()]);
  const peerKeys = await deriveSession(peer, server.publicText, "r1 5", "peer");
  const serverKeys = await deriveSession(server, peer.publicText, "r1 5", "server");
  assert.equal(peerKeys.send, serverKeys.receive);
  assert.equal(peerKeys.receive, serverKeys.send);
  assert.notEqual(peerKeys.send, peerKeys.receive);
  const other = await deriveSession(peer, server.publicText, "r2 5", "peer");
  assert.notEqual(other.send, peerKeys.send, "another registration gets other keys");
});

Deno.test("a channel accepts sealed messages once, in any order, and rejects forgeries", async () => {
  const [a, b] = await Promise.all([ephemeral(), ephemeral()]);
  let clock = 1_000;
  const peer = new Channel(await deriveSession(a, b.publicText, "s", "peer"), () => clock);
  const server = new Channel(await deriveSession(b, a.publicText, "s", "server"), () => clock);
  const first = peer.seal("OFFER s1 bob Lamp 25");
  const second = peer.seal("OFFER s2 bob Lamp 25");
  assert.deepEqual(server.open(second), { ok: true, text: "OFFER s2 bob Lamp 25" });
  assert.deepEqual(
    server.open(first),
    { ok: true, text: "OFFER s1 bob Lamp 25" },
    "reordered is fine",
  );
  assert.deepEqual(server.open(first), { ok: false, why: "replayed" });
  assert.deepEqual(server.open(first.replace("25", "1")), { ok: false, why: "bad mac" });
  assert.deepEqual(server.open("OFFER s1 bob Lamp 25"), { ok: false, why: "no mac" });
  assert.deepEqual(peer.open(server.seal("ACK s1 OFFER")).ok, true);
  // A message sealed for the other direction does not open here.
  assert.deepEqual(peer.open(peer.seal("x")), { ok: false, why: "bad mac" });
  // Sequence numbers follow the clock, so a restarted sender still moves forward.
  clock = 2_000;
  const restarted = new Channel(await deriveSession(a, b.publicText, "s", "peer"), () => clock);
  assert.equal(server.open(restarted.seal("BUY 1 Lamp 25")).ok, true);
});

Deno.test("a signed registration verifies; a changed or stale one does not", async () => {
  const { identity } = await createIdentity();
  const dh = await ephemeral();
  const now = Date.now();
  const body =
    `REGISTER r1 alice 127.0.0.1 5001 5002 shop/1 auth key=${identity.publicText} dh=${dh.publicText} ca=AAAA ts=${now}`;
  const text = `${body} sig=${await sign(identity, body)}`;
  assert.deepEqual(splitSigned(text)?.body, body);
  const ok = await verifyRegistration(text, now);
  assert.ok(ok.ok);
  assert.equal(ok.proof.key, identity.publicText);
  assert.equal((await verifyRegistration(text.replace("5001", "5009"), now)).ok, false);
  const stale = await verifyRegistration(text, now + 10 * 60_000);
  assert.deepEqual(stale, {
    ok: false,
    why: "the registration's clock is more than 5 minutes off",
  });
  const { identity: other } = await createIdentity();
  const forged = `${body.replace(identity.publicText, other.publicText)} sig=${await sign(
    identity,
    body,
  )}`;
  assert.equal((await verifyRegistration(forged, now)).ok, false);
});

Deno.test("a TLS listener with the peer's chain is accepted only against its pinned authority", async () => {
  const { identity } = await createIdentity();
  const certs = await peerCertificates(identity, "alice", ["127.0.0.1"]);
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.chainPem,
    key: certs.keyPem,
  });
  const served = (async () => {
    for await (const conn of listener) {
      try {
        const buffer = new Uint8Array(16);
        const n = await conn.read(buffer);
        if (n) await conn.write(buffer.subarray(0, n));
      } catch {
        // The client gave up during the handshake.
      } finally {
        conn.close();
      }
    }
  })();
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: listener.addr.port,
    caCerts: [authorityPem(certs.caText)],
  });
  await conn.write(new TextEncoder().encode("ping"));
  const buffer = new Uint8Array(16);
  assert.equal(new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer))!)), "ping");
  conn.close();
  const { identity: stranger } = await createIdentity();
  const wrong = await peerCertificates(stranger, "mallory", ["127.0.0.1"]);
  await assert.rejects(async () => {
    const bad = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      caCerts: [authorityPem(wrong.caText)],
    });
    try {
      await bad.handshake();
    } finally {
      bad.close();
    }
  }, /certificate|UnknownIssuer/i);
  listener.close();
  await served;
});

Deno.test("a channel accepts datagrams delayed behind later ones, and still no replays", async () => {
  const [a, b] = await Promise.all([ephemeral(), ephemeral()]);
  let clock = 1_000;
  const peer = new Channel(await deriveSession(a, b.publicText, "s", "peer"), () => clock);
  const server = new Channel(await deriveSession(b, a.publicText, "s", "server"), () => clock);
  const early = peer.seal("OFFER s1 bob Lamp 25");
  clock += 2_000; // two seconds later
  const late = peer.seal("OFFER s2 bob Lamp 25");
  assert.equal(server.open(late).ok, true);
  assert.equal(server.open(early).ok, true, "two seconds of reordering is fine");
  assert.deepEqual(server.open(early), { ok: false, why: "replayed" });
  // Thousands of datagrams later the early one is still refused.
  for (let i = 0; i < 20_000; i++) {
    assert.equal(server.open(peer.seal(`ACK s${i} SEARCH`)).ok, true);
  }
  assert.deepEqual(server.open(early), { ok: false, why: "replayed" });
  assert.deepEqual(server.open(late), { ok: false, why: "replayed" });
});

Deno.test("a channel given the highest number accepted before a restart refuses everything up to it", () => {
  const keys = { send: "c2VydmVyLXRvLXBlZXI", receive: "cGVlci10by1zZXJ2ZXI" };
  let now = 1_700_000_000_000;
  const peer = new Channel({ send: keys.receive, receive: keys.send }, () => now);
  const before = new Channel(keys);
  const old = peer.seal("LOOKING_FOR l1 alice Lamp 5");
  now += 1000;
  const last = peer.seal("LOOKING_FOR l2 alice Lamp 5");
  assert.equal(before.open(old).ok, true);
  assert.equal(before.open(last).ok, true);
  const after = new Channel(keys, Date.now, { floor: before.highest });
  assert.deepEqual(after.open(old), { ok: false, why: "replayed" });
  assert.deepEqual(after.open(last), { ok: false, why: "replayed" });
  now += 1000;
  assert.equal(after.open(peer.seal("LOOKING_FOR l3 alice Lamp 5")).ok, true);
});
