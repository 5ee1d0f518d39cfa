/**
 * The peer's reliability and security rules, on the pure state machine:
 * times are explicit, nothing sleeps.
 */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { DEFAULT_RETRANSMIT } from "../transport/reliability.ts";
import { type KeyInfo, PLAINTEXT_REASON, UNAUTHENTICATED_REASON } from "./agent.ts";
import { events, Harness, MemoryStore, only, printed, sent, T0 } from "./_agent_harness.ts";
import type { PaymentDetails } from "./payment.ts";

const OURS = ["from", "ack", "no-offer"];
const SECURE = [...OURS, "auth"];
const KEY: KeyInfo = { key: "peer-public-key", fingerprint: "peerfp" };
const SERVER_KEY: KeyInfo = { key: "server-public-key", fingerprint: "serverfp" };
const PAYMENT: PaymentDetails = {
  card: "4111111111111111",
  expiry: "11/30",
  address: "42 Main St",
};

/** The round trip the REGISTER of {@linkcode registered} measures. */
const RTT = 100;
/** The timeout that RTT gives (RFC 6298: SRTT + 4 × RTTVAR = RTT + 4 × RTT/2). */
const RTO = 3 * RTT;

/**
 * A peer registered a minute before T0 with our server agreeing `ack` and
 * `no-offer`, its REGISTERED coming after {@linkcode RTT} ms.
 */
function registered(features = OURS, options = {}): Harness {
  const peer = new Harness(options);
  const register = only(sent(peer.line("register", T0 - 60_000)));
  peer.receive({ type: "REGISTERED", rq: register.rq, extensions: features }, T0 - 60_000 + RTT);
  return peer;
}

function acks(effects: ReturnType<Harness["line"]>): Message[] {
  return sent(effects).filter((message) => message.type === "ACK");
}

