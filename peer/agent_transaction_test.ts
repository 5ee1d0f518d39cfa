import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import type { PeerEffect } from "./agent.ts";
import { ABORT_INPUT } from "./agent.ts";
import { splitPrice } from "../protocol/fee.ts";
import { events, Harness, MemoryStore, only, printed, sent, T0, writes } from "./_agent_harness.ts";
import type { PaymentDetails } from "./payment.ts";

const CARD = "4111111111111111";
const EXPIRY = "11/30";
const PAYMENT: PaymentDetails = { card: CARD, expiry: EXPIRY, address: "42 Main St" };
const MASKED = "************1111";

/** What went out on each TCP connection, and which ones were closed. */
function tcpSent(effects: PeerEffect[]): [number, Message][] {
  return effects.flatMap((effect) =>
    effect.kind === "tcp-send" ? [[effect.conn, effect.message] as [number, Message]] : []
  );
}

function closed(effects: PeerEffect[]): number[] {
  return effects.flatMap((effect) => effect.kind === "tcp-close" ? [effect.conn] : []);
}

/** Everything but the INFORM_Res itself must be free of the card and expiry. */
function assertNoSecrets(effects: PeerEffect[]): void {
  const rest = effects.filter((e) => !(e.kind === "tcp-send" && e.message.type === "INFORM_Res"));
  const text = JSON.stringify(rest);
  assert.ok(!text.includes(CARD), `card number leaked: ${text}`);
  assert.ok(!text.includes(EXPIRY), `expiry leaked: ${text}`);
}

/** A registered buyer whose FOUND for Laptop at 480 (from bob) it is buying. */
function buyer(
  options: {
    payment?: PaymentDetails;
    server?: "ours" | "classic";
    store?: MemoryStore;
    allowPlaintext?: boolean;
  } = {},
): { peer: Harness; rq: string } {
  const peer = new Harness(
    { autoBuy: true, payment: options.payment, allowPlaintext: options.allowPlaintext },
    options.store,
  );
  peer.register(options.server);
  const rq = only(sent(peer.line("buy Laptop 500"))).rq;
  peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480, seller: "bob" });
  return { peer, rq };
}

/** A seller whose Laptop is reserved (RESERVE S1) for a buyer. */
function seller(
  options: { payment?: PaymentDetails; store?: MemoryStore } = {},
): Harness {
  const peer = new Harness({ payment: options.payment }, options.store);
  peer.register();
  peer.line("sell Laptop 500");
  peer.receive({ type: "RESERVE", rq: "S1", item: "laptop", price: 500 });
  return peer;
}

const informReq = (rq = "T1", item = "Laptop", price = 480): Message => ({
  type: "INFORM_Req",
  rq,
  item,
  price,
});

Deno.test("INFORM_Req for a purchase being bought is answered with the buyer's details", () => {
  const { peer, rq } = buyer({ payment: PAYMENT });
  const effects = peer.tcp(1, informReq("T1", "LAPTOP", 480));
  assert.deepEqual(tcpSent(effects), [[1, {
    type: "INFORM_Res",
    rq: "T1",
    name: "alice",
    card: CARD,
    expiry: EXPIRY,
    address: "42 Main St",
  }]]);
  assert.deepEqual(closed(effects), []);
  assert.deepEqual(printed(effects), [{
    event: "INFORM_Req",
    text: `Sending payment details for Laptop (480) as buyer, card ${MASKED}`,
    fields: { rq: "T1", item: "Laptop", price: 480, role: "buyer", card: MASKED },
  }]);
  // The purchase remembers its transaction, never the card.
  assert.deepEqual(peer.store.snapshot().requests?.[0]?.transaction, { tx: "T1", price: 480 });
  assert.equal(peer.agent.requests[0]?.rq, rq);
  assertNoSecrets(effects);
});

Deno.test("a buyer with two purchases of one item answers for the one at the asked price", () => {
  const peer = new Harness({ autoBuy: true, payment: PAYMENT });
  peer.register();
  const cheap = only(sent(peer.line("buy Laptop 500"))).rq;
  const dear = only(sent(peer.line("buy laptop 900"))).rq;
  peer.receive({ type: "FOUND", rq: cheap, item: "Laptop", price: 480 });
  peer.receive({ type: "FOUND", rq: dear, item: "laptop", price: 850 });
  peer.tcp(1, informReq("T1", "Laptop", 850));
  assert.deepEqual(
    peer.agent.requests.map((r) => [r.rq, r.transaction?.tx]),
    [[cheap, undefined], [dear, "T1"]],
  );
  // The other one is not taken twice: a second INFORM_Req gets the first.
  peer.tcp(2, informReq("T2", "Laptop", 850));
  assert.deepEqual(
    peer.agent.requests.map((r) => [r.rq, r.transaction?.tx]),
    [[cheap, "T2"], [dear, "T1"]],
  );
});

