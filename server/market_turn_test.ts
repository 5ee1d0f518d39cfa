import assert from "node:assert/strict";
import { MarketTurn } from "./market_turn.ts";

const A = { hostname: "127.0.0.1", port: 6000 };
const B = { hostname: "127.0.0.1", port: 6001 };

Deno.test("a market turn puts writes first and keeps the rest in order", () => {
  const turn = new MarketTurn(100);
  turn.send(A, { type: "DE-REGISTERED", rq: "1" });
  turn.delete(["peer", "alice"]);
  turn.log("info", "gone");
  turn.send(B, { type: "REGISTERED", rq: "2" }, 40);
  assert.deepEqual(turn.effects().map((e) => e.kind), ["delete", "send", "log", "send"]);
  assert.deepEqual(turn.effects()[3], {
    kind: "send",
    to: B,
    message: { type: "REGISTERED", rq: "2" },
    limit: 40,
  });
});

Deno.test("a deadline's sub-turn has its own time but the event's collector and arrival", () => {
  const turn = new MarketTurn(1_000);
  const late = turn.during(800);
  assert.equal(turn.during(1_000), turn);
  assert.deepEqual([late.at, late.now], [800, 1_000]);
  late.send(A, { type: "DE-REGISTERED", rq: "1" });
  assert.equal(turn.effects().length, 1);
  assert.equal(turn.sendCount, 1);
});

Deno.test("a market turn finds the replies to one source sent since a mark", () => {
  const turn = new MarketTurn(0);
  turn.send(A, { type: "DE-REGISTERED", rq: "0" });
  const mark = turn.sendCount;
  turn.send(B, { type: "DE-REGISTERED", rq: "1" });
  turn.send(A, { type: "DE-REGISTERED", rq: "2" });
  assert.deepEqual(turn.sentSince(mark, A).map((s) => s.message.rq), ["2"]);
});
