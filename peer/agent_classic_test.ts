/** What the agent does with classic servers' deviations (issue 13's interop list). */
import assert from "node:assert/strict";
import { Harness, only, printed, sent } from "./_agent_harness.ts";

Deno.test("NOT_AVAILABLE and NOT_FOUND without the max price end the search with the price asked", () => {
  for (const type of ["NOT_AVAILABLE", "NOT_FOUND"] as const) {
    const peer = new Harness();
    peer.register("classic");
    const search = only(sent(peer.line("buy Lamp 30")));
    const output = only(printed(peer.receive({ type, rq: search.rq, item: "Lamp" })));
    assert.equal(output.event, type);
    assert.match(output.text, /30/);
    assert.equal(output.fields?.maxPrice, 30);
    assert.equal(
      peer.agent.requests[0]?.state,
      type === "NOT_AVAILABLE" ? "not_available" : "not_found",
    );
  }
});
