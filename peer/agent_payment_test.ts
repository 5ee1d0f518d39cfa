/** The agent answering INFORM_Req: which purchase or sale it is for, and the payment details given or asked for. */
import assert from "node:assert/strict";
import type { PeerEffect } from "./agent.ts";
import { ABORT_INPUT } from "./agent.ts";
import {
  buyer,
  CARD,
  closed,
  events,
  EXPIRY,
  Harness,
  informReq,
  only,
  PAYMENT,
  printed,
  seller,
  sent,
  tcpSent,
  writes,
} from "./_agent_harness.ts";

const MASKED = "************1111";

/** Everything but the INFORM_Res itself must be free of the card and expiry. */
function assertNoSecrets(effects: PeerEffect[]): void {
  const rest = effects.filter((e) => !(e.kind === "tcp-send" && e.message.type === "INFORM_Res"));
  const text = JSON.stringify(rest);
  assert.ok(!text.includes(CARD), `card number leaked: ${text}`);
  assert.ok(!text.includes(EXPIRY), `expiry leaked: ${text}`);
}

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
    text: `Sending payment details for Laptop (480.00) as buyer, card ${MASKED}`,
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
    `Sending payment details for Laptop (500.00) as seller, card ${MASKED}`,
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
    assert.equal(prompt.text, "Card number for buyer of Laptop (480.00):");
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
  assert.equal(printed(answered).at(-1)?.text, "Card number for seller of Laptop (500.00):");
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

Deno.test("a detail that is not valid is asked again, and the transaction goes on", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["a card of letters", ["y"], /^Error: The card number is not valid: expected 12 to 19 digits/],
    ["a short card", ["41111"], /card number is not valid/],
    [
      "a card failing the Luhn check",
      ["4111 1111 1111 1112"],
      /^Error: The card number is not valid: its check digit is wrong \(Luhn\)/,
    ],
    ["a bad expiry", [CARD, "4/29"], /^Error: The card expiry is not valid: expected a month/],
    [
      "an expired card",
      [CARD, "10/26"],
      /^Error: The card expiry is not valid: the card has expired/,
    ],
    [
      "an empty address",
      [CARD, EXPIRY, "   "],
      /^Error: The address is not valid: must not be empty/,
    ],
    // Pasted with the card and expiry, a security code lands here.
    ["a security code as the address", [CARD, EXPIRY, "987"], /address is not valid: it is digits/],
    ["the card again as the address", [CARD, EXPIRY, "4111 1111 1111 1111"], /digits only/],
    ["an expiry as the address", [CARD, EXPIRY, " 12/29 "], /digits only/],
  ];
  for (const [name, lines, error] of cases) {
    await t.step(name, () => {
      const { peer } = buyer();
      const asked = printed(peer.tcp(1, informReq()));
      let effects: PeerEffect[] = [];
      for (const line of lines) effects = peer.line(line);
      assert.deepEqual(tcpSent(effects), [], "no CANCEL");
      const [shown, again] = printed(effects);
      assert.equal(shown?.event, "error");
      assert.match(shown?.text ?? "", error);
      assert.match(shown?.text ?? "", /: type it again \(2 tries left\), or cancel to give none$/);
      assert.equal(again?.event, "prompt", "the same question again");
      const about = lines.length === 1 ? "CARD" : lines.length === 2 ? "EXPIRY" : "ADDRESS";
      assert.equal(again?.fields?.about, about);
      if (about === "CARD") assert.equal(again?.text, asked[0]?.text);
      assert.equal(peer.agent.secretPrompt, about !== "ADDRESS");
      assertNoSecrets(effects);
      assert.ok(!JSON.stringify(effects).includes("987"), "the security code is not quoted");
      // The right answer now goes on.
      const rest = [CARD, EXPIRY, "42 Main St"].slice(lines.length - 1);
      for (const line of rest) effects = peer.line(line);
      assert.equal(only(tcpSent(effects))[1].type, "INFORM_Res");
    });
  }
});

Deno.test("three details not valid in a row end the transaction with CANCEL, and nothing is kept", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["three bad cards", ["1", "2", "3"], /^the card number is not valid: .* \(3 tries\)$/],
    [
      "two bad expiries after a good card",
      [CARD, "13/30", "1/30", "01/20"],
      /^the card expiry is not valid: the card has expired \(3 tries\)$/,
    ],
    ["Ctrl-C", [CARD, "\u0003"], /^the payment details were not given$/],
    ["cancel typed at the card prompt", ["cancel"], /^the payment details were not given$/],
    [
      "Cancel typed at the address prompt",
      [CARD, EXPIRY, " Cancel "],
      /^the payment details were not given$/,
    ],
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

Deno.test("details the server refused are forgotten: the next transaction asks again", async (t) => {
  const reasons: [string, "buyer" | "seller", boolean][] = [
    ["the buyer's card number ************1111 is invalid", "buyer", true],
    ["the buyer's card has expired", "buyer", true],
    ["the card was declined", "buyer", true],
    ["the buyer gave no address", "buyer", true],
    ["the seller's card number ************4444 is invalid", "buyer", false],
    ["the buyer did not answer in time", "buyer", false],
    ["the seller's card has expired", "seller", true],
    ["the buyer's card has expired", "seller", false],
    ["the card was declined", "seller", false],
  ];
  for (const [reason, role, forgets] of reasons) {
    await t.step(`${role}, ${JSON.stringify(reason)}: ${forgets ? "forgotten" : "kept"}`, () => {
      const peer = role === "buyer"
        ? buyer({ payment: PAYMENT }).peer
        : seller({ payment: PAYMENT });
      const item = role === "buyer" ? "Laptop" : "laptop";
      const price = role === "buyer" ? 480 : 500;
      assert.equal(only(tcpSent(peer.tcp(1, informReq("T1", item, price))))[1].type, "INFORM_Res");
      const effects = peer.tcp(1, { type: "TX_CANCEL", rq: "T1", reason });
      assert.deepEqual(events(effects), forgets ? ["CANCEL", "warning"] : ["CANCEL"]);
      if (forgets) {
        assert.match(
          printed(effects)[1]!.text,
          /^Forgot the payment details the server refused \(card \*+1111\): .*type payment/,
        );
      }
      assertNoSecrets(effects);
      peer.line("sell Bike 200");
      peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 200 });
      const next = peer.tcp(2, informReq("T2", "Bike", 200));
      assert.equal(
        printed(next)[0]?.fields?.about ?? printed(next)[0]?.event,
        forgets ? "CARD" : "INFORM_Req",
      );
    });
  }
});

