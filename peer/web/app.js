// @ts-check
// The peer's page: status, questions, market, selling, history and the
// live event log. Every action is a POST the peer turns into the line a
// user would type; its error, if any, is shown beside the form that sent
// it, and the state is fetched again after every event.
// Card data lives in the form's fields only, never in storage.
// @ts-types="../../web/client/_preact.d.ts"
import { render } from "/vendor/preact.js";
// @ts-types="../../web/client/_preact.d.ts"
import { useCallback, useEffect, useRef, useState } from "/vendor/hooks.js";
import { html, useCoalesced } from "/common.js";
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

/** @typedef {import("./page_types.ts").PageState} PageState */
/** @typedef {import("./page_types.ts").PageStarting} PageStarting */
/** @typedef {import("./page_types.ts").PageStatus} PageStatus */
/** @typedef {import("./page_types.ts").PageItem} PageItem */
/** @typedef {import("./page_types.ts").PageQuestion} PageQuestion */
/** @typedef {import("./page_types.ts").PageOutput} PageOutput */
/** @typedef {import("./page_types.ts").BuyRequest} BuyRequest */
/** @typedef {import("./page_types.ts").HistoryEntry} HistoryEntry */
/** @typedef {PageOutput & { id: string }} LogEntry */
/** @typedef {"connecting" | "live" | "lost" | "restarted"} ConnectionState */
/**
 * A form field as the handlers read it (the project is type-checked with
 * Deno's types, which have no DOM: see web/client/_preact.d.ts).
 *
 * @typedef {{ value: string; checked: boolean }} Field
 */
/** @typedef {(path: string, body?: Record<string, unknown>) => Promise<void>} Act */
/** @typedef {{ item: string; price: number; sellers: number; quantity: number }} CatalogueEntry */
/** @typedef {{ prefix: string; entries: CatalogueEntry[] }} Catalogue */

/**
 * The field an input's event came from.
 *
 * @param {Event} event
 * @returns {Field}
 */
const fieldOf = (event) => /** @type {Field} */ (/** @type {unknown} */ (event.currentTarget));

/** @type {Readonly<Record<string, string>>} */
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
const ENDED = ["cancelled", "not_available", "not_found", "failed", "denied"];
const LOG_KEPT = 300;

/** Thrown by {@linkcode call}: the words to show, and whether the peer restarted. */
class ActionError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/**
 * Calls the page's API; throws an {@linkcode ActionError} in words.
 *
 * @param {string} path
 * @param {Record<string, unknown>} [body] POSTed as JSON when given
 * @returns {Promise<unknown>}
 */
async function call(path, body) {
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, {
      credentials: "same-origin",
      ...(body === undefined ? {} : {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    });
  } catch {
    throw new ActionError(UNREACHABLE, 0);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ActionError(errorText(response.status, data), response.status);
  return data;
}

/**
 * The page's event stream and its state: "restarted" once the peer no
 * longer knows this page's token (it started anew).
 *
 * @param {{ open: () => void; reset: () => void; output: (data: PageOutput, id: string) => void }} handlers
 * @returns {[ConnectionState, (state: ConnectionState) => void]}
 */
function useLive(handlers) {
  const [state, setState] = useState(/** @type {ConnectionState} */ ("connecting"));
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    const source = new EventSource("/api/events");
    source.onopen = () => {
      setState("live");
      current.current.open();
    };
    source.onerror = () => {
      setState((was) => was === "restarted" ? was : "lost");
      // A refused stream is not retried by the browser: ask why.
      call("/api/state").catch((error) => {
        if (error instanceof ActionError && error.status === 401) {
          source.close();
          setState("restarted");
        }
      });
    };
    source.addEventListener("reset", () => current.current.reset());
    source.addEventListener("output", (event) => {
      current.current.output(JSON.parse(event.data), event.lastEventId);
    });
    return () => source.close();
  }, []);
  return [state, setState];
}

/**
 * The time now, again every `ms` (for countdowns).
 *
 * @param {number} ms
 */
function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * An action's error, shown beside the form that sent it.
 *
 * @returns {[string, (promise: Promise<void>) => Promise<boolean>]} the error, and a
 *   wrapper that records the error of a promise (true when it succeeded)
 */
