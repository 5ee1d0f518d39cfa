/**
 * A sale whose TCP leg ended before it was settled (the server died, the
 * connection failed or timed out): the item is held while the server may
 * still settle, cancel or run it again, and released once the server
 * answers without doing so.
 */
import assert from "node:assert/strict";
import {
  events,
  type Harness,
  informReq,
  only,
  printed,
  seller,
  sellerInTransaction,
  T0,
} from "./_agent_harness.ts";
import type { Message } from "../protocol/mod.ts";

/** Any datagram from the server: it answers. */
const ALIVE_ACK: Message = { type: "ACK", rq: "k1", of: "ALIVE" };

/**
 * A seller asked for its payment details for transaction T1 on connection
 * 3 (it has none kept): the server has not got them.
 */
function sellerAsked(): Harness {
  const peer = seller();
  peer.tcp(3, informReq("T1", "Laptop", 500));
  return peer;
}

const state = (peer: Harness) => peer.agent.items[0]?.reservedFor === undefined ? "free" : "held";

Deno.test("a sale left unsettled by a dying server is released once the server answers without it", async (t) => {
  const peer = sellerAsked();
  await t.step("the connection ends before the details were sent: still held, and said why", () => {
    const effects = peer.tcpClosed(3, "error", T0 + 1_000);
    const warning = printed(effects).find((output) => output.fields?.rq === "T1");
    assert.equal(
      warning?.text,
      "Transaction T1 for Laptop ended unsettled: the connection failed before the payment " +
        "details were sent; " +
        "Laptop stays reserved while the server may still settle or cancel it, and is for sale " +
        "again if the server answers without doing so",
    );
    assert.equal(state(peer), "held");
  });
  await t.step(
    "while the server is not heard from, it stays held: it may come back with it",
    () => {
      assert.equal(peer.agent.nextDeadline(), undefined);
      assert.deepEqual(printed(peer.tick(T0 + 10 * 60_000)), []);
      assert.equal(state(peer), "held");
    },
  );
  const back = T0 + 10 * 60_000 + 1;
  await t.step("the server answers: a few seconds to take it up, then released", () => {
    peer.receive(ALIVE_ACK, back);
    const at = peer.agent.nextDeadline()!;
    assert.ok(at > back, "a wait for the restarted server's first tick");
    assert.deepEqual(printed(peer.tick(at - 1)), []);
    assert.equal(state(peer), "held");
    const effects = peer.tick(at);
    assert.deepEqual(events(effects), ["released"]);
    assert.match(only(printed(effects)).text, /^Laptop is for sale again: transaction T1 ended/);
    assert.equal(state(peer), "free");
    const stored = peer.store.snapshot().items?.[0];
    assert.equal(stored?.reservedFor, undefined);
    assert.equal(stored?.transaction, undefined);
  });
});

Deno.test("a server answering all along has its transaction timeout and more to settle it", () => {
  const peer = sellerAsked();
  peer.tcpClosed(3, "timeout", T0 + 1_000);
  peer.receive(ALIVE_ACK, T0 + 2_000);
  const at = peer.agent.nextDeadline()!;
  assert.ok(at - (T0 + 1_000) >= 30_000, "longer than the server's transaction timeout");
  peer.tick(at - 1);
  assert.equal(state(peer), "held");
  peer.tick(at);
  assert.equal(state(peer), "free");
});

Deno.test("a restarted server that runs the transaction again keeps the sale", () => {
  const peer = sellerInTransaction();
  peer.tcpClosed(3, "remote", T0 + 1_000);
  peer.receive(ALIVE_ACK, T0 + 120_000);
  // Its first tick runs the interrupted transaction again, on a new connection.
  peer.tcp(4, informReq("T1", "Laptop", 500), T0 + 120_010);
  for (let i = 0; i < 10 && peer.agent.nextDeadline() !== undefined; i++) {
    peer.tick(peer.agent.nextDeadline()!);
  }
  peer.tick(T0 + 300_000);
  assert.equal(state(peer), "held");
  const sold = peer.tcp(4, { type: "Shipping_Info", rq: "T1", name: "bea", address: "42 Main" });
  assert.ok(events(sold).includes("Shipping_Info"));
  assert.deepEqual(peer.agent.items, []);
});

Deno.test("a sale whose details reached our server waits for its word, however long it answers", () => {
  // The server may have charged the buyer: it delivers Shipping_Info on new
  // connections for minutes (the seller's TCP port unreachable meanwhile),
  // answering ALIVE all the while. Released, the item could be sold twice.
  const peer = sellerInTransaction();
  const warning = only(printed(peer.tcpClosed(3, "error", T0 + 1_000)));
  assert.equal(
    warning.text,
    "Transaction T1 for Laptop ended unsettled: the connection failed before Shipping_Info; " +
      "Laptop stays reserved until the server settles or cancels it",
  );
  for (let at = T0 + 2_000; at < T0 + 10 * 60_000; at += 20_000) {
    peer.receive(ALIVE_ACK, at);
    assert.deepEqual(events(peer.tick(at + 10_000)), []);
  }
  assert.equal(state(peer), "held");
  const sold = peer.tcp(5, { type: "Shipping_Info", rq: "T1", name: "bea", address: "42 Main" });
  assert.ok(events(sold).includes("Shipping_Info"), "the late delivery sells it, once");
  assert.deepEqual(peer.agent.items, []);
});
