// @ts-check
// The server's dashboard: read-only counts, peers, open searches, the
// ledger, and live charts fed by one sample a second on the event stream.
// Typed with JSDoc from the API's types (api.ts); what it shows is worked
// out in dashboard_view.js.
import {
  Connection,
  getJson,
  html,
  money,
  render,
  useCallback,
  useEffect,
  useLive,
  useRef,
  useState,
  when,
} from "/common.js";
import uPlot from "/vendor/uplot.js";
import {
  chartAxes,
  countOf,
  liveness,
  salesSeries,
  sampleSeries,
  stateNote,
  withSample,
} from "./dashboard_view.js";

/** @typedef {import("./api.ts").DashboardPeer} DashboardPeer */
/** @typedef {import("./api.ts").DashboardSearch} DashboardSearch */
/** @typedef {import("./api.ts").DashboardState} DashboardState */
/** @typedef {import("./api.ts").Sample} Sample */
/** @typedef {import("./api.ts").SampleEvent} SampleEvent */
/** @typedef {import("../ledger.ts").LedgerTotals} LedgerTotals */
/** @typedef {import("../records.ts").LedgerEntry} LedgerEntry */

const REFRESH_MS = 10_000;
const SAMPLES_KEPT = 300;

function App() {
  const [state, setState] = useState(/** @type {DashboardState | undefined} */ (undefined));
  const [samples, setSamples] = useState(/** @type {readonly Sample[]} */ ([]));
  const [error, setError] = useState("");
  const load = useCallback(() => {
    getJson("/api/state").then((/** @type {DashboardState} */ data) => {
      setState(data);
      setSamples(data.samples);
      setError("");
    }, (/** @type {Error} */ e) => setError(e.message));
  }, []);
  const connection = useLive({
    open: load,
    sample: (/** @type {SampleEvent} */ sample) => {
      setSamples((list) => withSample(list, sample, SAMPLES_KEPT));
      if (sample.changed) load();
    },
  });
  useEffect(() => {
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  if (!state) return html`<p class="notice">${error || "Loading…"}</p>`;
  const { counts, totals } = state;
  return html`
    <header class="bar">
      <h1>shop server</h1>
      <span class="item">UDP <b>${state.server}</b></span>
      <span class="item">read-only dashboard</span>
      <${Connection} state=${connection} />
    </header>
    ${error && html`<p class="error">${error}</p>`}
    <main>
      <section class="wide" data-test="counts">
        <div class="cards">
          <${Card} label="peers registered" value=${counts.peers} test="peers" />
          <${Card} label="online" value=${counts.online} test="online"
            note=${counts.peers > counts.online ? `${counts.peers - counts.online} offline` : ""} />
          <${Card} label="open searches" value=${counts.open} test="open"
            note=${stateNote(counts.searches)} />
          <${Card} label="ended searches (kept)" value=${countOf(counts.ended)} test="ended"
            note=${stateNote(counts.ended)} />
          <${Card} label="transactions" value=${totals.transactions}
            note=${`${totals.completed} completed, ${totals.cancelled} cancelled`} />
          <${Card} label="sales" value=${money(totals.sales)} test="sales" />
          <${Card} label="fees" value=${money(totals.fees)} test="fees" />
        </div>
      </section>
      <section class="wide">
        <div class="charts">
          <${Chart} title="Datagrams / s" samples=${samples} field="datagrams" color="#2f6fec" />
          <${Chart} title="Searches / s" samples=${samples} field="searches" color="#b54708" />
          <${SalesChart} ledger=${state.ledger} now=${state.now} since=${samples[0]?.t} />
        </div>
      </section>
      <${Peers} peers=${state.peers} />
      <${Searches} open=${state.open} />
      <${Ledger} ledger=${state.ledger} totals=${totals} />
    </main>
  `;
}

/**
 * One count.
 *
 * @param {{ label: string, value: string | number, note?: string, test?: string }} props
 */
function Card({ label, value, note, test }) {
  return html`<div class="card" data-test=${test}><div class="value">${value}</div>
    <div class="label">${label}</div>${note && html`<div class="notice">${note}</div>`}</div>`;
}

/**
 * A uPlot chart in a div, made once and given new data on every render.
 *
 * @param {Omit<uPlot.Options, "width"> & { height: number }} options
 * @param {uPlot.AlignedData} data
 */
function usePlot(options, data) {
  // The chart's div (the DOM's types are not in the check: see web/client/_preact.d.ts).
  const box = useRef(/** @type {{ readonly clientWidth: number } | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const made = plot.current = new uPlot(
      { ...options, width: element.clientWidth || 360 },
      data,
      element,
    );
    const resize = () => made.setSize({ width: element.clientWidth, height: options.height });
    globalThis.addEventListener("resize", resize);
    return () => {
      globalThis.removeEventListener("resize", resize);
      made.destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return box;
}

/** @type {uPlot.Scale.Range} */
const fromZero = (_u, _min, max) => [0, Math.max(1, max * 1.2)];

/**
 * A chart of one field of the samples.
 *
 * @param {{
 *   title: string,
 *   samples: readonly Sample[],
 *   field: "datagrams" | "searches",
 *   color: string,
 * }} props
 */
function Chart({ title, samples, field, color }) {
  const data = sampleSeries(samples, field);
  const box = usePlot({
    title,
    height: 180,
    legend: { show: false },
    scales: { y: { range: fromZero } },
    axes: chartAxes(),
    series: [{}, { label: title, stroke: color, fill: `${color}22`, width: 2 }],
  }, data);
  return html`<div class="card chart" ref=${box} data-test=${`chart-${field}`}></div>`;
}

/**
 * The total of sales over time, from the first sample (or sale) to now,
 * like the other charts.
 *
 * @param {{ ledger: readonly LedgerEntry[], now: number, since: number | undefined }} props
 */
function SalesChart({ ledger, now, since }) {
  const stepped = uPlot.paths.stepped;
  const box = usePlot({
    title: "Sales over time (total)",
    height: 180,
    legend: { show: false },
    scales: { y: { range: fromZero } },
    axes: chartAxes(),
    series: [{}, {
      label: "sales",
      stroke: "#18864b",
      fill: "#18864b22",
      width: 2,
      ...(stepped ? { paths: stepped({ align: 1 }) } : {}),
    }],
  }, salesSeries(ledger, now, since));
  return html`<div class="card chart" ref=${box} data-test="chart-sales"></div>`;
}

/**
 * The registered peers, online or not as the server sees them.
 *
 * @param {{ peers: readonly DashboardPeer[] }} props
 */
function Peers({ peers }) {
  return html`
    <section data-test="peers">
      <h2>Peers <span class="count">${peers.length}</span></h2>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Address</th>
            <th>Kind</th>
            <th>Extensions</th>
            <th>Last heard</th>
          </tr>
        </thead>
        <tbody>
          ${peers.length === 0 && html`
            <tr>
              <td colspan="5" class="notice">No peer registered.</td>
            </tr>
          `}
          ${peers.map((peer) =>
            html`
              <tr key=${peer.name} data-test="peer" data-name=${peer.name}
                data-liveness=${liveness(peer)}>
                <td><b>${peer.name}</b></td>
                <td>${peer.address}<div class="notice">${peer.announced}</div></td>
                <td>${peer.kind}${peer.authenticated ? " (signed)" : ""}</td>
                <td>${peer.extensions.join(" ") || "–"}</td>
                <td>${peer.lastHeard ? when(peer.lastHeard) : "not since start"} <${Liveness}
                  peer=${peer} /></td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </section>
  `;
}

/**
 * The server's view of a peer: online, or offline (silent past
 * `--offline-after`, or not acknowledging).
 *
 * @param {{ peer: DashboardPeer }} props
 */
function Liveness({ peer }) {
  const badge = `badge ${peer.online ? "live" : "lost"}`;
  return html`<span class=${badge} data-test="liveness">${liveness(peer)}</span>`;
}

/**
 * The open searches.
 *
 * @param {{ open: readonly DashboardSearch[] }} props
 */
function Searches({ open }) {
  return html`
    <section data-test="searches">
      <h2>Open searches <span class="count">${open.length}</span></h2>
      <table>
        <thead>
          <tr>
            <th>Buyer</th>
            <th>Item</th>
            <th class="num">Max</th>
            <th>State</th>
            <th>Seller</th>
            <th class="num">Price</th>
            <th>Since</th>
          </tr>
        </thead>
        <tbody>
          ${open.length === 0 && html`
            <tr>
              <td colspan="7" class="notice">No open search.</td>
            </tr>
          `}
          ${open.map((request) =>
            html`
              <tr key=${request.id}>
                <td>${request.buyer}</td>
                <td>${request.item}</td>
                <td class="num">${money(request.maxPrice)}</td>
                <td><span class=${`badge ${request.state}`}>${request.state}</span></td>
                <td>${request.seller ?? "–"}</td>
                <td class="num">${money(request.price)}</td>
                <td>${when(request.createdAt)}</td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </section>
  `;
}

/**
 * Every transaction, newest first, with the totals.
 *
 * @param {{ ledger: readonly LedgerEntry[], totals: LedgerTotals }} props
 */
function Ledger({ ledger, totals }) {
  return html`
    <section class="wide" data-test="ledger">
      <h2>Ledger <span class="count">${ledger.length}</span>
        <a class="button plain" href="/api/ledger.csv" download="ledger.csv">Export CSV</a></h2>
      <table>
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th>Item</th>
            <th class="num">Price</th>
            <th class="num">Fee</th>
            <th class="num">Seller gets</th>
            <th>Buyer</th>
            <th>Seller</th>
            <th>Card</th>
            <th>Outcome</th>
          </tr>
        </thead>
        <tbody>
          ${ledger.length === 0 && html`
            <tr>
              <td colspan="9" class="notice">No transactions yet.</td>
            </tr>
          `}
          ${[...ledger].reverse().map((entry) =>
            html`
              <tr key=${entry.tx} data-test="entry" data-outcome=${entry.outcome}>
                <td>${when(entry.at)}</td>
                <td>${entry.item}</td>
                <td class="num">${money(entry.price)}</td>
                <td class="num" data-test="fee">${money(entry.fee)}</td>
                <td class="num">${money(entry.sellerCredit)}</td>
                <td>${entry.buyer}</td>
                <td>${entry.seller}</td>
                <td>${entry.buyerCard ?? "–"}</td>
                <td><span class=${`badge ${entry.outcome}`}>${entry.outcome}</span>
                            ${entry.reason && html`<div class="notice">${entry.reason}</div>`}</td>
              </tr>
            `
          )}
        </tbody>
        <tfoot>
          <tr>
            <td colspan="2">${totals.completed} completed</td>
            <td class="num">${money(totals.sales)}</td>
            <td class="num">${money(totals.fees)}</td>
            <td class="num">${money(totals.credits)}</td>
            <td colspan="4"></td>
          </tr>
        </tfoot>
      </table>
    </section>
  `;
}

/**
 * The page (typed here: the DOM's types are not in the check, see
 * web/client/_preact.d.ts).
 *
 * @type {{ getElementById(id: string): object | null }}
 */
const page = Reflect.get(globalThis, "document");
const root = page.getElementById("app");
if (root) render(html`<${App} />`, root);
