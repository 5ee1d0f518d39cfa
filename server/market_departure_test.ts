/**
 * A party leaving the marketplace while the TCP leg of its purchase runs:
 * the purchase ends at once, and the leg's outcome, when it comes, ends
 * the leg on the wire with CANCEL rather than being ignored.
 */
import assert from "node:assert/strict";
import { isWrite } from "../protocol/effects.ts";
import type { Effect, LedgerEntry } from "./market.ts";
import { Harness, lookingFor, offer, T0, TIMERS } from "./_market_harness.ts";

const OURS = ["from", "ack", "no-offer"];
const party = (name: string) => ({ name, card: "************1111", address: `${name} street` });

/** A purchase of bob's lamp by ann, its TCP leg running. */
function buying(): { h: Harness; tx: string } {
  const h = new Harness();
  h.register("ann", OURS);
  h.register("bob", OURS);
  h.from("ann", lookingFor("a1", "ann", "Lamp", 30));
  h.from("bob", offer("S1", "bob", "Lamp", 20), T0 + 10);
  h.tick(T0 + TIMERS.offerWindow);
  const effects = h.from("ann", { type: "BUY", rq: "a1", item: "Lamp", price: 20 }, T0 + 1_500);
  const transact = effects.find((effect) => effect.kind === "transact");
  assert.ok(transact?.kind === "transact");
  h.take("ann");
  h.take("bob");
  return { h, tx: transact.plan.id };
}

function outcome(h: Harness, tx: string, ok: boolean, at: number): Effect[] {
  return h.feed(h.market.handle({
    kind: "transacted",
    request: "S1",
    tx,
    outcome: ok
      ? { ok: true, buyer: party("ann"), seller: party("bob") }
      : { ok: false, reason: "the buyer ann closed the connection" },
    at,
  }));
}

for (const leaver of ["ann", "bob"] as const) {
  Deno.test(`the leg of a purchase whose ${leaver === "ann" ? "buyer" : "seller"} left ends with CANCEL on TCP, whatever its outcome`, async (t) => {
    for (const ok of [true, false]) {
      await t.step(ok ? "a charged outcome" : "a failed outcome", () => {
        const { h, tx } = buying();
        h.from(leaver, { type: "DE-REGISTER", rq: "d1", name: leaver }, T0 + 2_000);
        assert.equal(h.market.request("S1")?.state, "cancelled");

        const effects = outcome(h, tx, ok, T0 + 2_500);
        const conclude = effects.find((effect) => effect.kind === "conclude");
        assert.ok(conclude?.kind === "conclude", "the leg is concluded, not left to time out");
        assert.equal(conclude.plan.id, tx);
        assert.equal(conclude.conclusion.ok, false);
        assert.deepEqual(conclude.deliver, []);
        assert.match(
          conclude.conclusion.ok ? "" : conclude.conclusion.reason,
          new RegExp(`the ${leaver === "ann" ? "buyer" : "seller"} left the marketplace`),
        );
        // No sale: the search stays cancelled and the ledger says so.
        assert.equal(h.market.request("S1")?.state, "cancelled");
        const ledger = effects.find((effect) => isWrite(effect) && effect.key[0] === "ledger");
        assert.ok(ledger?.kind === "save");
        const entry = ledger.value as LedgerEntry;
        assert.deepEqual([entry.outcome, entry.fee, entry.sellerCredit], ["cancelled", 0, 0]);
        // A second copy of the outcome changes nothing.
        const again = outcome(h, tx, ok, T0 + 2_600);
        assert.deepEqual(again.filter((effect) => effect.kind !== "log"), []);
      });
    }
  });
}

Deno.test("the outcome of a purchase still buying settles it as before", () => {
  const { h, tx } = buying();
  const effects = outcome(h, tx, true, T0 + 2_500);
  const conclude = effects.find((effect) => effect.kind === "conclude");
  assert.ok(conclude?.kind === "conclude");
  assert.equal(conclude.conclusion.ok, true);
  assert.equal(h.market.request("S1")?.state, "bought");
});
