// The peer's page: status, questions, market, selling, history and the
// live event log. Every action is a POST the peer turns into the line a
// user would type; the state is fetched again after every event.
// Card data lives in the form's fields only, never in storage.
import {
  Connection,
  getJson,
  html,
  money,
  post,
  render,
  useCallback,
  useCoalesced,
  useEffect,
  useLive,
  useState,
  when,
} from "/common.js";

const STATE_LABELS = {
  searching: "collecting offers",
  found: "found",
  buying: "buying",
  bought: "bought",
  cancelled: "cancelled",
  not_available: "not available",
  not_found: "not found",
  failed: "failed",
  denied: "denied",
};
const LOG_KEPT = 300;

function App() {
  const [state, setState] = useState(undefined);
  const [log, setLog] = useState([]);
  const [error, setError] = useState("");
  const load = useCallback(() => {
    getJson("/api/state").then(setState, (e) => setError(e.message));
  }, []);
  const refresh = useCoalesced(load, 100);
  const connection = useLive({
    open: load,
    reset: () => setLog([]),
    output: (output, id) => {
      setLog((entries) => [{ id, ...output }, ...entries].slice(0, LOG_KEPT));
      refresh();
    },
  });
  useEffect(load, []);
  if (!state) return html`<p class="notice">${error || "Loading…"}</p>`;
  if (state.starting) return html`<p class="notice">The peer is starting…</p>`;
  const act = (path, body) =>
    post(path, body).then(() => (setError(""), load()), (e) => (setError(e.message), load()));
  return html`
    <${StatusBar} status=${state.status} connection=${connection} act=${act} />
    ${error && html`<p class="error wide-error" data-test="error" role="alert">${error}</p>`}
    <main>
      <${Questions} questions=${state.questions} status=${state.status} act=${act} />
      <${Market} requests=${state.requests} questions=${state.questions} act=${act}
        catalogue=${log.find((entry) => entry.event === "browse")?.fields} />
      <${Selling} items=${state.items} act=${act} />
      <${History} history=${state.history} />
      <${EventLog} log=${log} />
    </main>
  `;
}

function StatusBar({ status, connection, act }) {
  return html`
    <header class="bar">
      <h1>shop peer</h1>
      <span class="item" data-test="registration">
        <span class=${`badge ${status.registered ? "registered" : ""}`}>${status.registered
          ? "registered"
          : "not registered"}</span>
      </span>
      <span class="item">server <b>${status.server}</b> ${status.serverKind === "classic"
        ? "(classic)"
        : ""}</span>
      <span class="item">server key <b>${status.serverKeyFingerprint ?? "not pinned yet"}</b></span>
      <span class="item">my key <b>${status.keyFingerprint}</b></span>
      <span class="item">
        <label><input type="checkbox" checked=${status.autoBuy}
          onChange=${(e) =>
            act("/api/auto-buy", { on: e.currentTarget.checked })} /> auto-buy</label>
      </span>
      <${Connection} state=${connection} />
      ${status.registered
        ? html`<button class="plain" onClick=${() => act("/api/deregister")}>Leave</button>`
        : html`<button onClick=${() =>
          act("/api/register")} data-test="register">Register</button>`}
    </header>
  `;
}

function Questions({ questions, status, act }) {
  return html`
    <section class="wide" data-test="questions">
      <h2>Questions <span class="count">${questions.length || "none waiting"}</span></h2>
      ${questions.length === 0 && html`
        <p
          class="notice">Questions (buy this? accept this offer? payment details?) wait here until answered, here or in the terminal.</p>
      `}
      ${questions.map((question) =>
        question.about === "CARD" || question.about === "EXPIRY" || question.about === "ADDRESS"
          ? html`<${PaymentForm} key=${
            question.about + question.rq
          } question=${question} status=${status} act=${act} />`
          : html`<${YesNo} key=${question.about + question.rq} question=${question} act=${act} />`
      )}
    </section>
  `;
}

function YesNo({ question, act }) {
  const answer = (yes) => act("/api/answer", { about: question.about, rq: question.rq, yes });
  const [yes, no] = question.about === "FOUND" ? ["Buy", "Cancel"] : ["Accept", "Refuse"];
  return html`
    <div class=${`question ${
      question.asked ? "" : "waiting"
    }`} data-test="question" data-about=${question.about}>
      <div>${question.text}</div>
      <div class="actions">
        <button disabled=${!question.asked} onClick=${() => answer(true)}>${yes}</button>
        <button class="danger" disabled=${!question.asked} onClick=${() =>
          answer(false)}>${no}</button>
        ${!question.asked && html`<span class="notice">waits for the question before it</span>`}
      </div>
    </div>
  `;
}