function useFormError() {
  const [error, setError] = useState("");
  const track = useCallback(
    (/** @type {Promise<void>} */ promise) =>
      promise.then(() => (setError(""), true), (/** @type {Error} */ e) => {
        setError(e.message);
        return false;
      }),
    [],
  );
  return [error, track];
}

/** @param {{ error: string; name: string }} props */
function FormError({ error, name }) {
  return error
    ? html`<p class="error" data-test="form-error" data-form=${name} role="alert">${error}</p>`
    : null;
}

function App() {
  const [state, setState] = useState(
    /** @type {PageState | PageStarting | undefined} */ (undefined),
  );
  const [log, setLog] = useState(/** @type {LogEntry[]} */ ([]));
  // The log as of the last event, for a handler run before the next render.
  const latest = useRef(/** @type {LogEntry[]} */ ([]));
  const [error, setError] = useState("");
  const [withdrawn, setWithdrawn] = useState("");
  const [catalogue, setCatalogue] = useState(/** @type {Catalogue | undefined} */ (undefined));
  const name = state && !state.starting ? state.status.name : undefined;
  const load = useCallback(() => {
    call("/api/state").then(
      (data) => setState(/** @type {PageState | PageStarting} */ (data)),
      (e) => setError(e.message),
    );
  }, []);
  const refresh = useCoalesced(load, 100);
  const rebrowse = useCoalesced(() => {
    if (catalogue) call("/api/browse", { prefix: catalogue.prefix }).catch(() => {});
  }, 300);
  const [connection, setConnection] = useLive({
    open: load,
    reset: () => setLog(latest.current = []),
    output: (output, id) => {
      latest.current = [{ id, ...output }, ...latest.current].slice(0, LOG_KEPT);
      setLog(latest.current);
      if (output.event === "browse") {
        setCatalogue(/** @type {Catalogue} */ (/** @type {unknown} */ (output.fields)));
      } else if (catalogue && changesCatalogue(output.event)) rebrowse();
      if (
        output.event === "warning" && output.text.startsWith("No longer asking for payment details")
      ) {
        setWithdrawn(withdrawnText(latest.current, name));
        // The form goes at once, not at the next coalesced refresh.
        load();
      } else if (output.event === "prompt" && output.fields.about === "CARD") setWithdrawn("");
      refresh();
    },
  });
  useEffect(load, []);
  /** @type {Act} */
  const act = (path, body = {}) =>
    call(path, body).then(() => load(), (e) => {
      if (e instanceof ActionError && e.status === 401) setConnection("restarted");
      load();
      throw e;
    });
  /** @type {Act} */
  const actHere = (path, body) =>
    act(path, body).then(() => setError(""), (e) => setError(e.message));
  const banner = connection === "restarted"
    ? html`<p class="error wide-error" data-test="restarted" role="alert">${RESTARTED}</p>`
    : error
    ? html`<p class="error wide-error" data-test="error" role="alert">${error}</p>`
    : null;
  if (!state) return html`${banner}<p class="notice">${error ? "" : "Loading…"}</p>`;
  if (state.starting) return html`<p class="notice">The peer is starting…</p>`;
  return html`
    <${StatusBar} status=${state.status} connection=${connection} act=${actHere} />
    ${banner}
    <main>
      <${Questions} questions=${state.questions} status=${state.status} act=${act}
        withdrawn=${withdrawn} dismiss=${() => setWithdrawn("")} />
      <${Market} requests=${state.requests} questions=${state.questions} act=${act}
        catalogue=${catalogue} name=${state.status.name} />
      <${Selling} items=${state.items} act=${act} />
      <${History} history=${state.history} />
      <${EventLog} log=${log} name=${name} />
    </main>
  `;
}

/** @param {{ state: ConnectionState }} props */
function Connection({ state }) {
  /** @type {Record<ConnectionState, string>} */
  const labels = {
    live: "live",
    lost: "connection lost",
    connecting: "connecting…",
    restarted: "peer restarted",
  };
  const badge = state === "restarted" ? "lost" : state;
  return html`<span class=${`badge ${badge}`} data-test="connection">${labels[state]}</span>`;
}

