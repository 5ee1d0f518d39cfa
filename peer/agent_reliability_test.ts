/**
 * The peer's reliability rules, on the pure state machine: retransmission,
 * ACKs, datagrams lost or overtaken. Times are explicit, nothing sleeps.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { DEFAULT_RETRANSMIT } from "../transport/reliability.ts";
import {
  acks,
  events,
  Harness,
  only,
  others,
  OURS,
  PAYMENT,
  printed,
  registered,
  RTO,
  SECURE,
  sent,
  T0,
} from "./_agent_harness.ts";

Deno.test("a request is sent again with the same RQ# on an exponential backoff, then given up", async (t) => {
  const peer = registered();
  const looking = only(sent(peer.line("buy Lamp 30", T0)));
  assert.equal(looking.type, "LOOKING_FOR");
  assert.equal(peer.agent.pendingCount, 1);

  await t.step("nothing is due before the first timeout, set by the measured RTT", () => {
    assert.equal(peer.agent.nextDeadline(), T0 + RTO);
    assert.deepEqual(sent(peer.tick(T0 + RTO - 1)), []);
  });

  let at = T0;
  let timeout = RTO;
  await t.step("each retry is the same message, the wait doubling up to the cap", () => {
    for (let attempt = 2; attempt <= DEFAULT_RETRANSMIT.maxAttempts; attempt++) {
      at += timeout;
      assert.equal(peer.agent.nextDeadline(), at);
      assert.deepEqual(sent(peer.tick(at)), [looking], `try ${attempt}`);
      timeout = Math.min(timeout * 2, DEFAULT_RETRANSMIT.maxRto);
    }
  });

  await t.step("after the last try: a timeout line, and the search failed", () => {
    at += timeout;
    const effects = peer.tick(at);
    assert.deepEqual(sent(effects), []);
    const output = only(printed(effects));
    assert.equal(output.event, "timeout");
    assert.equal(
      output.text,
      `Server not answering: LOOKING_FOR for Lamp got no reply after ${DEFAULT_RETRANSMIT.maxAttempts} tries; the search failed`,
    );
    assert.equal(output.fields?.rq, looking.rq);
    assert.equal(output.fields?.type, "LOOKING_FOR");
    assert.match(String(output.fields?.message), /^server not answering: LOOKING_FOR for Lamp/);
    assert.equal(peer.agent.requests[0]?.state, "failed");
    assert.equal(peer.store.snapshot().requests?.[0]?.state, "failed");
    assert.equal(peer.agent.nextDeadline(), undefined);
    assert.equal(peer.agent.pendingCount, 0);
  });

  await t.step("a late FOUND for the failed search is acknowledged and declined", () => {
    // The server came back with the search: CANCEL releases the seller's
    // item now, not at the server's reserve timeout.
    const effects = peer.receive({ type: "FOUND", rq: looking.rq, item: "Lamp", price: 20 });
    assert.deepEqual(acks(effects), [{ type: "ACK", rq: looking.rq, of: "FOUND" }]);
    assert.deepEqual(others(effects), [{
      type: "CANCEL",
      rq: looking.rq,
      item: "Lamp",
      price: 20,
    }]);
    assert.deepEqual(events(effects), ["answering", "warning"]);
    assert.equal(peer.agent.requests[0]?.state, "failed");
  });
});

Deno.test("an ACK ends the retransmission, and the measured RTT sets the next timeout", () => {
  const peer = new Harness();
  const register = only(sent(peer.line("register", T0)));
  assert.equal(peer.agent.nextDeadline(), T0 + DEFAULT_RETRANSMIT.initialRto, "nothing measured");
  peer.receive({ type: "REGISTERED", rq: register.rq, extensions: OURS }, T0 + 40);
  const first = only(sent(peer.line("buy Lamp 30", T0 + 1_000)));
  // RFC 6298: SRTT 40 and RTTVAR 20 give 40 + 4 * 20 = 120 ms.
  assert.equal(peer.agent.nextDeadline(), T0 + 1_000 + 120);
  peer.receive({ type: "ACK", rq: first.rq, of: "LOOKING_FOR" }, T0 + 1_040);
  assert.equal(peer.agent.nextDeadline(), undefined);
  assert.equal(peer.agent.pendingCount, 0);
  assert.deepEqual(sent(peer.tick(T0 + 10_000)), []);
  // A duplicate or late ACK changes nothing.
  assert.deepEqual(sent(peer.receive({ type: "ACK", rq: first.rq, of: "LOOKING_FOR" })), []);
});

Deno.test("a classic server gets REGISTER again until answered, but no other request twice", () => {
  const peer = new Harness();
  const register = only(sent(peer.line("register", T0)));
  assert.deepEqual(sent(peer.tick(T0 + DEFAULT_RETRANSMIT.initialRto)), [register]);
  peer.receive({ type: "REGISTERED", rq: register.rq }, T0 + 300);
  assert.equal(peer.agent.serverKind, "classic");
  assert.equal(peer.agent.nextDeadline(), undefined);
  peer.line("buy Lamp 30", T0 + 1_000);
  // The only deadline is the search's own end (CLASSIC_SEARCH_WAIT_MS): nothing is resent.
  assert.equal(peer.agent.nextDeadline(), T0 + 1_000 + 6 * 60_000);
  assert.deepEqual(sent(peer.tick(T0 + 1_000 + 6 * 60_000)), [], "no LOOKING_FOR retransmission");
  const found = peer.receive({ type: "FOUND", rq: "alice-a-2", item: "Lamp", price: 20 });
  assert.deepEqual(acks(found), [], "no ACK to a classic server");
});

Deno.test("a REGISTER never answered ends with a timeout line", () => {
  const peer = new Harness({ retransmit: { maxAttempts: 2, initialRto: 100 } });
  const register = only(sent(peer.line("register", T0)));
  assert.deepEqual(sent(peer.tick(T0 + 100)), [register]);
  const effects = peer.tick(T0 + 300);
  assert.equal(
    only(printed(effects)).text,
    "Server not answering: REGISTER got no reply after 2 tries; is the server running at " +
      "127.0.0.1:5000? Start the peer with --server HOST:PORT to use another",
  );
  assert.equal(peer.agent.pendingCount, 0);
  assert.equal(peer.agent.registered, false);
  // A REGISTERED that comes after all is a stranger's answer now.
  assert.deepEqual(events(peer.receive({ type: "REGISTERED", rq: register.rq })), [
    "answering",
    "warning",
  ]);
});

Deno.test("a BUY never acknowledged fails the purchase; an ACCEPT releases the item", async (t) => {
  const options = { retransmit: { maxAttempts: 1 }, autoBuy: true };
  await t.step("BUY", () => {
    const peer = registered(OURS, options);
    const rq = only(sent(peer.line("buy Lamp 30", T0))).rq;
    peer.receive({ type: "ACK", rq, of: "LOOKING_FOR" }, T0 + 10);
    const found = peer.receive({ type: "FOUND", rq, item: "Lamp", price: 20 }, T0 + 20);
    assert.equal(others(found)[0]?.type, "BUY");
    const effects = peer.tick(T0 + 10_000);
    assert.match(
      only(printed(effects)).text,
      /BUY for Lamp got no reply after 1 tries; the purchase failed/,
    );
    assert.equal(peer.agent.requests[0]?.state, "failed");
    // The server died before the BUY: restarted, it sends FOUND again and
    // holds the seller's item until the answer, which is CANCEL.
    const again = peer.receive({ type: "FOUND", rq, item: "Lamp", price: 20 }, T0 + 60_000);
    assert.deepEqual(others(again), [{ type: "CANCEL", rq, item: "Lamp", price: 20 }]);
  });
  await t.step("ACCEPT", () => {
    const peer = registered(OURS, options);
    peer.line("sell Lamp 50 --floor 30", T0);
    const negotiate = peer.receive({ type: "NEGOTIATE", rq: "S1", item: "Lamp", maxPrice: 40 });
    assert.equal(others(negotiate)[0]?.type, "ACCEPT");
    assert.equal(peer.agent.items[0]?.reservedFor, "S1");
    const effects = peer.tick(T0 + 10_000);
    assert.match(only(printed(effects)).text, /ACCEPT for Lamp .*; Lamp is for sale again/);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });
});

Deno.test("DE-REGISTER is sent again until DE-REGISTERED", () => {
  const peer = registered();
  const deregister = only(sent(peer.line("deregister", T0)));
  assert.equal(deregister.type, "DE-REGISTER");
  assert.deepEqual(sent(peer.tick(T0 + RTO)), [deregister]);
  assert.deepEqual(events(peer.receive({ type: "DE-REGISTERED", rq: deregister.rq })), [
    "DE-REGISTERED",
  ]);
  assert.equal(peer.agent.nextDeadline(), undefined);
  assert.equal(peer.agent.registered, false);
});

Deno.test("every reliable message of our server is acknowledged, duplicates too, and acted on once", async (t) => {
  const peer = registered();
  peer.line("sell Laptop 500");
  const rq = only(sent(peer.line("buy Lamp 30"))).rq;

  await t.step("SEARCH: ACK and OFFER each time, one line", () => {
    const search: Message = { type: "SEARCH", rq: "S1", item: "laptop", description: "" };
    const first = peer.receive(search);
    const second = peer.receive(search);
    for (const effects of [first, second]) {
      assert.deepEqual(acks(effects), [{ type: "ACK", rq: "S1", of: "SEARCH" }]);
      assert.deepEqual(others(effects), [
        { type: "OFFER", rq: "S1", name: "alice", item: "Laptop", price: 500 },
      ]);
    }
    assert.deepEqual(events(first), ["OFFER"]);
    assert.deepEqual(events(second), []);
  });

  await t.step("FOUND: ACK each time, asked once", () => {
    const found: Message = { type: "FOUND", rq, item: "Lamp", price: 20, seller: "bob" };
    const first = peer.receive(found);
    const second = peer.receive(found);
    assert.deepEqual(acks(first), [{ type: "ACK", rq, of: "FOUND" }]);
    assert.deepEqual(acks(second), [{ type: "ACK", rq, of: "FOUND" }]);
    assert.deepEqual(events(first), ["FOUND", "prompt"]);
    assert.deepEqual(events(second), []);
    assert.equal(peer.agent.questions.length, 1);
  });

  await t.step("RESERVE, NEGOTIATE, CANCEL and NOT_AVAILABLE are acknowledged", () => {
    const messages: Message[] = [
      { type: "RESERVE", rq: "S1", item: "Laptop", price: 500 },
      { type: "CANCEL", rq: "S1", item: "Laptop", price: 500 },
      { type: "NEGOTIATE", rq: "S2", item: "Phone", maxPrice: 5 },
      { type: "NOT_AVAILABLE", rq: "nope", item: "Phone", maxPrice: 5 },
      { type: "NOT_FOUND", rq: "nope", item: "Phone", maxPrice: 5 },
    ];
    for (const message of messages) {
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(acks(peer.receive(message)), [
          { type: "ACK", rq: message.rq, of: message.type },
        ], `${message.type} #${i + 1}`);
      }
    }
  });

  await t.step("answers to our requests are not acknowledged", () => {
    assert.deepEqual(acks(peer.receive({ type: "ACK", rq, of: "LOOKING_FOR" })), []);
    assert.deepEqual(acks(peer.receive({ type: "REGISTERED", rq: "x" })), []);
  });
});

Deno.test("with ack, a repeated FOUND is acknowledged but not answered again", () => {
  const peer = registered(OURS, { autoBuy: true });
  const rq = only(sent(peer.line("buy Lamp 30", T0))).rq;
  const found: Message = { type: "FOUND", rq, item: "Lamp", price: 20 };
  assert.deepEqual(others(peer.receive(found, T0 + 10)).map((m) => m.type), ["BUY"]);
  peer.receive({ type: "ACK", rq, of: "BUY" }, T0 + 20);
  // The server repeats FOUND (our ACK was lost, or it answers a repeat):
  // our BUY is not sent again, so the two can never echo each other.
  const again = peer.receive(found, T0 + 30);
  assert.deepEqual(acks(again), [{ type: "ACK", rq, of: "FOUND" }]);
  assert.deepEqual(others(again), []);
  // A classic server gets the BUY again instead.
  const classic = new Harness({ autoBuy: true });
  classic.register("classic");
  const crq = only(sent(classic.line("buy Lamp 30"))).rq;
  classic.receive({ ...found, rq: crq });
  assert.deepEqual(sent(classic.receive({ ...found, rq: crq })).map((m) => m.type), ["BUY"]);
});

Deno.test("datagrams overtaken on a lossy network do not leave an item held", async (t) => {
  await t.step("a CANCEL that overtook its RESERVE: the late RESERVE holds nothing", () => {
    const peer = registered();
    peer.line("sell Lamp 20");
    const cancel = peer.receive({ type: "CANCEL", rq: "S1", item: "Lamp", price: 20 });
    assert.deepEqual(acks(cancel), [{ type: "ACK", rq: "S1", of: "CANCEL" }]);
    const reserve = peer.receive({ type: "RESERVE", rq: "S1", item: "Lamp", price: 20 });
    assert.deepEqual(acks(reserve), [{ type: "ACK", rq: "S1", of: "RESERVE" }]);
    assert.deepEqual(printed(reserve), []);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });

  await t.step("a transaction before its lost RESERVE: the item is sold at its price", () => {
    const peer = registered(SECURE, { payment: PAYMENT });
    peer.line("sell Lamp 20 --floor 15");
    const effects = peer.tcp(1, { type: "INFORM_Req", rq: "T1", item: "Lamp", price: 15 });
    const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message.type] : []);
    assert.deepEqual(tcp, ["INFORM_Res"]);
    assert.equal(peer.agent.items[0]?.reservedFor, "T1");
    // The RESERVE that comes later names the search, quietly.
    const late = peer.receive({ type: "RESERVE", rq: "S2", item: "Lamp", price: 15 });
    assert.deepEqual(printed(late), []);
    assert.equal(peer.agent.items[0]?.reservedFor, "S2");
    peer.tcp(1, { type: "Shipping_Info", rq: "T1", name: "bob", address: "1 Elm St" });
    assert.deepEqual(peer.agent.items, []);
    // And one sent again after the sale only goes to the debug log.
    const again = peer.receive({ type: "RESERVE", rq: "S2", item: "Lamp", price: 15 });
    assert.deepEqual(printed(again), []);
  });

  await t.step("but not below its price, or its floor", () => {
    const peer = registered(SECURE, { payment: PAYMENT });
    peer.line("sell Lamp 20");
    const effects = peer.tcp(1, { type: "INFORM_Req", rq: "T1", item: "Lamp", price: 19 });
    const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message.type] : []);
    assert.deepEqual(tcp, ["TX_CANCEL"]);
    assert.equal(peer.agent.items[0]?.reservedFor, undefined);
  });
});

Deno.test("a server that stops answering shows in status until one line says it answers again", async (t) => {
  const peer = registered();
  const looking = only(sent(peer.line("buy Lamp 30", T0)));
  const status = () => only(printed(peer.line("status")));
  await t.step("while it answers, status says nothing of it", () => {
    assert.doesNotMatch(status().text, /not answering/);
    assert.equal(peer.agent.serverSilentSince, undefined);
  });
  let at = T0;
  for (let i = 0; i < 100 && peer.agent.nextDeadline() !== undefined; i++) {
    at = peer.agent.nextDeadline()!;
    peer.tick(at);
  }
  await t.step("once the retransmitter gave up: since when, in status and its fields", () => {
    assert.equal(peer.agent.requests[0]?.state, "failed");
    assert.equal(peer.agent.serverSilentSince, at);
    const output = status();
    const clock = new Date(at).toISOString().slice(11, 19);
    assert.ok(
      output.text.split("\n").includes(`  Server 127.0.0.1:5000: not answering since ${clock}`),
      output.text,
    );
    assert.equal(output.fields?.notAnsweringSince, at);
  });
  await t.step("the next datagram from the server: one line, and status is clear again", () => {
    const effects = peer.receive({ type: "ACK", rq: looking.rq, of: "LOOKING_FOR" }, at + 5_000);
    const back = only(printed(effects));
    assert.equal(back.event, "answering");
    assert.equal(back.text, "The server answers again");
    assert.equal(peer.agent.serverSilentSince, undefined);
    assert.doesNotMatch(status().text, /not answering/);
    assert.deepEqual(printed(peer.receive({ type: "ACK", rq: "x", of: "BUY" }, at + 6_000)), []);
  });
});