function others(effects: ReturnType<Harness["line"]>): Message[] {
  return sent(effects).filter((message) => message.type !== "ACK");
}

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

  await t.step("a late FOUND for the failed search is acknowledged, not acted on", () => {
    const effects = peer.receive({ type: "FOUND", rq: looking.rq, item: "Lamp", price: 20 });
    assert.deepEqual(acks(effects), [{ type: "ACK", rq: looking.rq, of: "FOUND" }]);
    assert.deepEqual(others(effects), []);
    assert.deepEqual(events(effects), ["warning"]);
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
  assert.equal(peer.agent.nextDeadline(), undefined, "no LOOKING_FOR retransmission");
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
    "Server not answering: REGISTER got no reply after 2 tries",
  );
  assert.equal(peer.agent.pendingCount, 0);
  assert.equal(peer.agent.registered, false);
  // A REGISTERED that comes after all is a stranger's answer now.
  assert.deepEqual(events(peer.receive({ type: "REGISTERED", rq: register.rq })), ["warning"]);
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

Deno.test("a SEARCH the peer cannot serve gets NO_OFFER from our server's peers", async (t) => {
  const peer = registered();
  peer.line("sell Laptop 500");

  await t.step("an item not in the inventory", () => {
    const effects = peer.receive({ type: "SEARCH", rq: "S1", item: "Phone", description: "" });
    assert.deepEqual(others(effects), [{
      type: "NO_OFFER",
      rq: "S1",
      name: "alice",
      item: "Phone",
    }]);
    assert.deepEqual(printed(effects), []);
    assert.equal(peer.agent.pendingCount, 1, "NO_OFFER is sent again until acknowledged");
    peer.receive({ type: "ACK", rq: "S1", of: "NO_OFFER" });
    assert.equal(peer.agent.pendingCount, 0);
  });

  await t.step("a reserved item", () => {
    peer.receive({ type: "RESERVE", rq: "S0", item: "Laptop", price: 500 });
    const effects = peer.receive({ type: "SEARCH", rq: "S2", item: "laptop", description: "" });
    assert.deepEqual(others(effects), [
      { type: "NO_OFFER", rq: "S2", name: "alice", item: "laptop" },
    ]);
  });

  await t.step("a repeated SEARCH gets the same answer, though the inventory changed", () => {
    peer.line("sell Phone 90");
    const effects = peer.receive({ type: "SEARCH", rq: "S1", item: "Phone", description: "" });
    assert.deepEqual(others(effects), [{
      type: "NO_OFFER",
      rq: "S1",
      name: "alice",
      item: "Phone",
    }]);
  });

  await t.step("without no-offer agreed, the peer stays silent as classic peers do", () => {
    const classic = registered(["from", "ack"]);
    const effects = classic.receive({ type: "SEARCH", rq: "S1", item: "Phone", description: "" });
    assert.deepEqual(others(effects), []);
  });
});

Deno.test("DENIED ends a search as denied, with the server's reason", () => {
  const peer = registered();
  const rq = only(sent(peer.line("buy Lamp 30", T0))).rq;
  const effects = peer.receive(
    { type: "DENIED", rq, reason: "too many open searches (8)" },
    T0 + 5,
  );
  const output = only(printed(effects));
  assert.equal(output.event, "DENIED");
  assert.equal(output.text, "The server denied the search for Lamp: too many open searches (8)");
  assert.deepEqual(output.fields, { rq, reason: "too many open searches (8)", item: "Lamp" });
  assert.equal(peer.agent.requests[0]?.state, "denied");
  assert.equal(peer.store.snapshot().requests?.[0]?.reason, "too many open searches (8)");
  assert.equal(peer.agent.nextDeadline(), undefined, "LOOKING_FOR is not sent again");
  assert.deepEqual(printed(peer.receive({ type: "DENIED", rq, reason: "again" })), []);
});

Deno.test("deregister when not registered is a local error: nothing is sent", () => {
  const peer = new Harness();
  const effects = peer.line("deregister");
  assert.deepEqual(sent(effects), []);
  const output = only(printed(effects));
  assert.equal(output.event, "error");
  assert.equal(output.text, "Error: Not registered: nothing to de-register");
  assert.equal(peer.agent.pendingCount, 0);
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

Deno.test("with a key: REGISTER offers auth, and the verified server key shows in status", async (t) => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));

  await t.step("auth is offered", () => {
    assert.deepEqual(register.type === "REGISTER" && register.extensions, [...OURS, "auth"]);
  });

  await t.step("the REGISTERED's signature tokens are no features", () => {
    const effects = peer.agent.handle({
      kind: "message",
      from: { hostname: "127.0.0.1", port: 5000 },
      message: { type: "REGISTERED", rq: register.rq, extensions: [...SECURE, "key=K", "sig=S"] },
      at: T0,
      serverKey: SERVER_KEY,
    });
    const output = only(printed(effects));
    assert.equal(
      output.text,
      "Registered as alice with 127.0.0.1:5000 (authenticated, server key serverfp)",
    );
    assert.deepEqual(peer.agent.features, SECURE);
    assert.equal(peer.agent.authenticated, true);
  });

  await t.step("status shows both fingerprints and the session", () => {
    const status = only(printed(peer.line("status")));
    assert.equal(status.fields?.keyFingerprint, "peerfp");
    assert.equal(status.fields?.serverKeyFingerprint, "serverfp");
    assert.equal(status.fields?.authenticated, true);
    assert.match(
      status.text,
      /key peerfp; server key serverfp \(pinned at the first registration\)/,
    );
    assert.match(status.text, /session authenticated: MAC on every datagram, TLS on the TCP port/);
  });

  await t.step("key prints the public key", () => {
    const output = only(printed(peer.line("key")));
    assert.equal(output.event, "key");
    assert.deepEqual(output.fields, { key: "peer-public-key", fingerprint: "peerfp" });
    assert.match(output.text, /peer-public-key/);
  });
});

