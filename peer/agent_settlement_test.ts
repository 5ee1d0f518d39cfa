/** The end of a transaction: Shipping_Info and receipts, CANCEL on the TCP leg, the history. */
import assert from "node:assert/strict";
import {
  buyer,
  closed,
  events,
  Harness,
  informReq,
  MemoryStore,
  only,
  PAYMENT,
  printed,
  seller,
  sellerInTransaction,
  sent,
  T0,
  tcpSent,
  writes,
} from "./_agent_harness.ts";
import { CONFIRM_AFTER_MS } from "./agent.ts";

Deno.test("Shipping_Info to the seller sells the item, records the sale and closes", async (t) => {
  const peer = sellerInTransaction();
  const effects = peer.tcp(3, {
    type: "Shipping_Info",
    rq: "T1",
    name: "bob",
    address: "7 Elm Road",
  }, T0 + 60_000);

  await t.step("prints where to ship and what the seller gets", () => {
    assert.deepEqual(printed(effects), [{
      event: "Shipping_Info",
      text: "Sold Laptop to bob for 500.00 (you get 450.00 after the 10% fee): ship to 7 Elm Road",
      fields: {
        rq: "T1",
        role: "seller",
        item: "Laptop",
        price: 500,
        fee: 50,
        credit: 450,
        buyer: "bob",
        address: "7 Elm Road",
      },
    }]);
    assert.deepEqual(closed(effects), [3]);
    assert.deepEqual(tcpSent(effects), []);
  });

  await t.step("the item leaves the inventory and the sale is in the history", () => {
    assert.deepEqual(writes(effects), [
      { kind: "delete", key: ["item", "laptop"] },
      {
        kind: "save",
        key: ["history", "T1"],
        value: {
          tx: "T1",
          role: "seller",
          item: "Laptop",
          price: 500,
          fee: 50,
          credit: 450,
          counterparty: "bob",
          address: "7 Elm Road",
          at: T0 + 60_000,
        },
      },
    ]);
    assert.deepEqual(peer.agent.items, []);
    assert.deepEqual(
      sent(peer.receive({ type: "SEARCH", rq: "S5", item: "Laptop", description: "" })),
      [],
    );
  });

  await t.step("a repeated Shipping_Info on a new connection is not recorded twice", () => {
    const again = peer.tcp(4, {
      type: "Shipping_Info",
      rq: "T1",
      name: "bob",
      address: "7 Elm Road",
    });
    assert.deepEqual(printed(again), []);
    assert.deepEqual(writes(again), []);
    assert.deepEqual(closed(again), [4]);
  });
});

Deno.test("with the ack extension, a stored Shipping_Info is acknowledged before the close", async (t) => {
  const peer = new Harness({ payment: PAYMENT });
  peer.register("ours", ["from", "ack", "auth"]);
  peer.line("sell Laptop 500");
  peer.receive({ type: "RESERVE", rq: "S1", item: "laptop", price: 500 });
  peer.tcp(3, informReq("T1", "Laptop", 500));
  const shipping = { type: "Shipping_Info", rq: "T1", name: "bob", address: "7 Elm" } as const;
  const ack = { type: "TX_ACK", rq: "T1", of: "Shipping_Info" };

  await t.step("the sale is written, then acknowledged, then the connection closed", () => {
    const effects = peer.tcp(3, shipping);
    const kinds = effects.map((effect) => effect.kind).filter((kind) => kind !== "print");
    assert.deepEqual(kinds.filter((kind) => kind !== "log"), [
      "delete",
      "save",
      "tcp-send",
      "tcp-close",
    ]);
    assert.deepEqual(tcpSent(effects), [[3, ack]]);
  });

  await t.step("a repeat (the first ACK was lost) is acknowledged again, not recorded", () => {
    const effects = peer.tcp(4, shipping);
    assert.deepEqual(writes(effects), []);
    assert.deepEqual(tcpSent(effects), [[4, ack]]);
    assert.deepEqual(closed(effects), [4]);
  });

  await t.step("one that settles nothing here is not acknowledged", () => {
    const effects = peer.tcp(5, { ...shipping, rq: "T9" });
    assert.deepEqual(tcpSent(effects), []);
    assert.deepEqual(closed(effects), [5]);
  });
});

