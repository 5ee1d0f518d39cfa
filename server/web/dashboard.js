// The server's dashboard: read-only counts, peers, open searches, the
// ledger, and live charts fed by one sample a second on the event stream.
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

const REFRESH_MS = 10_000;
const SAMPLES_KEPT = 300;

function App() {
  const [state, setState] = useState(undefined);
  const [samples, setSamples] = useState([]);
  const [error, setError] = useState("");
  const load = useCallback(() => {
    getJson("/api/state").then((data) => {
      setState(data);
      setSamples(data.samples);
      setError("");
    }, (e) => setError(e.message));
  }, []);
  const connection = useLive({
    open: load,
    sample: (sample) => {
      setSamples((list) => [...list, sample].slice(-SAMPLES_KEPT));
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
  const searching = Object.entries(counts.searches).map(([name, n]) => `${n} ${name}`).join(", ");
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
          <${Card} label="online (heard in 5 min)" value=${counts.online} />
          <${Card} label="open searches" value=${counts.open} note=${searching} />
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

function Card({ label, value, note, test }) {
  return html`<div class="card" data-test=${test}><div class="value">${value}</div>
    <div class="label">${label}</div>${note && html`<div class="notice">${note}</div>`}</div>`;
}

/** A uPlot chart in a div, made once and given new data on every render. */
function usePlot(options, data) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    plot.current = new uPlot(
      { ...options, width: box.current.clientWidth || 360 },
      data,
      box.current,
    );
    const resize = () =>
      plot.current.setSize({ width: box.current.clientWidth, height: options.height });
    globalThis.addEventListener("resize", resize);
    return () => {
      globalThis.removeEventListener("resize", resize);
      plot.current.destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return box;
}

function Chart({ title, samples, field, color }) {
  const data = [samples.map((s) => s.t), samples.map((s) => s[field])];
  const box = usePlot({
    title,
    height: 180,
    legend: { show: false },
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
    series: [{}, { label: title, stroke: color, fill: `${color}22`, width: 2 }],
  }, data);
  return html`<div class="card chart" ref=${box} data-test=${`chart-${field}`}></div>`;
}

function SalesChart({ ledger, now, since }) {
  const completed = ledger.filter((entry) => entry.outcome === "completed");
  // From the first sample (or sale) to now, like the other charts.
  const start = Math.min(since ?? now / 1000, ...completed.map((entry) => entry.at / 1000));
  const xs = [start], ys = [0];
  let sum = 0;
  for (const entry of completed) {
    sum += entry.price;
    xs.push(entry.at / 1000);
    ys.push(Math.round(sum * 100) / 100);
  }
  xs.push(now / 1000);
  ys.push(Math.round(sum * 100) / 100);
  const box = usePlot({
    title: "Sales over time (total)",
    height: 180,
    legend: { show: false },
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
    series: [{}, {
      label: "sales",
      stroke: "#18864b",
      fill: "#18864b22",
      width: 2,
      paths: uPlot.paths.stepped({ align: 1 }),
    }],
  }, [xs, ys]);
  return html`<div class="card chart" ref=${box} data-test="chart-sales"></div>`;
}

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
              <tr key=${peer.name} data-test="peer" data-name=${peer.name}>
                <td><b>${peer.name}</b></td>
                <td>${peer.address}<div class="notice">${peer.announced}</div></td>
                <td>${peer.kind}${peer.authenticated ? " (signed)" : ""}</td>
                <td>${peer.extensions.join(" ") || "–"}</td>
                <td>${peer.lastHeard ? when(peer.lastHeard) : "not since start"}
                            ${peer.online && html`
                              <span class="badge live">online</span>
                            `}</td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </section>
  `;
}

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

render(html`<${App} />`, document.getElementById("app"));
