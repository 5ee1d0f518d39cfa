/** The offer book in the market: routed searches, holds, quantities, browse, liveness, restarts. */
import assert from "node:assert/strict";
import { encode, MAX_MESSAGE_BYTES, type Message } from "../protocol/mod.ts";
import { Harness, lookingFor, offer, party, T0 } from "./_market_harness.ts";

const BOOK = ["from", "ack", "no-offer", "book"];
let seq = 0;

function list(h: Harness, seller: string, item: string, price: number, quantity = 1, at = T0) {
  return h.from(seller, {
    type: "LIST",
    rq: `${seller}-l${++seq}`,
    name: seller,
    seq: ++seq,
    item,
    price,
    quantity,
    description: "listed",
  }, at);
}

function types(messages: Message[]): string[] {
  return messages.filter((m) => m.type !== "ACK").map((m) => `${m.type} ${m.rq}`);
}

/** A market with our buyer and three of our sellers listing a Lamp at 30, 20 and 25. */
function lampMarket(): Harness {
  const h = new Harness();
  h.register("buyer", BOOK);
  for (const name of ["s1", "s2", "s3", "idle"]) h.register(name, BOOK);
  list(h, "s1", "Lamp", 30);
  list(h, "s2", "lamp", 20);
  list(h, "s3", "LAMP", 25);
  for (const name of ["s1", "s2", "s3"]) h.take(name);
  return h;
}

Deno.test("a search among our peers is decided from the book at once, no SEARCH sent", async (t) => {
  const h = lampMarket();
  await t.step("the cheapest lister within the max gets RESERVE; nobody gets SEARCH", () => {
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
    assert.deepEqual(h.take("s2"), [{ type: "RESERVE", rq: "S1", item: "Lamp", price: 20 }]);
    for (const name of ["s1", "s3", "idle"]) assert.deepEqual(h.take(name), [], name);
    assert.deepEqual(types(h.take("buyer")), []);
    assert.equal(h.market.request("S1")?.contacted, 0);
  });
  await t.step("its OFFER (held) gives the buyer FOUND from it", () => {
    h.from("s2", offer("S1", "s2", "Lamp", 20), T0 + 2);
    assert.deepEqual(h.take("buyer"), [{
      type: "FOUND",
      rq: "b1",
      item: "Lamp",
      price: 20,
      seller: "s2",
    }]);
    assert.equal(h.market.request("S1")?.state, "found");
    assert.deepEqual(types(h.take("s2")), [], "RESERVE is not sent twice");
  });
});

Deno.test("a declined RESERVE goes to the next cheapest lister; a silent one is released", async (t) => {
  const h = lampMarket();
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
  h.take("s2");
  await t.step("NO_OFFER from s2: RESERVE to s3 at 25", () => {
    h.from("s2", { type: "NO_OFFER", rq: "S1", name: "s2", item: "Lamp" }, T0 + 2);
    assert.deepEqual(h.take("s3"), [{ type: "RESERVE", rq: "S1", item: "Lamp", price: 25 }]);
  });
  await t.step(
    "s3 acknowledges the RESERVE, then is silent past the hold timeout: CANCEL to it, RESERVE to s1",
    () => {
      h.from("s3", { type: "ACK", rq: "S1", of: "RESERVE" }, T0 + 3);
      h.tick(T0 + 3 + 999);
      assert.deepEqual(h.take("s1"), [], "the hold time counts from the ACK");
      h.tick(T0 + 3 + 1_000);
      assert.deepEqual(types(h.take("s3")).at(-1), "CANCEL S1");
      assert.deepEqual(h.take("s1"), [{ type: "RESERVE", rq: "S1", item: "Lamp", price: 30 }]);
    },
  );
  await t.step("a late OFFER from s3 is released with CANCEL", () => {
    h.from("s3", offer("S1", "s3", "Lamp", 25), T0 + 1_100);
    assert.deepEqual(types(h.take("s3")), ["CANCEL S1"]);
  });
  await t.step("s1 declines too: NOT_AVAILABLE", () => {
    h.from("s1", { type: "NO_OFFER", rq: "S1", name: "s1", item: "Lamp" }, T0 + 1_200);
    assert.deepEqual(types(h.take("buyer")), ["NOT_AVAILABLE b1"]);
    assert.equal(h.market.request("S1")?.state, "not_available");
  });
});