Deno.test("the shell's refusal of a REGISTERED ends the registration with its reason", () => {
  const peer = new Harness({ key: KEY, serverKey: SERVER_KEY, serverKeyGiven: true });
  const register = only(sent(peer.line("register", T0)));
  const effects = peer.agent.handle({
    kind: "refused",
    rq: register.rq,
    reason: "the server signed with key other, not the pinned key serverfp",
    at: T0 + 5,
  });
  const output = only(printed(effects));
  assert.equal(output.event, "refused");
  assert.match(output.text, /^Registration refused: the server signed with key other/);
  assert.equal(peer.agent.registered, false);
  assert.equal(peer.agent.nextDeadline(), undefined);
});

Deno.test("a REGISTER-DENIED is not retried unsigned when the server's key is known", () => {
  const peer = new Harness({ key: KEY, serverKey: SERVER_KEY });
  const register = only(sent(peer.line("register")));
  const effects = peer.receive({
    type: "REGISTER-DENIED",
    rq: register.rq,
    reason: "name alice is bound to another key",
  });
  assert.deepEqual(sent(effects), []);
  assert.equal(
    only(printed(effects)).text,
    "Registration denied: name alice is bound to another key",
  );
});

Deno.test("our server's refusal of the unsigned retry reports the signed REGISTER's denial", () => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));
  const retry = only(
    sent(peer.receive({ type: "REGISTER-DENIED", rq: register.rq, reason: "odd" })),
  );
  assert.equal(retry.type, "REGISTER");
  assert.equal("extensions" in retry, false);
  const effects = peer.receive({
    type: "REGISTER-DENIED",
    rq: retry.rq,
    reason: "auth required: this server",
  });
  assert.equal(only(printed(effects)).text, "Registration denied: odd");
});

Deno.test("card data goes over plain TCP only with --allow-plaintext", async (t) => {
  function buying(options: { allowPlaintext?: boolean }) {
    const peer = new Harness({ autoBuy: true, payment: PAYMENT, ...options });
    peer.register("classic");
    const rq = only(sent(peer.line("buy Laptop 500"))).rq;
    peer.receive({ type: "FOUND", rq, item: "Laptop", price: 480 });
    return peer;
  }
  const informReq: Message = { type: "INFORM_Req", rq: "T1", item: "Laptop", price: 480 };

  await t.step(
    "refused by default: CANCEL with the reason, a clear line, the purchase ends",
    () => {
      const peer = buying({});
      const effects = peer.tcp(1, informReq);
      const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message] : []);
      assert.deepEqual(tcp, [{ type: "TX_CANCEL", rq: "T1", reason: PLAINTEXT_REASON }]);
      assert.ok(effects.some((e) => e.kind === "tcp-close" && e.conn === 1));
      const output = only(printed(effects));
      assert.equal(output.event, "plaintext-refused");
      assert.match(output.text, /the server offers no TLS.*--allow-plaintext/);
      assert.ok(!JSON.stringify(effects).includes(PAYMENT.card));
      assert.equal(peer.agent.requests[0]?.state, "cancelled");
    },
  );

  await t.step("sent with --allow-plaintext", () => {
    const peer = buying({ allowPlaintext: true });
    const effects = peer.tcp(1, informReq);
    const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message.type] : []);
    assert.deepEqual(tcp, ["INFORM_Res"]);
  });
});

Deno.test("a TCP message without the server's MAC is answered CANCEL, never card data", () => {
  const peer = new Harness({ autoBuy: true, payment: PAYMENT });
  peer.register();
  const effects = peer.agent.handle({
    kind: "tcp-unauthenticated",
    conn: 4,
    rq: "T9",
    why: "bad mac",
    at: T0,
  });
  const tcp = effects.flatMap((e) => e.kind === "tcp-send" ? [e.message] : []);
  assert.deepEqual(tcp, [{ type: "TX_CANCEL", rq: "T9", reason: UNAUTHENTICATED_REASON }]);
  assert.ok(effects.some((e) => e.kind === "tcp-close" && e.conn === 4));
  assert.equal(only(printed(effects)).event, "warning");
});