Deno.test("a Shipping_Info on a new connection after restarts still settles the sale", () => {
  const store = new MemoryStore();
  const before = seller({ payment: PAYMENT, store });
  before.tcp(3, informReq("T1", "Laptop", 450));
  // The peer restarts; the server, restarted too, delivers on a new connection.
  const after = new Harness({}, store, "alice-b");
  const effects = after.tcp(1, {
    type: "Shipping_Info",
    rq: "T1",
    name: "bob",
    address: "7 Elm Road",
  });
  assert.equal(
    only(printed(effects)).text,
    "Sold Laptop to bob for 450.00 (you get 405.00 after the 10% fee): ship to 7 Elm Road",
  );
  assert.deepEqual(after.agent.items, []);
  assert.equal(store.snapshot().history?.[0]?.credit, 405);
});

Deno.test("a Shipping_Info that settles nothing here is warned about and changes nothing", () => {
  const peer = sellerInTransaction();
  for (const [conn, rq] of [[3, "T2"], [4, "T3"]] as const) {
    const effects = peer.tcp(conn, { type: "Shipping_Info", rq, name: "bob", address: "x" });
    assert.deepEqual(events(effects), ["warning"]);
    assert.deepEqual(writes(effects), []);
    assert.deepEqual(closed(effects), [conn]);
  }
  assert.equal(peer.agent.items[0]?.reservedFor, "S1");
});

Deno.test("our server's receipt completes a purchase", () => {
  const { peer, rq } = buyer({ payment: PAYMENT });
  peer.tcp(1, informReq());
  const effects = peer.tcp(1, {
    type: "Shipping_Info",
    rq: "T1",
    name: "alice",
    address: "42 Main St",
  }, T0 + 5);
  const output = only(printed(effects));
  assert.equal(output.event, "Shipping_Info");
  assert.equal(output.text, "Bought Laptop from bob for 480.00; it ships to 42 Main St");
  assert.deepEqual(output.fields, {
    rq: "T1",
    request: rq,
    role: "buyer",
    item: "Laptop",
    price: 480,
    fee: 48,
    credit: 432,
    seller: "bob",
    address: "42 Main St",
    receipt: true,
  });
  assert.deepEqual(closed(effects), [1]);
  assert.equal(peer.agent.requests[0]?.state, "bought");
  assert.deepEqual(peer.store.snapshot().history, [{
    tx: "T1",
    role: "buyer",
    item: "Laptop",
    price: 480,
    fee: 48,
    credit: 432,
    counterparty: "bob",
    address: "42 Main St",
    request: rq,
    at: T0 + 5,
  }]);
  // Afterwards the connection's close changes nothing.
  assert.deepEqual(printed(peer.tcpClosed(1)), []);
});

Deno.test("with a classic server the close of the buyer's connection completes the purchase", async (t) => {
  await t.step("closed by the server after INFORM_Res, without CANCEL: bought", () => {
    const { peer } = buyer({ payment: PAYMENT, server: "classic", allowPlaintext: true });
    peer.tcp(1, informReq());
    const closing = peer.tcpClosed(1, "remote");
    assert.deepEqual(events(closing), ["paid"]);
    assert.equal(peer.agent.requests[0]?.state, "buying", "not bought before it is confirmed");
    assert.equal(peer.agent.nextDeadline(), T0 + CONFIRM_AFTER_MS);
    assert.deepEqual(printed(peer.tick(T0 + CONFIRM_AFTER_MS - 1)), []);
    const effects = peer.tick(T0 + CONFIRM_AFTER_MS);
    const output = only(printed(effects));
    assert.equal(output.event, "bought");
    assert.equal(output.text, "Bought Laptop from bob for 480.00; it ships to 42 Main St");
    assert.equal(output.fields?.receipt, false);
    assert.equal(peer.agent.requests[0]?.state, "bought");
    assert.equal(peer.store.snapshot().history?.length, 1);
  });

  await t.step(
    "closed after INFORM_Res, then CANCEL on a new connection: cancelled, never bought",
    () => {
      const { peer } = buyer({ payment: PAYMENT, server: "classic", allowPlaintext: true });
      peer.tcp(1, informReq());
      assert.deepEqual(events(peer.tcpClosed(1, "remote")), ["paid"]);
      const cancel = peer.tcp(2, { type: "TX_CANCEL", rq: "T1", reason: "Card-Declined" });
      // The declined card is forgotten too, with a warning that says so.
      assert.deepEqual(events(cancel), ["CANCEL", "warning"]);
      assert.match(printed(cancel)[0]!.text, /cancelled: Card-Declined/);
      assert.equal(peer.agent.requests[0]?.state, "cancelled");
      assert.deepEqual(printed(peer.tick(T0 + 60_000)), []);
      assert.equal(peer.agent.requests[0]?.state, "cancelled");
      assert.deepEqual(peer.store.snapshot().history, []);
    },
  );

  await t.step("a read timeout is no completion", () => {
    const { peer } = buyer({ payment: PAYMENT, server: "classic", allowPlaintext: true });
    peer.tcp(1, informReq());
    const effects = peer.tcpClosed(1, "timeout");
    assert.deepEqual(events(effects), ["warning"]);
    assert.equal(peer.agent.requests[0]?.state, "buying");
  });

  await t.step("closed before INFORM_Res went out: no completion", () => {
    const { peer } = buyer({ server: "classic", allowPlaintext: true });
    peer.tcp(1, informReq());
    peer.tcpClosed(1, "remote");
    assert.equal(peer.agent.requests[0]?.state, "buying");
    assert.deepEqual(peer.store.snapshot().history, []);
  });

  await t.step("with our server a close without a receipt is no completion", () => {
    const { peer } = buyer({ payment: PAYMENT, server: "ours" });
    peer.tcp(1, informReq());
    const effects = peer.tcpClosed(1, "remote");
    assert.deepEqual(events(effects), ["warning"]);
    assert.match(only(printed(effects)).text, /before the receipt/);
    assert.equal(peer.agent.requests[0]?.state, "buying");
  });
});