Deno.test("every listing above the max: NEGOTIATE with the cheapest lister", () => {
  const h = lampMarket();
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 15), T0 + 1);
  assert.deepEqual(h.take("s2"), [{ type: "NEGOTIATE", rq: "S1", item: "Lamp", maxPrice: 15 }]);
  h.from("s2", { type: "ACCEPT", rq: "S1", item: "Lamp", maxPrice: 15 }, T0 + 2);
  assert.deepEqual(types(h.take("buyer")), ["FOUND b1"]);
  assert.deepEqual(types(h.take("s2")), ["RESERVE S1"]);
  assert.equal(h.market.request("S1")?.price, 15);
});

Deno.test("a mixed market: SEARCH only to classic peers, and a cheaper classic offer wins", () => {
  const h = lampMarket();
  h.register("classic");
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
  assert.deepEqual(types(h.take("classic")), ["SEARCH S1"]);
  for (const name of ["s1", "s2", "s3", "idle"]) assert.deepEqual(h.take(name), [], name);
  assert.equal(h.market.request("S1")?.contacted, 1);
  h.from("classic", offer("S1", "classic", "Lamp", 10), T0 + 2);
  assert.deepEqual(types(h.take("classic")), ["RESERVE S1"]);
  assert.deepEqual(h.take("buyer").filter((m) => m.type === "FOUND"), [{
    type: "FOUND",
    rq: "b1",
    item: "Lamp",
    price: 10,
    seller: "classic",
  }]);
});

Deno.test("a silent classic peer: the listing wins when the offer window closes", () => {
  const h = lampMarket();
  h.register("classic");
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
  h.tick(T0 + 1 + 999);
  assert.deepEqual(h.take("s2"), []);
  h.tick(T0 + 1 + 1_000);
  assert.deepEqual(types(h.take("s2")), ["RESERVE S1"]);
});

Deno.test("a classic buyer buys from a listing", () => {
  const h = new Harness();
  h.register("classic");
  h.register("s1", BOOK);
  list(h, "s1", "Lamp", 20);
  h.take("s1");
  h.from("classic", lookingFor("c1", "classic", "lamp", 30), T0 + 1);
  assert.deepEqual(types(h.take("s1")), ["RESERVE S1"]);
  h.from("s1", offer("S1", "s1", "Lamp", 20), T0 + 2);
  assert.deepEqual(h.take("classic"), [{ type: "FOUND", rq: "c1", item: "lamp", price: 20 }]);
});

Deno.test("quantity 3 is sold three times, then NOT_AVAILABLE", () => {
  const h = new Harness();
  h.register("buyer", BOOK);
  h.register("s1", BOOK);
  list(h, "s1", "Lamp", 20, 3);
  let at = T0 + 10;
  for (let i = 1; i <= 3; i++) {
    h.from("buyer", lookingFor(`b${i}`, "buyer", "Lamp", 30), at++);
    const id = h.market.requests().find((request) => request.buyerRq === `b${i}`)!.id;
    h.from("s1", offer(id, "s1", "Lamp", 20), at++);
    h.from("buyer", { type: "BUY", rq: `b${i}`, item: "Lamp", price: 20 }, at++);
    const tx = h.market.request(id)?.tx;
    assert.ok(tx, `purchase ${i} runs`);
    h.feed(h.market.handle({
      kind: "transacted",
      request: id,
      tx,
      outcome: { ok: true, buyer: party("buyer"), seller: party("s1") },
      at: at++,
    }));
    assert.equal(h.market.request(id)?.state, "bought");
    assert.equal(h.market.book.get("s1", "lamp")?.quantity ?? 0, 3 - i);
  }
  h.take("buyer");
  h.from("buyer", lookingFor("b4", "buyer", "Lamp", 30), at++);
  assert.deepEqual(types(h.take("buyer")), ["NOT_AVAILABLE b4"]);
  assert.equal(
    h.stored().listings && [...h.stored().listings!].length,
    0,
    "the sold-out listing is gone from the store",
  );
});

