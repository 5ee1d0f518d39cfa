/**
 * The README's state diagrams are the transition tables the machines are
 * checked against (server/request_states.ts, peer/agent/request_states.ts):
 * an edge in a diagram that the code does not allow, or a move the code
 * allows that no diagram shows, fails here.
 */
import assert from "node:assert/strict";
import { INITIAL_STATE, TRANSITIONS } from "../server/request_states.ts";
import { INITIAL_REQUEST_STATES, REQUEST_TRANSITIONS } from "../peer/agent/request_states.ts";

const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));

/** The edges `a --> b` of the mermaid block that follows `heading` in the README. */
function diagram(heading: string): { from: string; to: string }[] {
  const at = README.indexOf(heading);
  assert.ok(at >= 0, `README has "${heading}"`);
  const block = /```mermaid\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(block, `a mermaid diagram after "${heading}"`);
  return [...block[1]!.matchAll(/^\s*(\S+) --> (\w+)/gm)].map(([, from, to]) => ({
    from: from!,
    to: to!,
  }));
}

/** The moves between distinct states of a table, as `a->b`. */
function moves(table: Readonly<Record<string, readonly string[]>>): string[] {
  return Object.entries(table).flatMap(([from, tos]) =>
    tos.filter((to) => to !== from).map((to) => `${from}->${to}`)
  ).sort();
}

function drawn(edges: { from: string; to: string }[]): string[] {
  const between = edges.filter(({ from, to }) => from !== "[*]" && to !== "[*]" && from !== to);
  return [...new Set(between.map(({ from, to }) => `${from}->${to}`))].sort();
}

Deno.test("the README's diagram of the server's search is the market's transition table", () => {
  const edges = diagram("The server's search");
  assert.deepEqual(drawn(edges), moves(TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [INITIAL_STATE]);
});

Deno.test("the README's diagram of the buyer's request is the agent's transition table", () => {
  const edges = diagram("The peer's side of a purchase, as a buyer");
  assert.deepEqual(drawn(edges), moves(REQUEST_TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [...INITIAL_REQUEST_STATES]);
});
