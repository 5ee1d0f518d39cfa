/** The text views: words for people, tables that align on a terminal. */
import assert from "node:assert/strict";
import { Harness, only, printed, sent, T0 } from "./_agent_harness.ts";

Deno.test("the searches table names states in words and aligns items of wide characters", () => {
  const peer = new Harness();
  peer.register("classic");
  const wide = only(sent(peer.line("buy 日本茶 30")));
  peer.receive({ type: "NOT_FOUND", rq: wide.rq, item: "日本茶", maxPrice: 30 });
  peer.line("buy Lamp 20");
  const table = only(printed(peer.line("searches", T0 + 1_000))).text.split("\n");
  assert.match(table[0]!, /^RQ +ITEM +MAX +STATE/);
  const row = table.find((line) => line.includes("日本茶"))!;
  assert.match(row, /not found/);
  assert.doesNotMatch(row, /not_found/);
  // The STATE column starts at the same terminal column on every line.
  const column = (line: string, at: number) =>
    [...line.slice(0, at)].reduce((n, c) => n + (/[\u3000-\u9fff]/.test(c) ? 2 : 1), 0);
  const starts = table.map((line) => column(line, line.search(/STATE|not found|searching/)));
  assert.equal(new Set(starts).size, 1, table.join("\n"));
});

Deno.test("status counts messages waiting for the server, open searches and items", () => {
  const peer = new Harness();
  peer.register("classic");
  peer.line("buy Lamp 20");
  const status = only(printed(peer.line("status"))).text;
  assert.match(status, /message\(s\) to the server waiting for an answer/);
  assert.match(status, /1 open search\(es\)/);
});
