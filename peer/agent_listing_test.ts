/** The agent's offer book: listings kept in step, RESERVE answered, browse, keep-alive. */
import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Harness, only, OURS, printed, registered, sent, T0 } from "./_agent_harness.ts";
import { KEEP_ALIVE_MS } from "./agent/listing.ts";

const BOOK = [...OURS, "book"];

function lists(messages: Message[]) {
  return messages.filter((m) => m.type === "LIST").map((m) =>
    m.type === "LIST" ? [m.item, m.price, m.quantity] : []
  );
}

Deno.test("the inventory is listed on a server with book, and kept in step", async (t) => {
  const peer = registered(BOOK);
  let lastSeq = 0;
  await t.step("sell --quantity 3 lists three, never the floor", () => {
    const out = sent(peer.line("sell Lamp 25 brass --floor 20 --quantity 3", T0));
    const list = only(out.filter((m) => m.type === "LIST"));
    assert.ok(list.type === "LIST");
    assert.deepEqual({ ...list, rq: "", seq: 0 }, {
      type: "LIST",
      rq: "",
      name: "alice",
      seq: 0,
      item: "Lamp",
      price: 25,
      quantity: 3,
      description: "brass",
    });
    assert.ok(!JSON.stringify(list).includes("20"), "the floor stays private");
    lastSeq = list.seq;
  });
  await t.step("a change sends the listing again with a higher seq", () => {
    const list = only(sent(peer.line("price Lamp 22", T0)));
    assert.ok(list.type === "LIST" && list.seq > lastSeq);
    assert.deepEqual(lists([list]), [["Lamp", 22, 3]]);
  });
  await t.step("a command that changes nothing sends nothing", () => {
    assert.deepEqual(sent(peer.line("inventory", T0)), []);
  });
  await t.step("unsell withdraws it with quantity 0", () => {
    assert.deepEqual(lists(sent(peer.line("unsell Lamp", T0))), [["Lamp", 22, 0]]);
  });
});

Deno.test("a server without book is told nothing", () => {
  const peer = registered(OURS);
  assert.deepEqual(lists(sent(peer.line("sell Lamp 25"))), []);
  assert.match(only(printed(peer.line("browse"))).text, /no offer book/);
});

Deno.test("a listing's RESERVE is answered OFFER when held, NO_OFFER when not", () => {
  const peer = registered(BOOK);
  peer.line("sell Lamp 25");
  const held = sent(peer.receive({ type: "RESERVE", rq: "S1", item: "lamp", price: 25 }));
  assert.deepEqual(held.filter((m) => m.type !== "ACK"), [
    { type: "OFFER", rq: "S1", name: "alice", item: "Lamp", price: 25 },
  ]);
  const other = sent(peer.receive({ type: "RESERVE", rq: "S2", item: "lamp", price: 25 }));
  assert.deepEqual(other.filter((m) => m.type !== "ACK"), [
    { type: "NO_OFFER", rq: "S2", name: "alice", item: "lamp" },
  ]);
});

Deno.test("browse follows the CATALOGUE pages and prints one table", () => {
  const peer = registered(BOOK);
  const first = only(sent(peer.line("browse La", T0)));
  assert.ok(first.type === "BROWSE");
  assert.deepEqual([first.from, first.prefix], [0, "La"]);
  const second = only(
    sent(peer.receive({
      type: "CATALOGUE",
      rq: first.rq,
      next: 1,
      total: 2,
      entries: [{ item: "Lamp", price: 20, sellers: 2, quantity: 4 }],
    }, T0 + 1)).filter((m) => m.type !== "ACK"),
  );
  assert.ok(second.type === "BROWSE");
  assert.equal(second.from, 1);
  const done = peer.receive({
    type: "CATALOGUE",
    rq: second.rq,
    next: 2,
    total: 2,
    entries: [{ item: "Laptop", price: 450, sellers: 1, quantity: 1 }],
  }, T0 + 2);
  const output = only(printed(done));
  assert.equal(output.event, "browse");
  assert.deepEqual(output.text.split("\n"), [
    '2 item(s) for sale starting with "La":',
    "ITEM      FROM  SELLERS  FOR SALE",
    "Lamp     20.00        2         4",
    "Laptop  450.00        1         1",
  ]);
  assert.equal((output.fields?.entries as unknown[]).length, 2);
});

Deno.test("after a restart the whole inventory is listed again", () => {
  const peer = registered(BOOK);
  peer.line("sell Lamp 25");
  peer.line("sell Desk 90 --quantity 2");
  const again = new Harness({}, peer.store);
  const register = only(sent(again.start(T0 + 10)));
  const effects = again.receive({ type: "REGISTERED", rq: register.rq, extensions: BOOK }, T0 + 20);
  assert.deepEqual(lists(sent(effects)).sort(), [["Desk", 90, 2], ["Lamp", 25, 1]]);
});

Deno.test("an idle peer says ALIVE to keep itself known", () => {
  const peer = registered(BOOK);
  // Its REGISTER was the last datagram it sent.
  const due = T0 - 60_000 + KEEP_ALIVE_MS;
  assert.equal(peer.agent.nextDeadline(), due);
  assert.deepEqual(sent(peer.tick(due - 1)), []);
  const alive = sent(peer.tick(due));
  assert.deepEqual(alive.map((m) => m.type), ["ALIVE"]);
});

Deno.test("a server that stopped answering the keep-alive is reported once, in words", () => {
  const peer = registered(BOOK);
  // The server is gone: keep-alive after keep-alive goes unanswered.
  const timeouts: string[] = [];
  for (let at = T0; at < T0 + 10 * KEEP_ALIVE_MS; at += 1_000) {
    timeouts.push(
      ...printed(peer.tick(at)).filter((o) => o.event === "timeout").map((o) => o.text),
    );
  }
  assert.deepEqual(timeouts, [
    "Server not answering: the keep-alive got no reply after 12 tries; " +
    "a line says when the server answers again",
  ]);
  const back = printed(
    peer.receive({ type: "ACK", rq: "x", of: "ALIVE" }, T0 + 10 * KEEP_ALIVE_MS),
  );
  assert.deepEqual(back.map((o) => o.text), ["The server answers again"]);
});

Deno.test("a LIST the server never answered is sent again once the server is heard from", () => {
  const peer = registered(BOOK);
  only(sent(peer.line("sell Pen 3", T0)).filter((m) => m.type === "LIST"));
  peer.line("sell Cup 4", T0);
  peer.line("unsell Cup", T0);
  // The server is down: every try goes unanswered, then the peer gives up.
  let timeouts: string[] = [];
  for (let at = T0 + 1_000; at < T0 + 120_000; at += 1_000) {
    const out = peer.tick(at);
    timeouts = timeouts.concat(
      printed(out).filter((o) => o.event === "timeout").map((o) => o.text),
    );
  }
  assert.ok(
    timeouts.some((text) =>
      /LIST for Pen got no reply .*; it is listed again when the server answers/.test(text)
    ),
    timeouts.join("\n"),
  );
  // Nothing more is sent into the silence.
  assert.deepEqual(lists(sent(peer.tick(T0 + 121_000))), []);
  // The server answers something: Pen is listed again, and Cup withdrawn again.
  const out = peer.receive({ type: "ACK", rq: "x", of: "ALIVE" }, T0 + 122_000);
  assert.deepEqual(lists(sent(out)).sort(), [["Cup", 4, 0], ["Pen", 3, 1]]);
});
