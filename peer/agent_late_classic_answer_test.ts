/**
 * The classic REGISTER sent beside the first one is answered after it: its
 * answer was sent before (our server admitted the classic REGISTER first and
 * then took the one with extensions in its place), only delivered late. It
 * must not make the server classic: the buyer would stop retransmitting
 * LOOKING_FOR, and a lost one would leave its search searching for ever
 * (simulator seeds 7628 and 7764).
 */
import assert from "node:assert/strict";
import { Harness, only, sent, T0 } from "./_agent_harness.ts";

const timing = { retransmit: { initialRto: 100, maxAttempts: 12 } };

Deno.test("a classic REGISTERED arriving after our server's answer leaves the server ours", () => {
  const peer = new Harness(timing);
  const first = only(sent(peer.line("register", T0)));
  peer.tick(T0 + 100);
  peer.tick(T0 + 300);
  const classic = sent(peer.tick(T0 + 700))[1]!;
  assert.equal("extensions" in classic, false);
  // The server admitted the classic one, then the first took its place:
  // the first one's answer overtook the classic one's.
  peer.receive({ type: "REGISTERED", rq: first.rq, extensions: ["from", "ack"] }, T0 + 710);
  assert.equal(peer.agent.serverKind, "ours");
  peer.receive({ type: "REGISTERED", rq: classic.rq }, T0 + 720);
  assert.equal(peer.agent.serverKind, "ours");
  assert.deepEqual([...peer.agent.features].sort(), ["ack", "from"]);

  // A search whose LOOKING_FOR is lost is sent again until acknowledged.
  const looking = only(sent(peer.line("buy Mug 10", T0 + 730)));
  assert.equal(looking.type, "LOOKING_FOR");
  const again = sent(peer.tick(T0 + 830));
  assert.deepEqual(again, [looking]);
});
