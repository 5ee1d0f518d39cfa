import assert from "node:assert/strict";
import { Retransmitter, RttEstimator } from "./reliability.ts";

const OPTIONS = { initialRto: 100, minRto: 20, maxRto: 800, maxAttempts: 4 };

Deno.test("retransmitter resends with doubling timeouts, then gives up", () => {
  const r = new Retransmitter<string>(OPTIONS);
  r.track("k", "FOUND b1", "peer", 0);
  assert.equal(r.nextDeadline(), 100);
  assert.deepEqual(r.due(99), { resend: [], expired: [] });
  const times: number[] = [];
  let now = 0;
  for (let i = 0; i < 10 && r.size > 0; i++) {
    now = r.nextDeadline()!;
    const { resend, expired } = r.due(now);
    if (expired.length) {
      assert.deepEqual(expired, [{ key: "k", payload: "FOUND b1", attempt: 4 }]);
      break;
    }
    assert.equal(resend.length, 1);
    times.push(now);
  }
  // Sends at 0, 100, 300, 700; given up 800 ms (the cap) after the last.
  assert.deepEqual(times, [100, 300, 700]);
  assert.equal(now, 1_500);
  assert.equal(r.size, 0);
  assert.equal(r.nextDeadline(), undefined);
});

Deno.test("an acknowledgement stops retransmission and feeds the RTT estimate", () => {
  const r = new Retransmitter<string>(OPTIONS);
  r.track("k", "x", "peer", 1_000);
  assert.equal(r.ack("k", 1_030), "x");
  assert.equal(r.ack("k", 1_031), undefined, "a duplicate ack is not awaited");
  assert.deepEqual(r.due(10_000), { resend: [], expired: [] });
  assert.equal(r.estimator("peer").srtt, 30);
  // The next message to that peer times out after the measured RTT, not 100 ms.
  r.track("k2", "y", "peer", 2_000);
  assert.ok(r.nextDeadline()! - 2_000 < 100);
});

Deno.test("a retransmitted message gives no RTT sample (Karn's rule)", () => {
  const r = new Retransmitter<string>(OPTIONS);
  r.track("k", "x", "peer", 0);
  r.due(100);
  r.ack("k", 150);
  assert.equal(r.estimator("peer").srtt, undefined);
});

Deno.test("tracking a key twice keeps one entry", () => {
  const r = new Retransmitter<string>(OPTIONS);
  r.track("k", "x", "peer", 0);
  r.track("k", "x", "peer", 50);
  assert.equal(r.size, 1);
  assert.equal(r.due(100).resend.length, 1);
});

Deno.test("the RTT estimator follows RFC 6298 and stays within bounds", () => {
  const e = new RttEstimator(OPTIONS);
  assert.equal(e.rto(), 100);
  e.sample(40);
  assert.equal(e.srtt, 40);
  assert.equal(e.rto(), 40 + 4 * 20);
  for (let i = 0; i < 50; i++) e.sample(1);
  assert.equal(e.rto(), 20, "never below the minimum");
  for (let i = 0; i < 50; i++) e.sample(5_000);
  assert.equal(e.rto(), 800, "never above the cap");
});