Deno.test("LIST is idempotent, ordered by seq, and withdrawn with quantity 0", () => {
  const h = new Harness();
  h.register("s1", BOOK);
  const at = T0;
  const send = (rq: string, seq: number, price: number, quantity: number) =>
    h.from("s1", {
      type: "LIST",
      rq,
      name: "s1",
      seq,
      item: "Lamp",
      price,
      quantity,
      description: "",
    }, at);
  send("l1", 5, 20, 2);
  assert.deepEqual(h.take("s1"), [{ type: "ACK", rq: "l1", of: "LIST" }]);
  send("l1", 5, 20, 2);
  assert.deepEqual(h.take("s1"), [{ type: "ACK", rq: "l1", of: "LIST" }], "a repeat is acked");
  send("l0", 4, 99, 9);
  assert.equal(h.market.book.get("s1", "Lamp")?.price, 20, "an older change is ignored");
  send("l2", 6, 0, 0);
  assert.equal(h.market.book.get("s1", "Lamp"), undefined);
  assert.equal([...h.stored().listings!].length, 0);
});

Deno.test("a classic peer cannot list", () => {
  const h = new Harness();
  h.register("classic");
  list(h, "classic", "Lamp", 20);
  assert.equal(h.market.book.size, 0);
});

Deno.test("BROWSE pages the catalogue to fit datagrams, without floors or offline sellers", async (t) => {
  const h = new Harness(undefined, { liveness: { offlineAfter: 1_000, forgetAfter: 0 } });
  h.register("buyer", BOOK, T0);
  h.register("s1", BOOK, T0);
  h.register("s2", BOOK, T0);
  for (let i = 0; i < 60; i++) {
    const item = `Item-${String(i).padStart(2, "0")}-${"x".repeat(30)}`;
    list(h, "s1", item, 10 + i, 2);
    list(h, "s2", item, 5 + i, 1);
  }
  list(h, "s1", "Other", 1);
  const browse = (rq: string, from: number, prefix: string, at = T0) => {
    h.from("buyer", { type: "BROWSE", rq, name: "buyer", from, prefix }, at);
    const page = h.take("buyer").find((m) => m.type === "CATALOGUE" && m.rq === rq);
    assert.ok(page?.type === "CATALOGUE");
    return page;
  };
  await t.step("pages of at most a datagram cover every item once", () => {
    const seen: string[] = [];
    let from = 0;
    let pages = 0;
    for (;;) {
      const page = browse(`w${pages}`, from, "item");
      assert.ok(encode(page).length + 48 <= MAX_MESSAGE_BYTES, "fits with the MAC");
      assert.equal(page.total, 60);
      seen.push(...page.entries.map((entry) => entry.item));
      pages++;
      if (page.next >= page.total) break;
      from = page.next;
    }
    assert.ok(pages > 1, `paged (${pages} pages)`);
    assert.equal(new Set(seen).size, 60);
    const first = browse("wf", 0, "Item-00").entries[0];
    assert.deepEqual(first && { ...first, item: first.item.slice(0, 7) }, {
      item: "Item-00",
      price: 5,
      sellers: 2,
      quantity: 3,
    });
  });
  await t.step("an offline seller's listings are hidden", () => {
    h.from("buyer", { type: "ALIVE", rq: "a1", name: "buyer" }, T0 + 1_500);
    h.from("s1", { type: "ALIVE", rq: "a2", name: "s1" }, T0 + 1_500);
    h.tick(T0 + 2_000);
    assert.equal(h.market.isOffline("s2"), true);
    const first = browse("wo", 0, "Item-00", T0 + 2_001).entries[0];
    assert.deepEqual(first && [first.price, first.sellers, first.quantity], [10, 1, 2]);
  });
});