Deno.test("INFORM_Req for a reserved item is answered as the seller", () => {
  const peer = seller({ payment: PAYMENT });
  const effects = peer.tcp(3, informReq("T1", "laptop", 500));
  assert.equal(only(tcpSent(effects))[1].type, "INFORM_Res");
  assert.equal(
    only(printed(effects)).text,
    `Sending payment details for Laptop (500) as seller, card ${MASKED}`,
  );
  assert.equal(only(printed(effects)).fields?.role, "seller");
  assert.deepEqual(peer.store.snapshot().items?.[0]?.transaction, { tx: "T1", price: 500 });
});

Deno.test("a peer buying an item while selling one of that name tells the two by price", () => {
  const { peer, rq } = buyer({ payment: PAYMENT });
  peer.line("sell laptop 700");
  peer.receive({ type: "RESERVE", rq: "S1", item: "Laptop", price: 700 });
  // The sale's INFORM_Req comes first.
  assert.equal(only(printed(peer.tcp(1, informReq("T1", "Laptop", 700)))).fields?.role, "seller");
  assert.equal(only(printed(peer.tcp(2, informReq("T2", "Laptop", 480)))).fields?.role, "buyer");
  peer.tcp(1, { type: "Shipping_Info", rq: "T1", name: "carol", address: "1 Oak" });
  peer.tcp(2, { type: "Shipping_Info", rq: "T2", name: "alice", address: "42 Main St" });
  assert.deepEqual(peer.agent.history.map((e) => [e.tx, e.role, e.price]), [
    ["T1", "seller", 700],
    ["T2", "buyer", 480],
  ]);
  assert.equal(peer.agent.requests.find((r) => r.rq === rq)?.state, "bought");
  assert.deepEqual(peer.agent.items, []);
});

Deno.test("INFORM_Req for nothing bought or reserved here is answered CANCEL and closed", async (t) => {
  const cases: [string, () => Harness][] = [
    ["an unknown item", () => seller({ payment: PAYMENT })],
    ["an item for sale but not reserved", () => {
      const peer = new Harness({ payment: PAYMENT });
      peer.line("sell Phone 100");
      return peer;
    }],
    ["a search still waiting for an offer", () => {
      const peer = new Harness({ payment: PAYMENT });
      peer.register();
      peer.line("buy Phone 100");
      return peer;
    }],
  ];
  for (const [name, make] of cases) {
    await t.step(name, () => {
      const peer = make();
      const effects = peer.tcp(7, informReq("T9", "Phone", 100));
      assert.deepEqual(tcpSent(effects), [[7, {
        type: "TX_CANCEL",
        rq: "T9",
        reason: "no purchase or sale of Phone here",
      }]]);
      assert.deepEqual(closed(effects), [7]);
      assert.deepEqual(events(effects), ["warning"]);
      assert.deepEqual(writes(effects), []);
    });
  }
});

Deno.test("without --payment the details are asked for, card and expiry as secrets", async (t) => {
  const { peer } = buyer();
  let effects: PeerEffect[] = [];

  await t.step("INFORM_Req asks for the card number first", () => {
    effects = peer.tcp(1, informReq());
    assert.deepEqual(tcpSent(effects), []);
    const prompt = only(printed(effects));
    assert.equal(prompt.event, "prompt");
    assert.equal(prompt.text, "Card number for buyer of Laptop (480):");
    assert.deepEqual(prompt.fields, {
      rq: "T1",
      question: prompt.text,
      about: "CARD",
      item: "Laptop",
      price: 480,
      role: "buyer",
      secret: true,
    });
    assert.equal(peer.agent.secretPrompt, true);
    assert.equal(peer.agent.paymentPrompt, true);
  });

  await t.step("the card (spaces and dashes allowed) is followed by the expiry", () => {
    effects = peer.line("4111 1111-1111 1111");
    assert.deepEqual(printed(effects).map((o) => o.text), ["Expiry (MM/YY):"]);
    assert.equal(peer.agent.secretPrompt, true);
    assertNoSecrets(effects);
  });

  await t.step("then the address, which is not a secret", () => {
    effects = peer.line(` ${EXPIRY} `);
    assert.deepEqual(printed(effects).map((o) => o.text), ["Address:"]);
    assert.equal(peer.agent.secretPrompt, false);
    assert.equal(peer.agent.paymentPrompt, true);
    assertNoSecrets(effects);
  });

  await t.step("the address completes the details and INFORM_Res goes out", () => {
    effects = peer.line("  42   Main St ");
    assert.deepEqual(tcpSent(effects), [[1, {
      type: "INFORM_Res",
      rq: "T1",
      name: "alice",
      card: CARD,
      expiry: EXPIRY,
      address: "42 Main St",
    }]]);
    assert.deepEqual(events(effects), ["INFORM_Req"]);
    assert.equal(peer.agent.paymentPrompt, false);
    assertNoSecrets(effects);
  });

  await t.step(
    "the details are kept for the session: the next INFORM_Req is answered at once",
    () => {
      peer.line("sell Bike 200");
      peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 200 });
      effects = peer.tcp(2, informReq("T2", "Bike", 200));
      assert.equal(only(tcpSent(effects))[1].type, "INFORM_Res");
      assert.deepEqual(events(effects), ["INFORM_Req"]);
    },
  );

  await t.step("but never stored", () => {
    assert.ok(!JSON.stringify([...peer.store.records]).includes(CARD));
    assert.ok(!JSON.stringify([...peer.store.records]).includes(EXPIRY));
  });
});