Deno.test("a restarted peer registers again, signed, and sends its open requests again", async (t) => {
  const store = new MemoryStore();
  const before = new Harness({ key: KEY }, store);
  const register = only(sent(before.line("register", T0)));
  before.agent.handle({
    kind: "message",
    from: { hostname: "127.0.0.1", port: 5000 },
    message: { type: "REGISTERED", rq: register.rq, extensions: SECURE },
    at: T0,
    serverKey: SERVER_KEY,
  });
  store.apply([{
    kind: "save",
    key: ["registration"],
    value: {
      registered: true,
      server: "127.0.0.1:5000",
      changedAt: T0,
      serverKind: "ours",
      features: SECURE,
    },
  }]);
  const searching = only(sent(before.line("buy Lamp 30", T0 + 1)));
  const buying = only(sent(before.line("buy Desk 90", T0 + 2))).rq;
  before.receive({ type: "FOUND", rq: buying, item: "Desk", price: 80 }, T0 + 3);
  before.line("y", T0 + 4);

  const after = new Harness({ key: KEY, serverKey: SERVER_KEY }, store, "alice-b");
  let again: Message;
  await t.step("start sends a REGISTER with auth", () => {
    again = only(sent(after.start(T0 + 100)));
    assert.equal(again.type, "REGISTER");
    assert.deepEqual(again.type === "REGISTER" && again.extensions, [...OURS, "auth"]);
  });

  await t.step("its REGISTERED takes up the open search and purchase", () => {
    const effects = after.agent.handle({
      kind: "message",
      from: { hostname: "127.0.0.1", port: 5000 },
      message: { type: "REGISTERED", rq: again.rq, extensions: SECURE },
      at: T0 + 150,
      serverKey: SERVER_KEY,
    });
    assert.equal(only(printed(effects)).fields?.again, true);
    assert.deepEqual(sent(effects), [searching, {
      type: "BUY",
      rq: buying,
      item: "Desk",
      price: 80,
    }]);
    assert.equal(after.agent.pendingCount, 2);
  });
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

Deno.test("RETRY to a signed REGISTER: sent again with the cookie signed in, a few times at most", async (t) => {
  const peer = new Harness({ key: KEY });
  const register = only(sent(peer.line("register")));
  const cookie = "1b2c3dAbCdEfGhIjKlMnOpQrSt_-";
  let pending = register.rq;

  await t.step("the server's RETRY brings a new REGISTER carrying the cookie", () => {
    assert.equal(peer.agent.awaits({ type: "RETRY", rq: register.rq, cookie }), true);
    const again = only(sent(peer.receive({ type: "RETRY", rq: register.rq, cookie })));
    assert.equal(again.type, "REGISTER");
    assert.notEqual(again.rq, register.rq);
    assert.deepEqual(again.type === "REGISTER" && again.extensions, [
      ...OURS,
      "auth",
      `cookie=${cookie}`,
    ]);
    pending = again.rq;
    // The first REGISTER is over: a RETRY for it again is not followed.
    assert.deepEqual(sent(peer.receive({ type: "RETRY", rq: register.rq, cookie })), []);
  });

  await t.step("a stream of RETRYs ends the registration after three", () => {
    for (let i = 2; i <= 3; i++) {
      pending = only(sent(peer.receive({ type: "RETRY", rq: pending, cookie }))).rq;
    }
    const over = peer.receive({ type: "RETRY", rq: pending, cookie });
    assert.deepEqual(sent(over), []);
    assert.match(only(printed(over)).text, /asked for its address cookie 3 times/);
    assert.equal(peer.agent.registered, false);
  });

  await t.step("a RETRY for nothing pending is ignored", () => {
    assert.deepEqual(sent(peer.receive({ type: "RETRY", rq: "nobody-1", cookie })), []);
  });
});
