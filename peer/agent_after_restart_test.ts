/**
 * What a peer does after its own restart: a late copy of a datagram it
 * acted on before must not act again (its memory of recent messages is
 * gone), and a plaintext peer of our server registers again.
 */
import assert from "node:assert/strict";
import { ENDED_KEPT } from "./agent.ts";
import { Harness, printed, sent, T0 } from "./_agent_harness.ts";

const OURS = ["from", "ack", "no-offer"];

function seller(): Harness {
  const peer = new Harness();
  peer.register("ours", OURS);
  peer.line("sell Guitar 140 a guitar");
  return peer;
}

/** The agent rebuilt from what the first one stored, as after a crash. */
function restarted(peer: Harness): Harness {
  const again = new Harness({}, peer.store, "alice-b");
  again.start(T0 + 5_000);
  return again;
}

function heldFor(peer: Harness): string | undefined {
  return peer.agent.items.find((item) => item.item === "Guitar")?.reservedFor;
}

Deno.test("a late RESERVE of a reservation cancelled before a restart holds nothing after it", () => {
  const peer = seller();
  peer.receive({ type: "RESERVE", rq: "s1-1", item: "guitar", price: 140 }, T0 + 100);
  assert.equal(heldFor(peer), "s1-1");
  peer.receive({ type: "CANCEL", rq: "s1-1", item: "guitar", price: 140 }, T0 + 500);
  assert.equal(heldFor(peer), undefined);

  const again = restarted(peer);
  const late = again.receive(
    { type: "RESERVE", rq: "s1-1", item: "guitar", price: 140 },
    T0 + 6_000,
  );
  assert.equal(heldFor(again), undefined);
  // Still acknowledged, so the server stops sending it.
  assert.deepEqual(sent(late), [{ type: "ACK", rq: "s1-1", of: "RESERVE" }]);
  // A new reservation still holds it.
  again.receive({ type: "RESERVE", rq: "s1-2", item: "guitar", price: 140 }, T0 + 7_000);
  assert.equal(heldFor(again), "s1-2");
});

Deno.test("a reservation ended by TX_CANCEL is not held again by its late RESERVE after a restart", () => {
  const peer = new Harness({
    payment: { card: "4111111111111111", expiry: "11/30", address: "1 Main St" },
  });
  peer.register("ours", [...OURS, "auth"]);
  peer.line("sell Guitar 140 a guitar");
  peer.receive({ type: "RESERVE", rq: "s1-1", item: "guitar", price: 140 }, T0 + 100);
  peer.tcp(1, { type: "INFORM_Req", rq: "s1-2", item: "guitar", price: 140 }, T0 + 200);
  peer.tcp(1, { type: "TX_CANCEL", rq: "s1-2", reason: "the buyer's card was refused" }, T0 + 300);
  assert.equal(heldFor(peer), undefined);
  const again = restarted(peer);
  again.receive({ type: "RESERVE", rq: "s1-1", item: "guitar", price: 140 }, T0 + 6_000);
  assert.equal(heldFor(again), undefined);
});

Deno.test("an item remembers only its latest ended reservations", () => {
  const peer = seller();
  for (let n = 1; n <= ENDED_KEPT + 2; n++) {
    peer.receive({ type: "RESERVE", rq: `s-${n}`, item: "guitar", price: 140 }, T0 + n * 10);
    peer.receive({ type: "CANCEL", rq: `s-${n}`, item: "guitar", price: 140 }, T0 + n * 10 + 5);
  }
  const ended = peer.store.snapshot().items?.[0]?.ended;
  assert.equal(ended?.length, ENDED_KEPT);
  assert.equal(ended?.at(-1), `s-${ENDED_KEPT + 2}`);
});

Deno.test("a CANCEL sent again by a restarted server, of a reservation released already, is quiet", () => {
  const peer = seller();
  peer.receive({ type: "RESERVE", rq: "s1-1", item: "guitar", price: 140 }, T0 + 100);
  peer.receive({ type: "CANCEL", rq: "s1-1", item: "guitar", price: 140 }, T0 + 500);
  const again = restarted(peer);
  const effects = again.receive(
    { type: "CANCEL", rq: "s1-1", item: "guitar", price: 140 },
    T0 + 6_000,
  );
  assert.deepEqual(printed(effects), []);
  assert.deepEqual(sent(effects), [{ type: "ACK", rq: "s1-1", of: "CANCEL" }]);
});

Deno.test("a plaintext peer of our server registers again after a restart and sends its open search again", async (t) => {
  const peer = new Harness({ allowPlaintext: true });
  peer.register("ours", OURS);
  const looking = sent(peer.line("buy Lamp 30", T0 + 100))[0]!;
  assert.equal(looking.type, "LOOKING_FOR");
  // The LOOKING_FOR is lost, and the peer crashes before sending it again.
  const again = new Harness({ allowPlaintext: true }, peer.store, "alice-b");
  const started = again.start(T0 + 5_000);

  await t.step("the same REGISTER, unsigned, with the extensions", () => {
    const register = sent(started)[0];
    assert.equal(register?.type, "REGISTER");
    assert.deepEqual(register?.type === "REGISTER" && register.extensions, [...OURS, "book"]);
  });

  await t.step("once confirmed, the open search goes out again under its RQ#", () => {
    const register = sent(started)[0]!;
    const answered = again.receive(
      { type: "REGISTERED", rq: register.rq, extensions: OURS },
      T0 + 5_050,
    );
    assert.deepEqual(sent(answered), [looking]);
  });
});

Deno.test("a peer of a classic server sends nothing at a restart", () => {
  const peer = new Harness({ allowPlaintext: true });
  peer.register("classic");
  peer.line("buy Lamp 30", T0 + 100);
  const again = new Harness({ allowPlaintext: true }, peer.store, "alice-b");
  assert.deepEqual(sent(again.start(T0 + 5_000)), []);
});

Deno.test("a registration again after a restart that the server denies is not retried without extensions", () => {
  const peer = new Harness({ allowPlaintext: true });
  peer.register("ours", OURS);
  const again = new Harness({ allowPlaintext: true }, peer.store, "alice-b");
  const register = sent(again.start(T0 + 5_000))[0]!;
  const denied = again.receive(
    { type: "REGISTER-DENIED", rq: register.rq, reason: "name alice in use" },
    T0 + 5_050,
  );
  assert.deepEqual(sent(denied), []);
  assert.equal(printed(denied)[0]?.event, "REGISTER-DENIED");
});