Deno.test("CANCEL on the TCP leg releases the seller's item with the reason", () => {
  const peer = sellerInTransaction();
  const effects = peer.tcp(3, {
    type: "TX_CANCEL",
    rq: "T1",
    reason: "the card was declined",
  });
  assert.deepEqual(printed(effects), [{
    event: "CANCEL",
    text: "Sale of Laptop cancelled: the card was declined",
    fields: {
      rq: "T1",
      reason: "the card was declined",
      role: "seller",
      item: "Laptop",
      by: "server",
    },
  }]);
  assert.deepEqual(closed(effects), [3]);
  assert.equal(peer.store.snapshot().items?.[0]?.reservedFor, undefined);
  assert.equal(peer.store.snapshot().items?.[0]?.transaction, undefined);
  // The server's CANCEL datagram for the reservation then says nothing more.
  const datagram = peer.receive({ type: "CANCEL", rq: "S1", item: "Laptop", price: 500 });
  assert.deepEqual(printed(datagram), []);
  // And the item is offered again.
  assert.equal(
    only(sent(peer.receive({ type: "SEARCH", rq: "S7", item: "Laptop", description: "" }))).type,
    "OFFER",
  );
});

Deno.test("CANCEL on the TCP leg cancels the buyer's purchase with the reason", async (t) => {
  await t.step("the TCP CANCEL first", () => {
    const { peer, rq } = buyer({ payment: PAYMENT });
    peer.tcp(1, informReq());
    const effects = peer.tcp(1, { type: "TX_CANCEL", rq: "T1", reason: "the card has expired" });
    // The card is forgotten too (agent_payment_test.ts).
    assert.deepEqual(events(effects), ["CANCEL", "warning"]);
    assert.equal(printed(effects)[0]!.text, "Purchase of Laptop cancelled: the card has expired");
    assert.equal(printed(effects)[0]!.fields?.role, "buyer");
    assert.deepEqual(closed(effects), [1]);
    const request = peer.agent.requests[0]!;
    assert.deepEqual([request.state, request.cancelledBy, request.reason], [
      "cancelled",
      "server",
      "the card has expired",
    ]);
    assert.deepEqual(
      printed(peer.receive({ type: "CANCEL", rq, item: "Laptop", price: 480 })),
      [],
    );
  });

  await t.step("the CANCEL datagram first: the TCP one still tells the reason", () => {
    const { peer, rq } = buyer({ payment: PAYMENT });
    peer.tcp(1, informReq());
    peer.receive({ type: "CANCEL", rq, item: "Laptop", price: 480 });
    const effects = peer.tcp(1, { type: "TX_CANCEL", rq: "T1", reason: "the card has expired" });
    assert.deepEqual(events(effects), ["CANCEL", "warning"]);
    assert.equal(peer.agent.requests[0]?.reason, "the card has expired");
  });
});

Deno.test("a connection sending what does not parse is answered and closed", () => {
  const peer = sellerInTransaction();
  const effects = peer.tcpInvalid(3, {
    code: "unknown_type",
    message: 'Unknown message type "HELLO": expected one of INFORM_Req',
  });
  assert.equal(only(printed(effects)).event, "warning");
  const [conn, cancel] = only(tcpSent(effects));
  assert.equal(conn, 3);
  assert.deepEqual(cancel, {
    type: "TX_CANCEL",
    rq: "T1",
    reason:
      `cannot read the server's message: Unknown message type "HELLO": expected one of INFORM_Req`,
  });
  assert.deepEqual(closed(effects), [3]);
  assert.equal(peer.agent.transactionCount, 0);
  // Without a known RQ# it is just closed.
  const bare = peer.tcpInvalid(4, { code: "empty", message: "Message is empty" });
  assert.deepEqual(tcpSent(bare), []);
  assert.deepEqual(closed(bare), [4]);
});

