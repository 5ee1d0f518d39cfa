/** The peer with a classic server: plain TCP only with --allow-plaintext, bare messages, the close as receipt. */
import assert from "node:assert/strict";
import { PLAINTEXT_REASON } from "./agent.ts";
import { CARD, EXPIRY, PAYMENT } from "./_agent_harness.ts";
import { allFileText, Fixture, readChunk, readToClose, write } from "./_peer_harness.ts";

Deno.test("with a classic server and no --allow-plaintext the peer declines to send card data", async () => {
  await using fixture = await Fixture.start({ payment: PAYMENT });
  await fixture.register("classic");
  await fixture.buyFromClassic("Phone", 100, 90);
  using conn = await fixture.connect();
  await write(conn, "INFORM_Req T7 Phone 90");
  assert.equal(await readToClose(conn), `CANCEL T7 ${PLAINTEXT_REASON}`);
  const refused = await fixture.waitFor("plaintext-refused");
  assert.match(refused.text, /--allow-plaintext/);
  assert.ok(!JSON.stringify(fixture.outputs).includes(CARD));
  assert.equal(fixture.peer.agent.requests[0]?.state, "cancelled");
});

Deno.test("with a classic server and --allow-plaintext: bare messages, and the close completes a purchase", async (t) => {
  await using fixture = await Fixture.start({ allowPlaintext: true });
  await fixture.register("classic");

  await t.step("details typed on input answer INFORM_Req, without a newline", async () => {
    await fixture.buyFromClassic("Phone", 100, 90);

    using conn = await fixture.connect();
    // A classic server writes without a newline.
    await write(conn, "INFORM_Req T7 Phone 90");
    const card = await fixture.waitFor("prompt", (o) => o.fields?.about === "CARD");
    assert.equal(card.text, "Card number for buyer of Phone (90.00):");
    assert.deepEqual(fixture.secrets, [true]);
    fixture.input.type("4111-1111-1111-1111");
    await fixture.waitFor("prompt", (o) => o.fields?.about === "EXPIRY");
    fixture.input.type(EXPIRY);
    await fixture.waitFor("prompt", (o) => o.fields?.about === "ADDRESS");
    assert.deepEqual(fixture.secrets, [true, false]);
    fixture.input.type("42 Main St");
    // One write, no newline: what a classic server's single recv expects.
    assert.equal(await readChunk(conn), `INFORM_Res T7 alice ${CARD} ${EXPIRY} 42 Main St`);
    conn.close();
    await fixture.waitFor("paid");
    assert.equal(fixture.peer.agent.requests[0]?.state, "buying", "not bought before confirmed");
    const bought = await fixture.waitFor("bought");
    assert.equal(bought.text, "Bought Phone for 90.00; it ships to 42 Main St");
    assert.equal(fixture.peer.agent.requests[0]?.state, "bought");
  });

  await t.step("a CANCEL releases a reserved item", async () => {
    fixture.input.type("sell Laptop 500");
    await fixture.waitFor("sell");
    await fixture.server.send("RESERVE S3 Laptop 500", fixture.peerUdp);
    await fixture.waitFor("RESERVE");
    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T8 Laptop 500");
    // Typed once, the details are used again without asking.
    assert.equal(await readChunk(conn), `INFORM_Res T8 alice ${CARD} ${EXPIRY} 42 Main St`);
    await write(conn, "CANCEL T8 the card was declined");
    assert.equal(await readToClose(conn), "");
    const cancel = await fixture.waitFor("CANCEL");
    assert.equal(cancel.text, "Sale of Laptop cancelled: the card was declined");
    assert.equal(fixture.peer.agent.items[0]?.reservedFor, undefined);
  });

  await t.step("neither output nor the data directory holds the card or expiry", async () => {
    const all = JSON.stringify(fixture.outputs);
    assert.ok(!all.includes(CARD) && !all.includes("4111-1111"));
    assert.ok(!all.includes(EXPIRY));
    const files = await allFileText(fixture.dir);
    // Stored text is findable in these files: the sold item is.
    assert.ok(files.includes("Laptop"));
    assert.ok(!files.includes(CARD));
    assert.ok(!files.includes(EXPIRY));
  });
});

Deno.test("INFORM_Req for nothing of this peer's is answered CANCEL and closed", async () => {
  await using fixture = await Fixture.start({ payment: PAYMENT, allowPlaintext: true });
  await fixture.register("classic");
  using conn = await fixture.connect();
  await write(conn, "INFORM_Req T1 Laptop 500");
  assert.equal(await readToClose(conn), "CANCEL T1 no purchase or sale of Laptop here");
});
