/**
 * The market consults the search's table on every change of state: a move
 * it does not list throws in strict mode (tests, the simulator) and is
 * refused with a warning in production. No path of the market makes an
 * illegal move on purpose, so the test reaches the market's own `update`
 * through a subclass, as a bug in one of its handlers would.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Effect, Market, type MarketOptions, MarketTurn } from "./market.ts";
import type { RequestRecord } from "./records.ts";
import { T0, TIMERS } from "./_market_harness.ts";

/** A market whose search records a test may change as a handler does. */
class Probe extends Market {
  constructor(options: MarketOptions) {
    super(undefined, { allowPlaintext: true, timers: TIMERS, newId: () => "S1", ...options });
  }

  change(id: string, change: Partial<RequestRecord>, at: number): Effect[] {
    const turn = new MarketTurn(at);
    this.update(this.table.get(id)!, change, turn);
    return turn.effects();
  }

  state(id: string): string | undefined {
    return this.table.get(id)?.record.state;
  }
}

/** A market with one search, S1, ended not_available (no other peer is registered). */
function endedSearch(strictTransitions: boolean): Probe {
  const market = new Probe({ strictTransitions });
  const from = { hostname: "127.0.0.1", port: 6000 };
  market.handle({
    kind: "message",
    from,
    message: {
      type: "REGISTER",
      rq: "r1",
      name: "buyer",
      ip: "127.0.0.1",
      udpPort: 6000,
      tcpPort: 7000,
    },
    bytes: 60,
    at: T0,
  });
  market.handle({
    kind: "message",
    from,
    message: {
      type: "LOOKING_FOR",
      rq: "b1",
      name: "buyer",
      item: "Laptop",
      description: "any",
      maxPrice: 500,
    },
    bytes: 60,
    at: T0,
  });
  assert.equal(market.state("S1"), "not_available");
  return market;
}

Deno.test("a search's move its table does not allow throws in strict mode", () => {
  const market = endedSearch(true);
  assert.throws(
    () => market.change("S1", { state: "found", seller: "ghost", price: 1 }, T0 + 1),
    (error: Error) =>
      error instanceof RangeError &&
      error.message.includes(`search S1 from "not_available" to "found"`),
  );
  assert.equal(market.state("S1"), "not_available");
});

Deno.test("a search's move its table does not allow is refused and logged in production", () => {
  const market = endedSearch(false);
  const effects = market.change("S1", { state: "found", seller: "ghost", price: 1 }, T0 + 1);
  assert.equal(market.state("S1"), "not_available");
  assert.deepEqual(effects.filter((effect) => effect.kind === "save"), []);
  const warnings = effects.filter((effect) => effect.kind === "log" && effect.level === "warning");
  assert.equal(warnings.length, 1);
  assert.match(
    (warnings[0] as { text: string }).text,
    /^Refused to move search S1 from "not_available" to "found": .*server\/request_states\.ts/,
  );
  // An ended search is not even rewritten in its own state.
  const same = market.change("S1", { reason: "still none" }, T0 + 2);
  assert.deepEqual(same.filter((effect) => effect.kind === "save"), []);
});