Deno.test("payment questions come before the waiting questions, after the one on screen", () => {
  const peer = new Harness();
  peer.register();
  peer.line("sell Bike 200");
  peer.line("sell Laptop 500");
  const camera = only(sent(peer.line("buy Camera 300"))).rq;
  peer.receive({ type: "FOUND", rq: camera, item: "Camera", price: 250 });
  peer.receive({ type: "NEGOTIATE", rq: "S9", item: "Bike", maxPrice: 150 });
  peer.receive({ type: "RESERVE", rq: "S1", item: "Laptop", price: 500 });
  // The FOUND question is on screen; its answer may be typed already.
  const asked = peer.tcp(1, informReq("T1", "Laptop", 500));
  assert.deepEqual(printed(asked), []);
  assert.deepEqual(peer.agent.questions.map((q) => q.about), [
    "FOUND",
    "CARD",
    "NEGOTIATE",
  ]);
  const answered = peer.line("n");
  assert.deepEqual(sent(answered).map((m) => m.type), ["CANCEL"]);
  assert.equal(printed(answered).at(-1)?.text, "Card number for seller of Laptop (500):");
  peer.line(CARD);
  peer.line(EXPIRY);
  const done = peer.line("42 Main St");
  assert.equal(only(tcpSent(done))[1].type, "INFORM_Res");
  // The NEGOTIATE question is asked after.
  assert.equal(printed(done).at(-1)?.fields?.about, "NEGOTIATE");
});

Deno.test("one round of questions answers every INFORM_Req that waits for it", () => {
  const { peer } = buyer();
  peer.line("sell Bike 200");
  peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 200 });
  peer.tcp(1, informReq());
  assert.deepEqual(printed(peer.tcp(2, informReq("T2", "Bike", 200))), []);
  peer.line(CARD);
  peer.line(EXPIRY);
  const done = peer.line("42 Main St");
  assert.deepEqual(tcpSent(done).map(([conn, m]) => [conn, m.type, m.rq]), [
    [1, "INFORM_Res", "T1"],
    [2, "INFORM_Res", "T2"],
  ]);
});

Deno.test("details that are not valid are answered with CANCEL, and asked again next time", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["a card of letters", ["y"], /^the card number is not valid: expected 12 to 19 digits$/],
    ["a short card", ["41111"], /card number is not valid/],
    ["a bad expiry", [CARD, "4/29"], /^the card expiry is not valid: expected a month and year/],
    ["an empty address", [CARD, EXPIRY, "   "], /^the address is not valid: must not be empty$/],
    ["Ctrl-C", [CARD, "\u0003"], /^the payment details were not given$/],
  ];
  for (const [name, lines, reason] of cases) {
    await t.step(name, () => {
      const { peer, rq } = buyer();
      peer.tcp(1, informReq());
      let effects: PeerEffect[] = [];
      for (const line of lines) effects = peer.line(line);
      const [conn, cancel] = only(tcpSent(effects));
      assert.equal(conn, 1);
      assert.equal(cancel.type, "TX_CANCEL");
      assert.equal(cancel.rq, "T1");
      assert.match((cancel as { reason: string }).reason, reason);
      assert.deepEqual(closed(effects), [1]);
      const output = only(printed(effects));
      assert.equal(output.event, "CANCEL");
      assert.match(output.text, /^Purchase of Laptop cancelled: /);
      assert.equal(output.fields?.by, "you");
      const request = peer.agent.requests.find((r) => r.rq === rq);
      assert.equal(request?.state, "cancelled");
      assert.match(request?.reason ?? "", reason);
      assertNoSecrets(effects);
      assert.equal(peer.agent.secretPrompt, false);
      // Nothing was kept: the next transaction asks again.
      peer.line("sell Bike 200");
      peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 200 });
      assert.equal(
        only(printed(peer.tcp(2, informReq("T2", "Bike", 200)))).fields?.about,
        "CARD",
      );
    });
  }
  await t.step("every abort key counts", () => {
    assert.deepEqual([...ABORT_INPUT], ["\u0003", "\u0004"]);
  });
});