Deno.test("a killed seller is marked offline and not waited for", async (t) => {
  const h = new Harness(undefined, {
    liveness: { offlineAfter: 0, forgetAfter: 10_000 },
    retransmit: { maxAttempts: 2 },
  });
  h.register("buyer", BOOK, T0);
  h.register("s1", BOOK, T0);
  h.register("s2", BOOK, T0);
  list(h, "s1", "Lamp", 10);
  list(h, "s2", "Lamp", 20);
  await t.step("s1 never answers RESERVE: its retransmission gives up, it is offline", () => {
    h.from("buyer", lookingFor("b1", "buyer", "Lamp", 30), T0 + 1);
    assert.deepEqual(types(h.take("s1")), ["RESERVE S1"]);
    for (let at = T0 + 100; at < T0 + 900; at += 100) h.tick(at);
    assert.equal(h.market.isOffline("s1"), true);
    assert.deepEqual(types(h.take("s2")), ["RESERVE S1"], "the next lister is asked at once");
    assert.equal(types(h.take("s1")).at(-1), "CANCEL S1", "released in case it held it");
  });
  await t.step("the next search skips it", () => {
    h.from("s2", offer("S1", "s2", "Lamp", 20), T0 + 1_000);
    h.from("buyer", lookingFor("b2", "buyer", "Lamp", 30), T0 + 1_001);
    assert.deepEqual(types(h.take("s1")), []);
  });
  await t.step("heard again, it is online; offline too long, it is de-registered", () => {
    h.from("s1", { type: "ALIVE", rq: "k1", name: "s1" }, T0 + 2_000);
    assert.equal(h.market.isOffline("s1"), false);
    h.from("buyer", lookingFor("b3", "buyer", "Lamp", 30), T0 + 2_001);
    assert.deepEqual(types(h.take("s1")), ["RESERVE S3"]);
    for (let at = T0 + 2_100; at < T0 + 20_000; at += 500) h.tick(at);
    assert.equal(h.market.peer("s1"), undefined);
    assert.equal(h.market.book.get("s1", "Lamp"), undefined);
  });
});

Deno.test("the book survives a server restart; a new registration lists anew", async (t) => {
  const h = lampMarket();
  const restarted = h.restarted();
  await t.step("the restarted market decides from the stored book", () => {
    assert.equal(restarted.market.book.size, 3);
    restarted.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
    assert.deepEqual(types(restarted.take("s2")), ["RESERVE S1"]);
  });
  await t.step("a hold under way is sent again after a restart", () => {
    const again = restarted.restarted();
    again.tick(T0 + 2);
    assert.deepEqual(types(again.take("s2")), ["RESERVE S1"]);
  });
  await t.step("s3 leaving takes its listings with it, from the store too", () => {
    restarted.from("s3", { type: "DE-REGISTER", rq: "s3-bye", name: "s3" }, T0 + 3);
    assert.equal(restarted.market.book.get("s3", "lamp"), undefined);
    assert.deepEqual([...restarted.stored().listings!].map((l) => l.seller).sort(), ["s1", "s2"]);
  });
});

Deno.test("a lister whose RESERVE is still being resent (a lossy link) gets a few hold times, not more", () => {
  const h = lampMarket();
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
  assert.deepEqual(types(h.take("s2")), ["RESERVE S1"]);
  h.tick(T0 + 1 + 1_000);
  assert.equal(h.market.request("S1")?.holding, "s2", "still waiting for s2's ACK");
  // The RESERVE goes on being resent to s2; after four hold times the next lister is asked.
  for (let at = T0 + 1 + 1_000; at <= T0 + 1 + 4_000; at += 250) h.tick(at);
  assert.equal(h.market.request("S1")?.holding, "s3");
  assert.equal(types(h.take("s2")).at(-1), "CANCEL S1");
});

Deno.test("a store that failed gives the searches their time back: a lister is not silent for the server's own stall", () => {
  const h = lampMarket();
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 40), T0 + 1);
  assert.deepEqual(types(h.take("s2")), ["RESERVE S1"]);
  // The store failed for 10 s (more than every hold time the RESERVE may
  // wait): nothing went out meanwhile; then the shell says so, first.
  const stalled = 10_000;
  h.feed(h.market.handle({ kind: "resumed", at: T0 + 1 + stalled, stalledMs: stalled }));
  h.tick(T0 + 2 + stalled);
  assert.equal(h.market.request("S1")?.state, "searching", "still holding s2's listing");
  assert.equal(h.market.request("S1")?.holding, "s2");
  h.from("s2", offer("S1", "s2", "Lamp", 20), T0 + 3 + stalled);
  assert.equal(h.market.request("S1")?.state, "found");
  assert.deepEqual(types(h.take("buyer")), ["FOUND b1"]);
});

