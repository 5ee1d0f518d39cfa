/** The peer with our secure server: signed registration, sealed datagrams, the TLS transaction port. */
import assert from "node:assert/strict";
import { authorityPem } from "../security/certificates.ts";
import { createIdentity } from "../security/identity.ts";
import { UNAUTHENTICATED_REASON } from "./agent.ts";
import { CARD, EXPIRY, PAYMENT } from "./_agent_harness.ts";
import {
  allFileText,
  Fixture,
  readChunk,
  readToClose,
  type Received,
  sealedLine,
  utf8,
  write,
} from "./_peer_harness.ts";

Deno.test("with our secure server: signed registration, sealed datagrams, TLS transaction", async (t) => {
  const { identity: serverId } = await createIdentity();
  await using fixture = await Fixture.start({ payment: PAYMENT });
  const { server } = fixture;
  let register!: Received<"REGISTER">;

  await t.step(
    "REGISTER offers auth and is signed; the signed REGISTERED authenticates",
    async () => {
      fixture.input.type("register");
      register = await server.expect("REGISTER");
      assert.deepEqual(
        register.message.extensions?.filter((word) => !word.includes("=")),
        ["from", "ack", "no-offer", "book", "auth"],
      );
      assert.ok(utf8.encode(register.text).length <= 1200, "the REGISTER fits a datagram");
      assert.equal(server.proof, undefined);
      await server.acceptSigned(register, serverId);
      assert.equal(server.proof!.key, fixture.peer.key.key);
      const registered = await fixture.waitFor("REGISTERED");
      assert.equal(registered.fields?.authenticated, true);
      assert.equal(fixture.peer.agent.authenticated, true);
      assert.equal(
        fixture.peer.tls,
        true,
        `the TCP port serves TLS: ${JSON.stringify(fixture.outputs)}`,
      );
    },
  );

  await t.step("status shows the keys and the authenticated session", async () => {
    fixture.input.type("status");
    const status = await fixture.waitFor("status");
    assert.equal(status.fields?.keyFingerprint, fixture.peer.key.fingerprint);
    assert.equal(typeof status.fields?.serverKeyFingerprint, "string");
    assert.equal(status.fields?.authenticated, true);
    fixture.input.type("key");
    assert.equal((await fixture.waitFor("key")).fields?.key, fixture.peer.key.key);
  });

  await t.step("a sealed SEARCH is acknowledged and answered with a sealed OFFER", async () => {
    fixture.input.type("sell Laptop 500");
    await fixture.waitFor("sell");
    await server.sendSealed("SEARCH S1 Laptop fast", fixture.peerUdp);
    const ack = await server.expect("ACK");
    assert.deepEqual(ack.message, { type: "ACK", rq: "S1", of: "SEARCH" });
    assert.ok(ack.sealed);
    const offer = await server.expect("OFFER");
    assert.ok(offer.sealed, "the OFFER carries the session's MAC");
    assert.equal(offer.message.price, 500);
    await server.sendSealed("ACK S1 OFFER", fixture.peerUdp);
  });

  await t.step("an unsealed or forged datagram from the server's address is ignored", async () => {
    await server.send("SEARCH S2 Laptop", fixture.peerUdp);
    // The body changed under a valid tag.
    const forged = server.channel!.seal("SEARCH S3 Laptop").replace("S3 Laptop", "S3 LAPTOP");
    await server.send(forged, fixture.peerUdp);
    // A replay of a datagram that was accepted is ignored too.
    const sealed = server.channel!.seal("SEARCH S4 Laptop");
    await server.send(sealed, fixture.peerUdp);
    const offered: string[] = [];
    const note = (r: Received<"OFFER">) => offered.push(r.message.rq) > 0;
    const answered = await server.expect("OFFER", (r) => note(r) && r.message.rq === "S4");
    assert.ok(answered.sealed);
    await server.sendSealed("ACK S4 OFFER", fixture.peerUdp);
    // Retransmissions sent before the ACK came are read too.
    while (await server.expect("OFFER", note, 150).then(() => true, () => false));
    assert.deepEqual(
      offered.filter((rq) => rq === "S2" || rq === "S3"),
      [],
      "no OFFER to S2 or S3",
    );
    await server.send(sealed, fixture.peerUdp);
    assert.equal(
      await server.gets("OFFER", 400),
      false,
      "no OFFER for the replayed SEARCH",
    );
    assert.equal(fixture.outputs.filter((o) => o.event === "OFFER").length, 2);
  });

  await t.step(
    "LOOKING_FOR is sent again with the same RQ# and a new MAC until its ACK",
    async () => {
      fixture.input.type("buy Phone 100");
      const first = await server.expect("LOOKING_FOR");
      const again = await server.expect("LOOKING_FOR");
      assert.equal(again.message.rq, first.message.rq);
      assert.notEqual(again.text, first.text);
      assert.ok(first.sealed && again.sealed);
      await server.sendSealed(`ACK ${first.message.rq} LOOKING_FOR`, fixture.peerUdp);
      await server.sendSealed(`FOUND ${first.message.rq} Phone 90 from carol`, fixture.peerUdp);
      await server.expect("BUY");
    },
  );

  await t.step("over TLS, INFORM_Req without a valid MAC gets CANCEL, not card data", async () => {
    const conn = await fixture.connectTls();
    await write(conn, "INFORM_Req T1 Phone 90\n");
    assert.equal(await readToClose(conn), `CANCEL T1 ${UNAUTHENTICATED_REASON}\n`);
    const forged = await fixture.connectTls();
    await write(forged, sealedLine(server, "INFORM_Req T1 Phone 90").replace("90 mac", "1 mac"));
    assert.equal(await readToClose(forged), `CANCEL T1 ${UNAUTHENTICATED_REASON}\n`);
    assert.ok(!JSON.stringify(fixture.outputs).includes(CARD));
  });

  await t.step(
    "TLS messages overtaken by later datagrams still open; a datagram replayed on TCP does not",
    async () => {
      const early = sealedLine(server, "INFORM_Req T8 Nothing 1");
      await new Promise((resolve) => setTimeout(resolve, 5));
      const datagram = server.channel!.seal("SEARCH S5 Laptop");
      await server.send(datagram, fixture.peerUdp);
      await server.expect("OFFER", (r) => r.message.rq === "S5");
      await server.sendSealed("ACK S5 OFFER", fixture.peerUdp);
      const conn = await fixture.connectTls();
      await write(conn, early);
      assert.equal(await readToClose(conn), "CANCEL T8 no purchase or sale of Nothing here\n");
      const replay = await fixture.connectTls();
      await write(replay, `${datagram}\n`);
      assert.equal(await readToClose(replay), `CANCEL S5 ${UNAUTHENTICATED_REASON}\n`);
    },
  );

  await t.step(
    "INFORM_Req with the server's MAC gets the details; the receipt completes",
    async () => {
      const conn = await fixture.connectTls();
      await write(conn, sealedLine(server, "INFORM_Req T2 Phone 90"));
      assert.equal(await readChunk(conn), `INFORM_Res T2 alice ${CARD} ${EXPIRY} 42 Main St\n`);
      await write(conn, sealedLine(server, "Shipping_Info T2 alice 42 Main St"));
      assert.equal(await readToClose(conn), "ACK T2 Shipping_Info\n");
      const bought = await fixture.waitFor("Shipping_Info", (o) => o.fields?.role === "buyer");
      assert.equal(bought.text, "Bought Phone from carol for 90.00; it ships to 42 Main St");
    },
  );

  await t.step("a reserved item is sold over TLS", async () => {
    await server.sendSealed("RESERVE S1 Laptop 500", fixture.peerUdp);
    await fixture.waitFor("RESERVE");
    const conn = await fixture.connectTls();
    await write(conn, sealedLine(server, "INFORM_Req T3 Laptop 500"));
    assert.equal(await readChunk(conn), `INFORM_Res T3 alice ${CARD} ${EXPIRY} 42 Main St\n`);
    await write(conn, sealedLine(server, "Shipping_Info T3 bob 7 Elm Road"));
    assert.equal(await readToClose(conn), "ACK T3 Shipping_Info\n");
    const sold = await fixture.waitFor("Shipping_Info", (o) => o.fields?.role === "seller");
    assert.match(sold.text, /^Sold Laptop to bob for 500/);
  });

  await t.step(
    "a receipt written just before the server closes still completes the purchase",
    async () => {
      // The peer is busy with input while the receipt and the close arrive.
      for (let i = 0; i < 20; i++) fixture.input.type(`sell Spare${i} 1`);
      fixture.input.type("buy Desk 100");
      const looking = await server.expect("LOOKING_FOR", (r) => r.message.item === "Desk");
      const { rq } = looking.message;
      await server.sendSealed(`ACK ${rq} LOOKING_FOR`, fixture.peerUdp);
      await server.sendSealed(`FOUND ${rq} Desk 80 from carol`, fixture.peerUdp);
      await server.expect("BUY", (r) => r.message.rq === rq);
      await server.sendSealed(`ACK ${rq} BUY`, fixture.peerUdp);
      const conn = await fixture.connectTls();
      await write(conn, sealedLine(server, "INFORM_Req T5 Desk 80"));
      assert.match(String(await readChunk(conn)), /^INFORM_Res T5 /);
      for (let i = 0; i < 20; i++) fixture.input.type(`sell Extra${i} 1`);
      await write(conn, sealedLine(server, "Shipping_Info T5 alice 42 Main St"));
      conn.close();
      await fixture.waitFor("Shipping_Info", (o) => o.fields?.rq === "T5");
      assert.equal(
        fixture.peer.agent.requests.find((r) => r.rq === rq)?.state,
        "bought",
      );
    },
  );

  await t.step("a plain TCP client gets no message from the TLS port", async () => {
    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T4 Laptop 500\n");
    const got = await readToClose(conn).catch(() => "");
    assert.ok(!got.includes(CARD) && !got.startsWith("INFORM_Res"));
  });

  await t.step("a TLS client pinning another authority fails the handshake", async () => {
    const { identity: stranger } = await createIdentity();
    const { peerCertificates } = await import("../security/certificates.ts");
    const other = await peerCertificates(stranger, "mallory", ["127.0.0.1"]);
    await assert.rejects(async () => {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: fixture.peer.ports.tcp,
        caCerts: [authorityPem(other.caText)],
      });
      try {
        await conn.handshake();
      } finally {
        conn.close();
      }
    });
  });

  await t.step("neither output nor the data directory holds the card or expiry", async () => {
    const all = JSON.stringify(fixture.outputs);
    assert.ok(!all.includes(CARD) && !all.includes(EXPIRY));
    const files = await allFileText(fixture.dir);
    assert.ok(!files.includes(CARD) && !files.includes(EXPIRY));
  });
});