Deno.test("a connection that closes while details are asked ends the questions", () => {
  const { peer } = buyer();
  peer.tcp(1, informReq());
  const effects = peer.tcpClosed(1, "remote");
  assert.deepEqual(peer.agent.questions, []);
  assert.equal(peer.agent.secretPrompt, false);
  assert.ok(printed(effects).some((o) => /No longer asking for payment details/.test(o.text)));
  // The next line is a command again.
  assert.deepEqual(events(peer.line("status")), ["status"]);
});

Deno.test("Shipping_Info to the seller sells the item, records the sale and closes", async (t) => {
  const peer = seller({ payment: PAYMENT });
  peer.tcp(3, informReq("T1", "Laptop", 500));
  const effects = peer.tcp(3, {
    type: "Shipping_Info",
    rq: "T1",
    name: "bob",
    address: "7 Elm Road",
  }, T0 + 60_000);

  await t.step("prints where to ship and what the seller gets", () => {
    assert.deepEqual(printed(effects), [{
      event: "Shipping_Info",
      text: "Sold Laptop to bob for 500 (you get 450 after the 10% fee): ship to 7 Elm Road",
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
    "Sold Laptop to bob for 450 (you get 405 after the 10% fee): ship to 7 Elm Road",
  );
  assert.deepEqual(after.agent.items, []);
  assert.equal(store.snapshot().history?.[0]?.credit, 405);
});

Deno.test("a Shipping_Info that settles nothing here is warned about and changes nothing", () => {
  const peer = seller({ payment: PAYMENT });
  peer.tcp(3, informReq("T1", "Laptop", 500));
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
  assert.equal(output.text, "Bought Laptop from bob for 480; it ships to 42 Main St");
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
    const effects = peer.tcpClosed(1, "remote");
    const output = only(printed(effects));
    assert.equal(output.event, "bought");
    assert.equal(output.text, "Bought Laptop from bob for 480; it ships to 42 Main St");
    assert.equal(output.fields?.receipt, false);
    assert.equal(peer.agent.requests[0]?.state, "bought");
    assert.equal(peer.store.snapshot().history?.length, 1);
  });

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
  const peer = seller({ payment: PAYMENT });
  peer.tcp(3, informReq("T1", "Laptop", 500));
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
    assert.equal(only(printed(effects)).text, "Purchase of Laptop cancelled: the card has expired");
    assert.equal(only(printed(effects)).fields?.role, "buyer");
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
    assert.deepEqual(events(effects), ["CANCEL"]);
    assert.equal(peer.agent.requests[0]?.reason, "the card has expired");
  });
});

Deno.test("a connection sending what does not parse is answered and closed", () => {
  const peer = seller({ payment: PAYMENT });
  peer.tcp(3, informReq("T1", "Laptop", 500));
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
      "TIME (UTC)        ROLE    ITEM     PRICE  FEE  SELLER GOT  WITH",
      "2026-11-25 00:00  bought  Laptop     480   48         432  bob",
      "2026-11-25 00:01  sold    Bike    199.99   20      179.99  carol",
      "Bought 1 for 480; sold 1 for 199.99 and received 179.99 after 20 in fees",
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
    assert.match(output.text, /Laptop\s+500\s+bought\s+480\s+bob/);
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

Deno.test("splitPrice keeps 10% in cents", () => {
  assert.deepEqual(splitPrice(500), { fee: 50, sellerShare: 450 });
  assert.deepEqual(splitPrice(199.99), { fee: 20, sellerShare: 179.99 });
  assert.deepEqual(splitPrice(0.05), { fee: 0.01, sellerShare: 0.04 });
  assert.deepEqual(splitPrice(0), { fee: 0, sellerShare: 0 });
});