/** @param {{ status: PageStatus; connection: ConnectionState; act: Act }} props */
function StatusBar({ status, connection, act }) {
  const [leaving, setLeaving] = useState(false);
  return html`
    <header class="bar">
      <h1>shop peer <b>${status.name}</b></h1>
      <span class="item" data-test="registration">
        <span class=${`badge ${status.registered ? "registered" : ""}`}>${status.registered
          ? "registered"
          : "not registered"}</span>
      </span>
      <span class="item">server <b>${status.server}</b> ${status.serverKind === "classic"
        ? "(classic)"
        : ""}</span>
      ${status.notAnsweringSince === undefined ? null : html`
        <span class="item" data-test="not-answering" role="status">
          <span class="badge lost">server not answering since ${new Date(status.notAnsweringSince)
            .toISOString().slice(11, 19)}</span>
        </span>
      `}
      <span class="item">server key <b>${status.serverKeyFingerprint ?? "not pinned yet"}</b></span>
      <span class="item">my key <b>${status.keyFingerprint}</b></span>
      <span class="item">
        <label><input type="checkbox" checked=${status.autoBuy}
          onChange=${(/** @type {Event} */ e) =>
            act("/api/auto-buy", {
              on: fieldOf(e).checked,
            })} /> auto-buy</label>
      </span>
      <${Connection} state=${connection} />
      ${!status.registered
        ? html`<button onClick=${() => act("/api/register")} data-test="register">Register</button>`
        : leaving
        ? html`
          <span class="confirm" data-test="leave-confirm">Leave the marketplace? Your items are withdrawn.
            <button class="danger" onClick=${() => {
              setLeaving(false);
              act("/api/deregister");
            }}>Yes, leave</button>
            <button class="plain" onClick=${() => setLeaving(false)}>Stay</button>
          </span>
        `
        : html`<button class="plain" data-test="leave" onClick=${() =>
          setLeaving(true)}>Leave</button>`}
    </header>
  `;
}

/**
 * @param {{ questions: readonly PageQuestion[]; status: PageStatus; act: Act;
 *   withdrawn: string; dismiss: () => void }} props
 */