Deno.test("the payment command asks for the details ahead, payment clear forgets them", async (t) => {
  const { peer } = buyer();
  await t.step("payment asks card, expiry and address, checked as at a transaction", () => {
    const asked = only(printed(peer.line("payment")));
    assert.equal(asked.text, "Card number (kept for this session, never stored):");
    assert.equal(peer.agent.secretPrompt, true);
    const bad = printed(peer.line("4111111111111112"));
    assert.deepEqual(bad.map((o) => o.event), ["error", "prompt"]);
    peer.line(CARD);
    peer.line(EXPIRY);
    const done = peer.line("42 Main St");
    assert.deepEqual(printed(done).map((o) => o.text), [
      `Payment details kept for this session: card ${MASKED}`,
    ]);
    assertNoSecrets(done);
    assert.equal(peer.agent.paymentPrompt, false);
  });
  await t.step("a transaction then uses them at once", () => {
    assert.equal(only(tcpSent(peer.tcp(1, informReq())))[1].type, "INFORM_Res");
  });
  await t.step("payment clear forgets them: the next transaction asks", () => {
    assert.equal(
      only(printed(peer.line("payment clear"))).text,
      `Forgot the payment details (card ${MASKED}): the next purchase or sale asks for them`,
    );
    peer.line("sell Bike 200");
    peer.receive({ type: "RESERVE", rq: "S2", item: "Bike", price: 200 });
    assert.equal(
      only(printed(peer.tcp(2, informReq("T2", "Bike", 200)))).fields?.about,
      "CARD",
    );
  });
  await t.step("payment while the details are asked says so", () => {
    // The line answers the card question: it is no command then.
    assert.deepEqual(events(peer.line("payment")), ["error", "prompt"]);
  });
});

Deno.test("a card prompt withdrawn while on screen: lines stay secret and discarded until an empty one", () => {
  const { peer } = buyer();
  peer.tcp(1, informReq());
  assert.equal(peer.agent.secretPrompt, true);
  const effects = peer.tcpClosed(1, "remote");
  assert.deepEqual(peer.agent.questions, []);
  assert.match(
    printed(effects).at(-1)!.text,
    /^No longer asking for payment details: .*What you type is hidden and discarded until you press Enter on an empty line$/,
  );
  // The shell keeps the terminal from echoing, and does not log the lines:
  // the card, its expiry and the address typed ahead are all dropped.
  for (const line of [CARD, EXPIRY, "42 Main St"]) {
    assert.equal(peer.agent.secretPrompt, true);
    assert.equal(peer.agent.paymentPrompt, true);
    const typed = peer.line(line);
    assert.deepEqual(events(typed), ["withdrawn"]);
    assert.match(printed(typed)[0]!.text, /^Discarded a line .*empty line/);
    assertNoSecrets(typed);
  }
  assert.deepEqual(events(peer.line("")), ["withdrawn"]);
  assert.equal(peer.agent.secretPrompt, false);
  // The next line is a command again.
  assert.deepEqual(events(peer.line("status")), ["status"]);
});

Deno.test("an address prompt withdrawn: nothing secret follows, the next line is a command", () => {
  const { peer } = buyer();
  peer.tcp(1, informReq());
  peer.line(CARD);
  peer.line(EXPIRY);
  const effects = peer.tcpClosed(1, "remote");
  assert.equal(
    printed(effects).at(-1)!.text,
    "No longer asking for payment details: the server closed the transaction",
  );
  assert.equal(peer.agent.secretPrompt, false);
  assert.deepEqual(events(peer.line("status")), ["status"]);
});

Deno.test("status says which payment details are kept; an interrupted payment keeps the old ones", async (t) => {
  const peer = new Harness();
  const status = () => printed(peer.line("status"))[0]!;
  await t.step("none at first", () => {
    assert.match(status().text, /^ {2}payment details: none kept \(/m);
    assert.equal(status().fields?.paymentCardLast4, null);
  });
  peer.line("payment");
  peer.line(CARD);
  peer.line(EXPIRY);
  peer.line("42 Main St");
  await t.step("the card's last four once kept, never the number", () => {
    const shown = status();
    assert.match(shown.text, /^ {2}payment details: card ending 1111, kept for this session$/m);
    assert.equal(shown.fields?.paymentCardLast4, "1111");
    assert.ok(!JSON.stringify(shown).includes(CARD));
  });
  await t.step("Ctrl-C at the card prompt of payment says nothing changed", () => {
    peer.line("payment");
    peer.line("4111");
    const aborted = printed(peer.line("\x03"));
    assert.deepEqual(aborted.map((output) => output.text), [
      "Nothing changed: the payment details kept before (card ending 1111) stay",
    ]);
    assert.match(status().text, /card ending 1111, kept/);
  });
});
