import assert from "node:assert/strict";
import {
  changesCatalogue,
  errorText,
  historyTotals,
  money,
  RESTARTED,
  speakToMe,
  timeLeft,
  UNREACHABLE,
  when,
  withdrawnText,
} from "./app_logic.js";
import type { HistoryEntry, PageOutput } from "./page_types.ts";

Deno.test("money and times are shown as the terminal shows them", () => {
  assert.equal(money(25), "25.00");
  assert.equal(money("2.5"), "2.50");
  assert.equal(money(undefined), "–");
  assert.equal(when(Date.UTC(2026, 11, 8, 1, 42, 27)), "2026-12-08 01:42:27");
  assert.equal(when(undefined), "–");
});

Deno.test("a payment question's countdown rounds up and ends at the deadline", () => {
  const deadline = 100_000;
  assert.equal(timeLeft(deadline, deadline - 29_001), "30 s left");
  assert.equal(timeLeft(deadline, deadline - 1), "1 s left");
  assert.equal(timeLeft(deadline, deadline - 65_000), "1 min 05 s left");
  assert.equal(timeLeft(deadline, deadline), "time is up");
  assert.equal(timeLeft(deadline, deadline + 5_000), "time is up");
});

Deno.test("an error is told in words: the peer's message, a restart for 401, never a bare status", () => {
  assert.equal(
    errorText(409, { error: "Lamp is already listed at 24" }),
    "Lamp is already listed at 24",
  );
  assert.equal(errorText(401, {}), RESTARTED);
  assert.equal(errorText(401, { error: "Refused: no token" }), RESTARTED);
  assert.equal(errorText(0, {}), UNREACHABLE);
  const other = errorText(502, "not json");
  assert.match(other, /HTTP 502/);
  assert.doesNotMatch(other, /^\d/);
  assert.match(RESTARTED, /restarted.*Page: http/);
});

Deno.test("messages about this peer speak to its user", () => {
  assert.equal(
    speakToMe("Purchase of Lamp cancelled: the buyer bob did not answer in time", "bob"),
    "Purchase of Lamp cancelled: you did not answer in time",
  );
  assert.equal(speakToMe("The seller bob's card was declined", "bob"), "Your card was declined");
  // Another peer, or a longer name that starts with this one, is left as it is.
  assert.equal(
    speakToMe("the seller alice did not answer", "bob"),
    "the seller alice did not answer",
  );
  assert.equal(
    speakToMe("the buyer bobby did not answer", "bob"),
    "the buyer bobby did not answer",
  );
  assert.equal(speakToMe("the buyer b.b did not answer", "b.b"), "you did not answer");
  assert.equal(speakToMe("the buyer bob", undefined), "the buyer bob");
});

Deno.test("a withdrawn payment question says why, from its transaction's CANCEL", () => {
  const log: PageOutput[] = [
    {
      event: "CANCEL",
      text: "Purchase of Lamp cancelled: the buyer bob did not answer in time",
      fields: { reason: "the buyer bob did not answer in time", item: "Lamp" },
    },
  ];
  assert.equal(
    withdrawnText(log, "bob"),
    "The payment question for Lamp was withdrawn: you did not answer in time. " +
      "Nothing was paid; the sale is off, and you can carry on",
  );
  assert.match(withdrawnText([], "bob"), /withdrawn: the server closed the transaction\./);
});

Deno.test("the history's totals are summed in whole cents", () => {
  const entry = (role: "buyer" | "seller", price: number): HistoryEntry => ({
    tx: `t${price}`,
    role,
    item: "Pen",
    price,
    fee: Math.round(price * 10) / 100,
    credit: Math.round(price * 90) / 100,
    at: 0,
  });
  const totals = historyTotals([
    entry("seller", 0.1),
    entry("seller", 0.2),
    entry("buyer", 0.1),
    entry("buyer", 0.2),
  ]);
  assert.deepEqual(totals, {
    purchases: 2,
    bought: 0.3,
    sales: 2,
    sold: 0.3,
    fees: 0.03,
    received: 0.27,
  });
});

Deno.test("sales, purchases and listing changes refresh the catalogue; other events do not", () => {
  for (const event of ["Shipping_Info", "bought", "sell", "edit", "price", "unsell"]) {
    assert.ok(changesCatalogue(event), event);
  }
  for (const event of ["browse", "prompt", "error", "warning", "CANCEL"]) {
    assert.ok(!changesCatalogue(event), event);
  }
});
