// @ts-check
// What the dashboard shows, worked out from the API's data without the
// DOM: the notes of the cards and the series of the charts. Served beside
// dashboard.js and tested in Deno (dashboard_view_test.ts).

/** @typedef {import("./api.ts").DashboardPeer} DashboardPeer */
/** @typedef {import("./api.ts").Sample} Sample */
/** @typedef {import("./api.ts").StateCounts} StateCounts */
/** @typedef {import("../records.ts").LedgerEntry} LedgerEntry */
/** @typedef {[number[], number[]]} Series A chart's x (seconds) and y values. */

/** The states in the order of a search's life. */
export const STATE_ORDER = Object.freeze([
  "searching",
  "negotiating",
  "found",
  "buying",
  "bought",
  "not_available",
  "not_found",
  "cancelled",
]);

/**
 * Searches by state as a note, in the order of a search's life:
 * `2 searching, 1 found`; empty when there are none.
 *
 * @param {StateCounts} counts
 * @returns {string}
 */
export function stateNote(counts) {
  /** @type {Record<string, number | undefined>} */
  const byState = counts;
  const rank = (/** @type {string} */ state) => {
    const at = STATE_ORDER.indexOf(state);
    return at < 0 ? STATE_ORDER.length : at;
  };
  return Object.keys(byState)
    .filter((state) => (byState[state] ?? 0) > 0)
    .sort((a, b) => rank(a) - rank(b))
    .map((state) => `${byState[state]} ${state}`)
    .join(", ");
}

/**
 * How many searches the counts hold.
 *
 * @param {StateCounts} counts
 * @returns {number}
 */
export function countOf(counts) {
  return Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0);
}

/**
 * What the peers' liveness badge says: the server's own view.
 *
 * @param {Pick<DashboardPeer, "online">} peer
 * @returns {"online" | "offline"}
 */
export function liveness(peer) {
  return peer.online ? "online" : "offline";
}

/**
 * One field of the samples as a chart series.
 *
 * @param {readonly Sample[]} samples
 * @param {"datagrams" | "searches"} field
 * @returns {Series}
 */
export function sampleSeries(samples, field) {
  return [samples.map((sample) => sample.t), samples.map((sample) => sample[field])];
}

/**
 * The running total of completed sales as a step series, from `since` (or
 * the first sale, whichever is earlier) to `now`, in exact cents.
 *
 * @param {readonly LedgerEntry[]} ledger Oldest first.
 * @param {number} now Milliseconds since the epoch.
 * @param {number | undefined} since Seconds since the epoch: the first sample.
 * @returns {Series}
 */
export function salesSeries(ledger, now, since) {
  const completed = ledger.filter((entry) => entry.outcome === "completed");
  const start = Math.min(since ?? now / 1000, ...completed.map((entry) => entry.at / 1000));
  const xs = [start], ys = [0];
  let cents = 0;
  for (const entry of completed) {
    cents += Math.round(entry.price * 100);
    xs.push(entry.at / 1000);
    ys.push(cents / 100);
  }
  xs.push(now / 1000);
  ys.push(cents / 100);
  return [xs, ys];
}

/**
 * The samples with one more, at most `kept` of them.
 *
 * @param {readonly Sample[]} samples
 * @param {Sample} sample
 * @param {number} kept
 * @returns {Sample[]}
 */
export function withSample(samples, sample, kept) {
  return [...samples, sample].slice(-kept);
}

/** The size of the charts' axis labels, in CSS pixels. */
export const AXIS_FONT_PX = 11;

/** Least room between two axis labels side by side, in CSS pixels. */
export const AXIS_LABEL_GAP = 14;

/** The x axis's steps, in seconds: whole seconds, the samples' own step. */
export const TIME_STEPS = Object.freeze([
  1,
  2,
  5,
  10,
  15,
  30,
  60,
  120,
  300,
  600,
  900,
  1_800,
  3_600,
  7_200,
  21_600,
  43_200,
  86_400,
]);

/**
 * How wide a label is drawn, at most, in `fontPx` of a sans-serif font: a
 * little wider than any such font draws it, so labels spaced by it never
 * touch.
 *
 * @param {string} text
 * @param {number} [fontPx]
 * @returns {number}
 */
export function labelWidth(text, fontPx = AXIS_FONT_PX) {
  let ems = 0;
  for (const char of text) ems += /[:.,' ]/.test(char) ? 0.36 : /[mwMW]/.test(char) ? 1 : 0.66;
  return Math.ceil(ems * fontPx);
}

/**
 * A time on the x axis: `HH:MM:SS` in UTC, as the dashboard's other times.
 *
 * @param {number} seconds Since the epoch.
 * @returns {string}
 */
export function clockLabel(seconds) {
  return new Date(Math.round(seconds) * 1000).toISOString().slice(11, 19);
}

/**
 * The axes of a chart, for uPlot: time labels spaced so the widest never
 * touches the next (so a narrow chart gets fewer of them, not overlapping
 * ones), and a y axis wide enough for its widest label.
 *
 * @returns {[XAxis, YAxis]}
 * @typedef {{
 *   font: string,
 *   space: number,
 *   size: number,
 *   incrs: number[],
 *   values: (self: unknown, splits: number[]) => string[],
 * }} XAxis
 * @typedef {{
 *   font: string,
 *   space: number,
 *   size: (self: unknown, values: string[] | null) => number,
 * }} YAxis
 */
export function chartAxes() {
  const font = `${AXIS_FONT_PX}px system-ui, sans-serif`;
  return [{
    font,
    space: labelWidth(clockLabel(0)) + AXIS_LABEL_GAP,
    // One line of labels (no date line under them): tick, gap, label, margin.
    size: 10 + 5 + Math.ceil(AXIS_FONT_PX * 1.2) + 4,
    incrs: [...TIME_STEPS],
    values: (_self, splits) => splits.map(clockLabel),
  }, {
    font,
    // Label height and a gap between them.
    space: Math.ceil(AXIS_FONT_PX * 1.2) + AXIS_LABEL_GAP,
    size: (_self, values) => yAxisSize(values ?? []),
  }];
}

/**
 * How wide the y axis must be for its labels: the widest, its tick and gaps.
 *
 * @param {readonly string[]} values
 * @returns {number}
 */
export function yAxisSize(values) {
  const widest = Math.max(labelWidth("0"), ...values.map((value) => labelWidth(value)));
  // uPlot's tick (10 px) and gap (5 px), and a margin at the edge.
  return widest + 10 + 5 + 6;
}
