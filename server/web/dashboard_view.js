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