function PaymentForm({ question, status, act }) {
  // Kept in this component only: gone once the question is answered.
  const [card, setCard] = useState("");
  const [expiry, setExpiry] = useState("");
  const [address, setAddress] = useState("");
  if (question.about !== "CARD") {
    return html`<div class="question waiting">Payment details are being typed in the terminal.</div>`;
  }
  if (!status.cardDataAllowed) {
    return html`
      <div
        class="question">Card data is accepted only on this machine or over HTTPS: type it in the peer's terminal.</div>
    `;
  }
  const submit = (event) => {
    event.preventDefault();
    act("/api/payment", { rq: question.rq, card, expiry, address });
  };
  return html`
    <form class=${`question stack ${question.asked ? "" : "waiting"}`} onSubmit=${submit}
      data-test="payment" autocomplete="off">
      <div><b>Payment details</b> for the ${question.role ?? "buyer"} of ${question.item ?? "the item"} (${money(question.price)}). ${
    status.authenticated ? "Sent to the server over TLS; " : ""
  }kept in this peer's memory only, never stored.</div>
      <label>Card number<input name="card" type="password" inputmode="numeric" autocomplete="off"
        value=${card} onInput=${(e) => setCard(e.currentTarget.value)} required /></label>
      <label>Expiry (MM/YY)<input name="expiry" type="password" autocomplete="off" class="short"
        value=${expiry} onInput=${(e) => setExpiry(e.currentTarget.value)} required /></label>
      <label>${question.role === "seller" ? "Your address" : "Ship to"}<input name="address"
        autocomplete="off" value=${address} onInput=${(e) =>
          setAddress(e.currentTarget.value)} required /></label>
      <div
        class="actions"><button type="submit" disabled=${!question
          .asked}>Send payment details</button></div>
    </form>
  `;
}

/** What is for sale (the offer book's catalogue), from the last `browse` event. */
function Catalogue({ catalogue, act }) {
  const [prefix, setPrefix] = useState("");
  const browse = (event) => {
    event.preventDefault();
    act("/api/browse", { prefix });
  };
  return html`
    <form class="row" onSubmit=${browse} data-test="browse">
      <label>Browse items starting with<input name="prefix" value=${prefix} onInput=${(e) =>
        setPrefix(e.currentTarget.value)} /></label>
      <button type="submit">Browse</button>
    </form>
    ${catalogue && html`
      <table data-test="catalogue">
        <caption>For sale</caption>
        <thead>
          <tr><th>Item</th><th class="num">From</th><th class="num">Sellers</th><th class="num">For sale</th></tr>
        </thead>
        <tbody>
          ${catalogue.entries.length === 0 && html`
            <tr><td colspan="4" class="notice">Nothing for sale${catalogue.prefix ? ` starting with "${catalogue.prefix}"` : ""}.</td></tr>`}
          ${catalogue.entries.map((entry) => html`
            <tr key=${entry.item}>
              <td>${entry.item}</td>
              <td class="num">${Number(entry.price).toFixed(2)}</td>
              <td class="num">${entry.sellers}</td>
              <td class="num">${entry.quantity}</td>
            </tr>`)}
        </tbody>
      </table>`}
  `;
}

function Market({ requests, questions, act, catalogue }) {
  const [item, setItem] = useState("");
  const [maxPrice, setMaxPrice] = useState("");
  const [description, setDescription] = useState("");
  const search = (event) => {
    event.preventDefault();
    act("/api/buy", { item, maxPrice, description });
  };
  const open = requests.filter((r) => ["searching", "found", "buying"].includes(r.state));
  const found = (rq) => questions.find((q) => q.about === "FOUND" && q.rq === rq);
  return html`
    <section data-test="market">
      <h2>Market <span class="count">${open.length} open</span></h2>
      <form class="row" onSubmit=${search} data-test="search">
        <label>Item<input name="item" value=${item} onInput=${(e) =>
          setItem(e.currentTarget.value)} required /></label>
        <label>Max price<input name="maxPrice" class="short" inputmode="decimal" value=${maxPrice}
          onInput=${(e) => setMaxPrice(e.currentTarget.value)} required /></label>
        <label>Description<input name="description" value=${description}
          onInput=${(e) => setDescription(e.currentTarget.value)} /></label>
        <button type="submit">Search</button>
      </form>
      <${Catalogue} catalogue=${catalogue} act=${act} />
      <table>
        <thead>
          <tr>
            <th>Item</th>
            <th class="num">Max</th>
            <th>State</th>
            <th class="num">Price</th>
            <th>Seller</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${requests.length === 0 && html`
            <tr>
              <td colspan="6" class="notice">No searches yet.</td>
            </tr>
          `}
          ${[...requests].reverse().map((request) => {
            const question = found(request.rq);
            return html`
              <tr key=${request.rq} data-test="request" data-state=${request.state}>
                <td>${request.item}<div class="notice">${request.description}</div></td>
                <td class="num">${money(request.maxPrice)}</td>
                <td><span class=${`badge ${request.state}`}>${STATE_LABELS[request.state] ??
                  request.state}</span>
                  ${request.reason && html`<div class="notice">${request.reason}</div>`}</td>
                <td class="num">${money(request.price)}</td>
                <td>${request.seller ?? "–"}</td>
                <td>${question
                  ? html`
                    <button disabled=${!question.asked} onClick=${() =>
                      act("/api/answer", {
                        about: "FOUND",
                        rq: request.rq,
                        yes: true,
                      })}>Buy</button>
                    <button class="danger" disabled=${!question.asked} onClick=${() =>
                      act("/api/answer", {
                        about: "FOUND",
                        rq: request.rq,
                        yes: false,
                      })}>Cancel</button>
                  `
                  : ["cancelled", "not_available", "not_found", "failed", "denied"].includes(
                      request.state,
                    )
                  ? html`<button class="plain" onClick=${() =>
                    act("/api/buy", {
                      item: request.item,
                      maxPrice: String(request.maxPrice),
                      description: request.description,
                    })}>Search again</button>`
                  : ""}</td>
              </tr>
            `;
          })}
        </tbody>
      </table>
    </section>
  `;
}