function Questions({ questions, status, act, withdrawn, dismiss }) {
  return html`
    <section class="wide" data-test="questions">
      <h2>Questions <span class="count">${questions.length || "none waiting"}</span></h2>
      ${withdrawn && html`
        <div class="notice-box" data-test="withdrawn" role="status">${withdrawn}
          <button class="plain" onClick=${dismiss}>OK</button></div>
      `}
      ${questions.length === 0 && !withdrawn && html`
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

/** @param {{ question: PageQuestion; act: Act }} props */
function YesNo({ question, act }) {
  const [error, track] = useFormError();
  const answer = (/** @type {boolean} */ yes) =>
    track(act("/api/answer", { about: question.about, rq: question.rq, yes }));
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
      <${FormError} error=${error} name="answer" />
    </div>
  `;
}

/** @param {{ deadline: number | undefined }} props */
function Countdown({ deadline }) {
  const now = useNow(1000);
  if (deadline === undefined) return null;
  const left = timeLeft(deadline, now);
  return html`
    <span class=${`countdown ${deadline - now < 10_000 ? "late" : ""}`}
      data-test="countdown">Answer by ${new Date(deadline).toLocaleTimeString([], {
        hour12: false,
      })} (${left}): the server cancels the sale after that.</span>
  `;
}

/** @param {{ question: PageQuestion; status: PageStatus; act: Act }} props */
function PaymentForm({ question, status, act }) {
  // Kept in this component only: gone once the question is answered.
  const [card, setCard] = useState("");
  const [expiry, setExpiry] = useState("");
  const [address, setAddress] = useState("");
  const [error, track] = useFormError();
  const cancel = () => track(act("/api/payment/cancel", { rq: question.rq }));
  if (question.about !== "CARD") {
    return html`<div class="question waiting">Payment details are being typed in the terminal.</div>`;
  }
  if (!status.cardDataAllowed) {
    return html`
      <div
        class="question">Card data is accepted only on this machine or over HTTPS: type it in the peer's terminal.</div>
    `;
  }
  const submit = (/** @type {Event} */ event) => {
    event.preventDefault();
    track(act("/api/payment", { rq: question.rq, card, expiry, address }));
  };
  /** @param {(value: string) => void} set */
  const input = (set) => (/** @type {Event} */ e) => set(fieldOf(e).value);
  const role = typeof question.role === "string" ? question.role : "buyer";
  const item = typeof question.item === "string" ? question.item : "the item";
  return html`
    <form class=${`question stack ${question.asked ? "" : "waiting"}`} onSubmit=${submit}
      data-test="payment" autocomplete="off">
      <div><b>Payment details</b> for your ${role === "seller"
        ? "sale"
        : "purchase"} of ${item} (${money(
          /** @type {number | undefined} */ (question.price),
        )}). ${status.authenticated
        ? "Sent to the server over TLS; "
        : ""}kept in this peer's memory only, never stored.</div>
      <${Countdown} deadline=${question.deadline} />
      <label>Card number<input name="card" type="password" inputmode="numeric" autocomplete="off"
        value=${card} onInput=${input(setCard)} required /></label>
      <label>Expiry (MM/YY)<input name="expiry" type="password" autocomplete="off" class="short"
        value=${expiry} onInput=${input(setExpiry)} required /></label>
      <label>${role === "seller" ? "Your address" : "Ship to"}<input name="address"
        autocomplete="off" value=${address} onInput=${input(setAddress)} required /></label>
      <${FormError} error=${error} name="payment" />
      <div class="actions">
        <button type="submit" disabled=${!question.asked}>Send payment details</button>
        <button type="button" class="danger" data-test="cancel-payment" disabled=${!question
          .asked}
          onClick=${cancel}>Cancel</button>
      </div>
    </form>
  `;
}

/** @param {(value: string) => void} set */
const onValue = (set) => (/** @type {Event} */ e) => set(fieldOf(e).value);

/**
 * What is for sale (the offer book's catalogue), from the last `browse` event.
 *
 * @param {{ catalogue: Catalogue | undefined; act: Act }} props
 */
function CatalogueView({ catalogue, act }) {
  const [prefix, setPrefix] = useState("");
  const [error, track] = useFormError();
  const browse = (/** @type {Event} */ event) => {
    event.preventDefault();
    track(act("/api/browse", { prefix }));
  };
  const entries = (catalogue?.entries ?? []).filter((entry) => entry.quantity > 0);
  return html`
    <form class="row" onSubmit=${browse} data-test="browse">
      <label>Browse items starting with<input name="prefix" value=${prefix} onInput=${onValue(
        setPrefix,
      )} /></label>
      <button type="submit">Browse</button>
    </form>
    <${FormError} error=${error} name="browse" />
    ${catalogue && html`
      <div class="scroll">
        <table data-test="catalogue">
          <caption>For sale</caption>
          <thead>
            <tr>
              <th>Item</th>
              <th class="num">From</th>
              <th class="num">Sellers</th>
              <th class="num">For sale</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
          ${entries.length === 0 && html`
            <tr>
              <td colspan="5" class="notice">Nothing for sale${catalogue.prefix
                ? ` starting with "${catalogue.prefix}"`
                : ""}.</td>
            </tr>
          `}
          ${entries.map((entry) =>
            html`
              <tr key=${entry.item} data-test="offer" data-item=${entry.item}>
                <td>${entry.item}</td>
                <td class="num">${money(entry.price)}</td>
                <td class="num">${entry.sellers}</td>
                <td class="num">${entry.quantity}</td>
                <td><button data-test="buy-offer" onClick=${() =>
                  track(
                    act("/api/buy", { item: entry.item, maxPrice: String(entry.price) }),
                  )}>Buy</button></td>
              </tr>
            `
          )}
        </tbody>
        </table>
      </div>
    `}
  `;
}

/**
 * @param {{ requests: readonly BuyRequest[]; questions: readonly PageQuestion[]; act: Act;
 *   catalogue: Catalogue | undefined; name: string }} props
 */
function Market({ requests, questions, act, catalogue, name }) {
  const [item, setItem] = useState("");
  const [maxPrice, setMaxPrice] = useState("");
  const [description, setDescription] = useState("");
  const [error, track] = useFormError();
  const [rowError, trackRow] = useFormError();
  const search = (/** @type {Event} */ event) => {
    event.preventDefault();
    track(act("/api/buy", { item, maxPrice, description }));
  };
  const open = requests.filter((r) => ["searching", "found", "buying"].includes(r.state));
  const found = (/** @type {string} */ rq) =>
    questions.find((q) => q.about === "FOUND" && q.rq === rq);
  /** @param {BuyRequest} request */
  const actions = (request) => {
    const question = found(request.rq);
    if (question) {
      const answer = (/** @type {boolean} */ yes) =>
        trackRow(act("/api/answer", { about: "FOUND", rq: request.rq, yes }));
      return html`
        <button disabled=${!question.asked} onClick=${() => answer(true)}>Buy</button>
        <button class="danger" disabled=${!question.asked} onClick=${() =>
          answer(false)}>Cancel</button>
      `;
    }
    if (!ENDED.includes(request.state)) return "";
    return html`<button class="plain" onClick=${() =>
      trackRow(act("/api/buy", {
        item: request.item,
        maxPrice: String(request.maxPrice),
        description: request.description,
      }))}>Search again</button>`;
  };
  return html`
    <section data-test="market">
      <h2>Market <span class="count">${open.length} open</span></h2>
      <form class="row" onSubmit=${search} data-test="search">
        <label>Item<input name="item" value=${item} onInput=${onValue(setItem)} required /></label>
        <label>Max price<input name="maxPrice" class="short" inputmode="decimal" value=${maxPrice}
          onInput=${onValue(setMaxPrice)} required /></label>
        <label>Description<input name="description" value=${description}
          onInput=${onValue(setDescription)} /></label>
        <button type="submit">Search</button>
      </form>
      <${FormError} error=${error} name="search" />
      <${CatalogueView} catalogue=${catalogue} act=${act} />
      <${FormError} error=${rowError} name="requests" />
      <div class="scroll">
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
          ${[...requests].reverse().map((request) =>
            html`
              <tr key=${request.rq} data-test="request" data-state=${request.state}>
                <td>${request.item}<div class="notice">${request.description}</div></td>
                <td class="num">${money(request.maxPrice)}</td>
                <td><span class=${`badge ${request.state}`}>${STATE_LABELS[request.state] ??
                  request.state}</span>
                  ${request.reason &&
                    html`<div class="notice" data-test="reason">${
                      speakToMe(request.reason, name)
                    }</div>`}</td>
                <td class="num">${money(request.price)}</td>
                <td>${request.seller ?? "–"}</td>
                <td>${actions(request)}</td>
              </tr>
            `
          )}
        </tbody>
        </table>
      </div>
    </section>
  `;
}

/** @typedef {{ item: string; price: string; floor: string; quantity: string; description: string }} SellForm */

/** @param {{ items: readonly PageItem[]; act: Act }} props */
function Selling({ items, act }) {
  /** @type {SellForm} */
  const empty = { item: "", price: "", floor: "", quantity: "", description: "" };
  const [form, setForm] = useState(empty);
  const [editing, setEditing] = useState(/** @type {string | undefined} */ (undefined));
  const [error, track] = useFormError();
  const [rowError, trackRow] = useFormError();
  /** @param {keyof SellForm} name */
  const set = (name) => (/** @type {Event} */ e) => setForm({ ...form, [name]: fieldOf(e).value });
  const submit = (/** @type {Event} */ event) => {
    event.preventDefault();
    track(act(editing ? "/api/edit" : "/api/sell", { ...form })).then((ok) => {
      if (!ok) return;
      setForm(empty);
      setEditing(undefined);
    });
  };
  /** @param {PageItem} item */
  const edit = (item) => {
    setEditing(item.item);
    setForm({
      item: item.item,
      price: String(item.price),
      floor: item.floor === undefined ? "" : String(item.floor),
      quantity: String(item.quantity),
      description: item.description,
    });
  };
  return html`
    <section data-test="selling">
      <h2>Selling <span class="count">${items.length} item${items.length === 1
        ? ""
        : "s"}</span></h2>
      <form class="row" onSubmit=${submit} data-test="sell" data-editing=${editing ?? ""}>
        <label>Item<input name="item" value=${form.item} onInput=${set("item")} required
          readOnly=${editing !== undefined} /></label>
        <label>Price<input name="price" class="short" inputmode="decimal" value=${form
          .price} onInput=${set("price")} required /></label>
        <label>Floor<input name="floor" class="short" inputmode="decimal" value=${form
          .floor} onInput=${set("floor")} /></label>
        <label>Quantity<input name="quantity" class="short" inputmode="numeric" placeholder="1"
          value=${form.quantity} onInput=${set("quantity")} /></label>
        <label>Description<input name="description" value=${form.description} onInput=${set(
          "description",
        )} /></label>
        <button type="submit">${editing ? "Save changes" : "List"}</button>
        ${editing && html`<button type="button" class="plain" onClick=${() => {
          setEditing(undefined);
          setForm(empty);
        }}>Cancel edit</button>`}
      </form>
      <${FormError} error=${error} name="sell" />
      <${FormError} error=${rowError} name="items" />
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Item</th>
              <th class="num">Price</th>
              <th class="num">Floor</th>
              <th class="num">Qty</th>
              <th>State</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
          ${items.length === 0 && html`
            <tr>
              <td colspan="6" class="notice">Nothing for sale.</td>
            </tr>
          `}
          ${items.map((item) =>
            html`
              <tr key=${item.item} data-test="item" data-item=${item.item}>
                <td>${item.item}<div class="notice">${item.description}</div></td>
                <td class="num">${money(item.price)}</td>
                <td class="num">${money(item.floor)}</td>
                <td class="num">${item.quantity}</td>
                <td><span class=${`badge ${item.state}`}>${item.state}</span></td>
                <td>
                  <button class="plain" disabled=${item.state !== "available"} onClick=${() =>
                    edit(item)}>Edit</button>
                  <button class="danger" disabled=${item.state !== "available"}
                    onClick=${() =>
                      trackRow(act("/api/unsell", { item: item.item }))}>Unlist</button>
                </td>
              </tr>
            `
          )}
        </tbody>
        </table>
      </div>
    </section>
  `;
}

/** @param {{ history: readonly HistoryEntry[] }} props */
function History({ history }) {
  const totals = historyTotals(history);
  return html`
    <section class="wide" data-test="history">
      <h2>History <span class="count">${history.length}</span>
        <a class="button plain" href="/api/history.csv" download="history.csv">Export CSV</a></h2>
      <div class="scroll" data-test="history-scroll">
        <table class="nowrap">
        <thead><tr><th>Time (UTC)</th><th>Role</th><th>Item</th><th class="num">Price</th><th class="num">Fee</th>
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
                <td class="time">${when(entry.at)}</td>
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
        ${history.length > 0 &&
          html`
            <tfoot>
              ${totals.sales > 0 && html`
                <tr data-test="total-sold">
                  <td colspan="3">Sold ${totals.sales}</td>
                  <td class="num">${money(totals.sold)}</td>
                  <td class="num">${money(totals.fees)}</td>
                  <td class="num">${money(totals.received)}</td>
                  <td colspan="2"></td>
                </tr>
              `}
              ${totals.purchases > 0 && html`
                <tr data-test="total-bought">
                  <td colspan="3">Bought ${totals.purchases}</td>
                  <td class="num">${money(totals.bought)}</td>
                  <td colspan="4"></td>
                </tr>
              `}
            </tfoot>
          `}
      </table>
      </div>
    </section>
  `;
}

/** @param {{ log: readonly LogEntry[]; name: string | undefined }} props */
function EventLog({ log, name }) {
  return html`
    <section class="wide" data-test="log">
      <h2>Events <span class="count">live, as --json prints them</span></h2>
      <ul class="log">
        ${log.length === 0 && html`<li class="notice">Nothing yet.</li>`}
        ${log.map((entry) =>
          html`<li key=${entry.id}><span class=${`event ${
            entry.event === "error" ? "error-event" : ""
          }`}>${entry.event}</span> ${speakToMe(entry.text, name)}</li>`
        )}
      </ul>
    </section>
  `;
}

/** @type {{ getElementById(id: string): unknown }} */
const page = Reflect.get(globalThis, "document");
const root = page.getElementById("app");
if (root) render(html`<${App} />`, root);