Deno.test("one listing held by two searches at once: the second OFFER gets no FOUND and the seller is told to let it go", () => {
  const h = new Harness();
  for (const name of ["b1", "b2", "s1"]) h.register(name, BOOK);
  list(h, "s1", "Lamp", 20);
  h.take("s1");
  h.from("b1", lookingFor("r1", "b1", "Lamp", 40), T0 + 1);
  h.from("b2", lookingFor("r2", "b2", "Lamp", 40), T0 + 2);
  const reserves = h.take("s1").filter((m) => m.type === "RESERVE").map((m) => m.rq);
  assert.deepEqual(reserves, ["S1", "S2"]);
  h.from("s1", offer("S1", "s1", "Lamp", 20), T0 + 3);
  // A seller (a forged one, say) that holds the one item for both.
  h.from("s1", offer("S2", "s1", "Lamp", 20), T0 + 4);
  assert.equal(h.market.request("S1")?.state, "found");
  assert.notEqual(h.market.request("S2")?.state, "found");
  assert.deepEqual(types(h.take("b2")).filter((t) => t.startsWith("FOUND")), []);
  assert.ok(h.take("s1").some((m) => m.type === "CANCEL" && m.rq === "S2"));
});

Deno.test("a search tries at most 32 listers: one host cycling names that list and decline cannot grow it", () => {
  const h = new Harness(undefined, {
    limits: { namesPerHost: 0, namesPerKey: 0, classicNamesPerHost: 0 },
  });
  h.register("buyer", BOOK);
  const listers = Array.from({ length: 40 }, (_, i) => `l${i}`);
  for (const name of listers) {
    h.register(name, BOOK);
    list(h, name, "Lamp", 10 + listers.indexOf(name));
    h.take(name);
  }
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 100), T0 + 1);
  for (let round = 0; round < 40; round++) {
    const holder = h.market.request("S1")?.holding;
    if (!holder) break;
    h.from(holder, { type: "NO_OFFER", rq: "S1", name: holder, item: "Lamp" }, T0 + 2 + round);
  }
  const request = h.market.request("S1")!;
  assert.equal(request.state, "not_available");
  assert.equal(request.declined?.length, 32);
  assert.deepEqual(types(h.take("buyer")).filter((t) => t.startsWith("NOT_AVAILABLE")), [
    "NOT_AVAILABLE b1",
  ]);
});

Deno.test("a lister that does not answer RESERVE: NOT_AVAILABLE says so to our buyer, classic to a classic one", async (t) => {
  for (const [buyer, features] of [["buyer", BOOK], ["classic", false]] as const) {
    await t.step(buyer, () => {
      const h = new Harness();
      h.register(buyer, features);
      h.register("s1", BOOK);
      list(h, "s1", "Teapot", 20);
      h.take("s1");
      h.from(buyer, lookingFor("b1", buyer, "Teapot", 25), T0 + 1);
      assert.deepEqual(types(h.take("s1")), ["RESERVE S1"]);
      // s1 never answers, not even with ACK: given up after a few hold times.
      for (let at = T0 + 1_000; at <= T0 + 20_000; at += 1_000) h.tick(at);
      assert.equal(h.market.request("S1")?.state, "not_available");
      const told = h.take(buyer).filter((m) => m.type !== "ACK");
      const classic = { type: "NOT_AVAILABLE", rq: "b1", item: "Teapot", maxPrice: 25 };
      // Our buyer gets it again until it acknowledges it.
      assert.ok(told.length > 0);
      for (const message of told) {
        assert.deepEqual(message, buyer === "buyer" ? { ...classic, silentPrice: 20 } : classic);
      }
      assert.equal(
        encode(told[0]!),
        buyer === "buyer" ? "NOT_AVAILABLE b1 Teapot 25 silent 20" : "NOT_AVAILABLE b1 Teapot 25",
      );
    });
  }
});