function Selling({ items, act }) {
  const empty = { item: "", price: "", floor: "", description: "" };
  const [form, setForm] = useState(empty);
  const set = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.value });
  const list = (event) => {
    event.preventDefault();
    act("/api/sell", form).then(() => setForm(empty));
  };
  return html`
    <section data-test="selling">
      <h2>Selling <span class="count">${items.length} item${items.length === 1
        ? ""
        : "s"}</span></h2>
      <form class="row" onSubmit=${list} data-test="sell">
        <label>Item<input name="item" value=${form.item} onInput=${set("item")} required /></label>
        <label>Price<input name="price" class="short" inputmode="decimal" value=${form
          .price} onInput=${set("price")} required /></label>
        <label>Floor<input name="floor" class="short" inputmode="decimal" value=${form
          .floor} onInput=${set("floor")} /></label>
        <label>Description<input name="description" value=${form.description} onInput=${set(
          "description",
        )} /></label>
        <button type="submit">List</button>
      </form>
      <table>
        <thead>
          <tr>
            <th>Item</th>
            <th class="num">Price</th>
            <th class="num">Floor</th>
            <th>State</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${items.length === 0 && html`
            <tr>
              <td colspan="5" class="notice">Nothing for sale.</td>
            </tr>
          `}
          ${items.map((item) =>
            html`
              <tr key=${item.item} data-test="item" data-item=${item.item}>
                <td>${item.item}<div class="notice">${item.description}</div></td>
                <td class="num">${money(item.price)}</td>
                <td class="num">${money(item.floor)}</td>
                <td><span class=${`badge ${item.state}`}>${item.state}</span></td>
                <td>
                  <button class="plain" disabled=${item.state !== "available"} onClick=${() =>
                    setForm({
                      item: item.item,
                      price: String(item.price),
                      floor: item.floor === undefined ? "" : String(item.floor),
                      description: item.description,
                    })}>Edit</button>
                  <button class="danger" disabled=${item.state !== "available"}
                    onClick=${() => act("/api/unsell", { item: item.item })}>Unlist</button>
                </td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </section>
  `;
}

function History({ history }) {
  const sold = history.filter((entry) => entry.role === "seller");
  const received = sold.reduce((sum, entry) => sum + Math.round(entry.credit * 100), 0) / 100;
  const fees = sold.reduce((sum, entry) => sum + Math.round(entry.fee * 100), 0) / 100;
  return html`
    <section class="wide" data-test="history">
      <h2>History <span class="count">${history.length}</span>
        <a class="button plain" href="/api/history.csv" download="history.csv">Export CSV</a></h2>
      <table>
        <thead><tr><th>Time (UTC)</th><th></th><th>Item</th><th class="num">Price</th><th class="num">Fee</th>
          <th class="num">Seller got</th><th>With</th><th>Ship to</th></tr></thead>
        <tbody>
          ${history.length === 0 && html`
            <tr>
              <td colspan="8" class="notice">No sales or purchases yet.</td>
            </tr>
          `}
          ${[...history].reverse().map((entry) =>
            html`
              <tr key=${entry.tx} data-test="sale" data-role=${entry.role}>
                <td>${when(entry.at)}</td>
                <td><span class="badge completed">${entry.role === "seller"
                  ? "sold"
                  : "bought"}</span></td>
                <td>${entry.item}</td>
                <td class="num">${money(entry.price)}</td>
                <td class="num">${money(entry.fee)}</td>
                <td class="num">${money(entry.credit)}</td>
                <td>${entry.counterparty ?? "–"}</td>
                <td data-test="ship-to">${entry.address ?? "–"}</td>
              </tr>
            `
          )}
        </tbody>
        ${sold.length > 0 &&
          html`
            <tfoot>
              <tr>
                <td colspan="4">Sold ${sold.length}</td>
                <td class="num">${money(fees)}</td>
                <td class="num">${money(received)}</td>
                <td colspan="2"></td>
              </tr>
            </tfoot>
          `}
      </table>
    </section>
  `;
}

function EventLog({ log }) {
  return html`
    <section class="wide" data-test="log">
      <h2>Events <span class="count">live, as --json prints them</span></h2>
      <ul class="log">
        ${log.length === 0 && html`<li class="notice">Nothing yet.</li>`}
        ${log.map((entry) =>
          html`<li key=${entry.id}><span class=${`event ${
            entry.event === "error" ? "error-event" : ""
          }`}>${entry.event}</span> ${entry.text}</li>`
        )}
      </ul>
    </section>
  `;
}

render(html`<${App} />`, document.getElementById("app"));
