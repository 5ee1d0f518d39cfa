/**
 * What the peer ends when it leaves the marketplace: the server ends every
 * flow of a peer that de-registers without telling it, so the agent must.
 */
import assert from "node:assert/strict";
import { Harness, only, printed, sent, T0 } from "./_agent_harness.ts";

const OURS = ["from", "ack", "no-offer"];

/** A peer registered with our server (ACKs both ways), selling a lamp and a book. */
function seller(): Harness {
  const peer = new Harness();
  peer.register("ours", OURS);
  peer.line("sell Lamp 20 a lamp");
  peer.line("sell Book 12 a book --floor 10");
  return peer;
}

function deregister(peer: Harness, at: number) {
  const request = only(sent(peer.line("deregister", at)));
  assert.equal(request.type, "DE-REGISTER");
  return peer.receive({ type: "DE-REGISTERED", rq: request.rq }, at + 10);
}

Deno.test("a peer that de-registers ends its open searches and releases its reserved items", async (t) => {
  const peer = seller();
  const searching = only(sent(peer.line("buy Chair 50", T0 + 100)));
  const found = only(sent(peer.line("buy Radio 30", T0 + 200)));
  peer.receive({ type: "FOUND", rq: found.rq, item: "Radio", price: 25, seller: "bob" }, T0 + 300);
  peer.receive({ type: "RESERVE", rq: "s1", item: "Lamp", price: 20 }, T0 + 400);
  assert.equal(peer.agent.items.find((item) => item.item === "Lamp")?.reservedFor, "s1");
  assert.equal(peer.agent.questions.length, 1);

  const left = deregister(peer, T0 + 1_000);

  await t.step("every search still open is cancelled, and stored so", () => {
    for (const rq of [searching.rq, found.rq]) {
      const request = peer.agent.requests.find((r) => r.rq === rq);
      assert.equal(request?.state, "cancelled");
      const stored = peer.store.snapshot().requests?.find((r) => r.rq === rq);
      assert.equal(stored?.state, "cancelled");
    }
  });

  await t.step("every reserved item is for sale again, and the FOUND question is gone", () => {
    assert.deepEqual(peer.agent.items.map((item) => item.reservedFor), [undefined, undefined]);
    assert.ok(peer.store.snapshot().items?.every((item) => item.reservedFor === undefined));
    assert.deepEqual(peer.agent.questions, []);
  });

  await t.step("nothing is sent again for them, and DE-REGISTERED says what ended", () => {
    assert.equal(peer.agent.pendingCount, 0);
    assert.deepEqual(sent(peer.tick(T0 + 60_000)), []);
    assert.match(only(printed(left)).text, /3 open search\(es\) and reservation\(s\) ended/);
  });

  await t.step("a late copy of a RESERVE from before does not hold the item again", () => {
    peer.receive({ type: "RESERVE", rq: "s2", item: "Book", price: 12 }, T0 + 2_000);
    assert.equal(peer.agent.items.find((item) => item.item === "Book")?.reservedFor, undefined);
  });
});

Deno.test("a peer that de-registers ends a negotiation it was asking about", () => {
  const peer = seller();
  peer.receive({ type: "NEGOTIATE", rq: "s3", item: "Lamp", maxPrice: 15 }, T0 + 100);
  assert.equal(peer.agent.questions[0]?.about, "NEGOTIATE");
  deregister(peer, T0 + 500);
  assert.deepEqual(peer.agent.questions, []);
  assert.equal(peer.store.snapshot().negotiations?.[0]?.state, "refused");
  // The user's late "y" holds nothing.
  assert.deepEqual(sent(peer.line("y", T0 + 600)), []);
  assert.equal(peer.agent.items.find((item) => item.item === "Lamp")?.reservedFor, undefined);
});

Deno.test("a de-registration the server denies ends nothing", () => {
  const peer = seller();
  peer.receive({ type: "RESERVE", rq: "s1", item: "Lamp", price: 20 }, T0 + 100);
  const request = only(sent(peer.line("deregister", T0 + 200)));
  peer.receive({ type: "DE-REGISTER-DENIED", rq: request.rq, reason: "nope" }, T0 + 210);
  assert.equal(peer.agent.items.find((item) => item.item === "Lamp")?.reservedFor, "s1");
});

Deno.test("a DE-REGISTER answered 'not registered' (DE-REGISTERED lost, or the server forgot the name) ends the flows as DE-REGISTERED does", () => {
  const peer = seller();
  const searching = only(sent(peer.line("buy Chair 50", T0 + 100)));
  peer.receive({ type: "RESERVE", rq: "s1", item: "Lamp", price: 20 }, T0 + 400);
  const request = only(sent(peer.line("deregister", T0 + 1_000)));
  assert.equal(request.type, "DE-REGISTER");
  peer.receive(
    { type: "DE-REGISTER-DENIED", rq: request.rq, reason: "name alice not registered" },
    T0 + 1_010,
  );
  assert.equal(peer.agent.requests.find((r) => r.rq === searching.rq)?.state, "cancelled");
  assert.equal(peer.agent.items.find((item) => item.item === "Lamp")?.reservedFor, undefined);
});
