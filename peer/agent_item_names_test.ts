/**
 * Item names in either Unicode spelling: typed or received decomposed
 * ("Cafe\u0301"), they are the composed name ("Caf\u00e9") a listing or a
 * search has.
 */
import assert from "node:assert/strict";
import { decode, MAX_ITEM_LENGTH, type Message } from "../protocol/mod.ts";
import { Harness, only, printed, registered, sent, T0, writes } from "./_agent_harness.ts";

const COMPOSED = "Caf\u00e9";
const DECOMPOSED = "Cafe\u0301";

/** A datagram as the shell hands it on: decoded from the wire text. */
function wire(text: string): Message {
  const result = decode(text);
  if (!result.ok) throw new Error(result.error.message);
  return result.message;
}

Deno.test("a decomposed SEARCH from a classic peer finds the composed listing", () => {
  const peer = new Harness();
  peer.register("classic");
  peer.line(`sell ${COMPOSED} 10`);
  const effects = peer.receive(wire(`SEARCH S1 ${DECOMPOSED} for two`));
  assert.deepEqual(sent(effects), [
    { type: "OFFER", rq: "S1", name: "alice", item: COMPOSED, price: 10 },
  ]);
});

Deno.test("an item typed decomposed is the composed one", async (t) => {
  await t.step("sell stores it composed, and a composed SEARCH finds it", () => {
    const peer = new Harness();
    peer.register("classic");
    const effects = peer.line(`sell ${DECOMPOSED} 10`);
    assert.deepEqual(writes(effects).map((w) => [w.key, w.kind === "save" && w.value]), [
      [["item", "caf\u00e9"], {
        item: COMPOSED,
        price: 10,
        description: "",
        addedAt: T0,
      }],
    ]);
    const offer = only(
      sent(peer.receive({ type: "SEARCH", rq: "S1", item: COMPOSED, description: "" })),
    );
    assert.equal(offer.type === "OFFER" && offer.item, COMPOSED);
  });

  await t.step("a name over the limit only when decomposed is taken", () => {
    const peer = new Harness();
    const name = "e\u0301".repeat(MAX_ITEM_LENGTH);
    const output = only(printed(peer.line(`sell ${name} 10`)));
    assert.notEqual(output.event, "error", output.text);
    assert.deepEqual(peer.agent.items.map((item) => item.item), ["\u00e9".repeat(MAX_ITEM_LENGTH)]);
  });

  await t.step("cancel finds the search it names in the other spelling", () => {
    const peer = registered();
    const rq = only(sent(peer.line(`buy ${COMPOSED} 10`))).rq;
    const effects = peer.line(`cancel ${DECOMPOSED}`);
    assert.match(only(printed(effects)).text, /^Cancelled the search for Caf\u00e9/);
    assert.equal(peer.agent.requests.find((request) => request.rq === rq)?.state, "cancelled");
  });
});