Deno.test("history lists sales and purchases with the fee and totals", async (t) => {
  const { peer } = buyer({ payment: PAYMENT });
  peer.tcp(1, informReq("T1", "Laptop", 480));
  peer.tcp(1, { type: "Shipping_Info", rq: "T1", name: "alice", address: "42 Main St" }, T0);
  peer.line("sell Bike 199.99");
  peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 199.99 });
  peer.tcp(2, informReq("T2", "Bike", 199.99));
  peer.tcp(2, { type: "Shipping_Info", rq: "T2", name: "carol", address: "1 Oak" }, T0 + 61_000);

  await t.step("as a table with totals", () => {
    const output = only(printed(peer.line("history")));
    assert.equal(output.event, "history");
    assert.deepEqual(output.text.split("\n"), [
      "TIME (UTC)        ROLE    ITEM     PRICE    FEE  SELLER GOT  WITH   SHIP TO",
      "2026-11-25 00:00  bought  Laptop  480.00  48.00      432.00  bob    42 Main St",
      "2026-11-25 00:01  sold    Bike    199.99  20.00      179.99  carol  1 Oak",
      "Bought 1 for 480.00; sold 1 for 199.99 and received 179.99 after 20.00 in fees",
    ]);
    assert.deepEqual(output.fields?.totals, {
      purchases: 1,
      bought: 480,
      sales: 1,
      sold: 199.99,
      fees: 20,
      received: 179.99,
    });
    assert.equal((output.fields?.entries as unknown[]).length, 2);
  });

  await t.step("requests show the purchase as bought", () => {
    const output = only(printed(peer.line("requests")));
    assert.match(output.text, /Laptop\s+500\.00\s+bought\s+480\.00\s+bob/);
  });

  await t.step("the history survives a restart", () => {
    const after = new Harness({}, peer.store, "alice-b");
    assert.deepEqual(after.agent.history.map((e) => [e.tx, e.role]), [
      ["T1", "buyer"],
      ["T2", "seller"],
    ]);
    assert.equal(after.agent.requests[0]?.state, "bought");
  });

  await t.step("an empty history says so", () => {
    const output = only(printed(new Harness().line("history")));
    assert.equal(output.text, "No sales or purchases yet");
    assert.deepEqual(output.fields?.totals, {
      purchases: 0,
      bought: 0,
      sales: 0,
      sold: 0,
      fees: 0,
      received: 0,
    });
  });
});

Deno.test("a CANCEL whose reason names this peer says you", () => {
  const { peer } = buyer({ payment: PAYMENT });
  peer.tcp(1, informReq());
  const reason = "the buyer alice did not answer in time";
  const effects = peer.tcp(1, { type: "TX_CANCEL", rq: "T1", reason });
  assert.equal(
    printed(effects)[0]!.text,
    "Purchase of Laptop cancelled: you did not answer in time",
  );
  assert.equal(printed(effects)[0]!.fields?.reason, reason, "scripts get the server's words");
  // Another party of the same name and role is not this peer: only "the buyer alice" is.
  const seller = sellerInTransaction();
  const sold = seller.tcp(3, { type: "TX_CANCEL", rq: "T1", reason });
  assert.equal(printed(sold)[0]!.text, `Sale of Laptop cancelled: ${reason}`);
});

Deno.test("a CANCEL datagram that overtook INFORM_Req: the TCP CANCEL's reason is shown", () => {
  const { peer, rq } = buyer({ payment: PAYMENT });
  peer.receive({ type: "CANCEL", rq, item: "Laptop", price: 480 });
  const refused = peer.tcp(1, informReq("T1"));
  assert.deepEqual(tcpSent(refused), [[1, {
    type: "TX_CANCEL",
    rq: "T1",
    reason: "the server cancelled this purchase",
  }]]);
  const cancel = peer.tcp(2, { type: "TX_CANCEL", rq: "T1", reason: "the seller sam hung up" });
  assert.equal(only(printed(cancel)).text, "Purchase of Laptop cancelled: the seller sam hung up");
  assert.equal(peer.agent.requests[0]?.reason, "the seller sam hung up");
});
