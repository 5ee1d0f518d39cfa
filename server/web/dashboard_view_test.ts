import assert from "node:assert/strict";
import type { LedgerEntry } from "../records.ts";
import { TRANSITIONS } from "../request_states.ts";
import {
  AXIS_LABEL_GAP,
  chartAxes,
  clockLabel,
  countOf,
  labelWidth,
  liveness,
  salesSeries,
  sampleSeries,
  STATE_ORDER,
  stateNote,
  withSample,
} from "./dashboard_view.js";

const entry = (at: number, price: number, outcome: LedgerEntry["outcome"]): LedgerEntry => ({
  tx: `t${at}`,
  request: `s${at}`,
  buyerRq: `b${at}`,
  item: "Lamp",
  price,
  fee: 0,
  sellerCredit: price,
  buyer: "bob",
  seller: "alice",
  at,
  outcome,
} as LedgerEntry);

Deno.test("stateNote lists the states given in the order of a search's life, none at zero", () => {
  assert.equal(stateNote({ found: 1, searching: 2, negotiating: 0 }), "2 searching, 1 found");
  assert.equal(stateNote({}), "");
  assert.equal(stateNote({ cancelled: 1, not_available: 3 }), "3 not_available, 1 cancelled");
});

Deno.test("STATE_ORDER has every state a search can be in", () => {
  assert.deepEqual([...STATE_ORDER].sort(), Object.keys(TRANSITIONS).sort());
});

Deno.test("countOf adds the counts of every state", () => {
  assert.equal(countOf({ searching: 2, found: 1 }), 3);
  assert.equal(countOf({}), 0);
});

Deno.test("liveness says what the server decided, whenever the peer was last heard", () => {
  assert.equal(liveness({ online: true }), "online");
  assert.equal(liveness({ online: false }), "offline");
});

Deno.test("salesSeries steps through the completed sales, from the first sample to now", () => {
  const ledger = [
    entry(2_000, 0.1, "completed"),
    entry(3_000, 99, "cancelled"),
    entry(4_000, 0.2, "completed"),
  ];
  assert.deepEqual(salesSeries(ledger, 10_000, 1), [[1, 2, 4, 10], [0, 0.1, 0.3, 0.3]]);
  // With no sample yet, from the first sale.
  assert.deepEqual(salesSeries(ledger, 10_000, undefined)[0][0], 2);
  assert.deepEqual(salesSeries([], 10_000, undefined), [[10, 10], [0, 0]]);
});

Deno.test("sampleSeries and withSample keep the last samples for a chart", () => {
  const samples = [1, 2, 3].map((t) => ({ t, datagrams: t * 10, searches: t }));
  assert.deepEqual(sampleSeries(samples, "datagrams"), [[1, 2, 3], [10, 20, 30]]);
  const kept = withSample(samples, { t: 4, datagrams: 40, searches: 4 }, 3);
  assert.deepEqual(kept.map((sample) => sample.t), [2, 3, 4]);
  assert.equal(samples.length, 3, "the old list is left as it was");
});

Deno.test("the charts' axis labels never touch: time labels spaced past the widest, y axis wide enough", () => {
  const [x, y] = chartAxes();
  assert.equal(x.font, y.font);
  const font = Number(/^(\d+)px/.exec(x.font)?.[1]);
  assert.ok(font >= 10, x.font);
  // Ticks a day apart at every step the axis may take: the widest label of each.
  const at = Date.UTC(2026, 11, 8, 23, 59, 58) / 1000;
  for (const step of x.incrs) {
    assert.ok(Number.isInteger(step) && step >= 1, `step ${step}: whole seconds`);
    const labels = x.values(null, [at, at + step, at + 2 * step]);
    assert.deepEqual(labels.slice(0, 2), [clockLabel(at), clockLabel(at + step)]);
    for (const label of labels) {
      assert.match(label, /^\d\d:\d\d:\d\d$/);
      assert.ok(
        labelWidth(label, font) + AXIS_LABEL_GAP <= x.space,
        `"${label}" is ${labelWidth(label, font)} px wide; space ${x.space}`,
      );
    }
  }
  // One line of labels fits the x axis's height.
  assert.ok(x.size >= 10 + 5 + font, `x axis ${x.size} px high`);
  for (const values of [["0", "0.5", "1"], ["0", "5,000", "10,000", "12,345.5"]]) {
    const widest = Math.max(...values.map((value) => labelWidth(value, font)));
    assert.ok(y.size(null, values) >= widest + 10 + 5, `${values}: ${y.size(null, values)} px`);
  }
  assert.ok(y.size(null, null) > 15);
  // Rows of y labels: a line apart and a gap.
  assert.ok(y.space >= font + AXIS_LABEL_GAP, `y space ${y.space}`);
});

Deno.test("labelWidth grows with the text and the font", () => {
  assert.ok(labelWidth("00:00:00", 11) > labelWidth("0:00", 11));
  assert.ok(labelWidth("00:00:00", 12) > labelWidth("00:00:00", 11));
  assert.equal(labelWidth("", 11), 0);
});
