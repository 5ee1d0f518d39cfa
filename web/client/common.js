// @ts-check
// What both pages share: Preact with htm, JSON calls to the page's API,
// and the live event stream with its connection state. Typed with JSDoc
// and checked by `deno check`: deno.json maps the served paths
// (/vendor/preact.js, ...) to the npm packages they are served from, and
// Preact's types come from _preact.d.ts (it says why).
// @ts-types="./_preact.d.ts"
import { h, render } from "/vendor/preact.js";
// @ts-types="./_preact.d.ts"
import { useCallback, useEffect, useRef, useState } from "/vendor/hooks.js";
import htmModule from "/vendor/htm.js";

/**
 * htm's types describe its CommonJS build (a module whose `default` is
 * htm); the served ES module's default export is htm itself.
 */
const htm = /** @type {typeof htmModule.default} */ (/** @type {unknown} */ (htmModule));

/** The tagged template that makes Preact elements: html`<p>${text}</p>`. */
export const html = htm.bind(h);
export { render, useCallback, useEffect, useRef, useState };

/** @typedef {"connecting" | "live" | "lost"} LiveState The state of a page's event stream. */

/**
 * Handlers of a page's events, by event name: each gets the event's JSON
 * data and its id. `open` runs at every (re)connection.
 *
 * @typedef {{ open?: () => void } & Record<string, ((data: any, id: string) => void) | undefined>} LiveHandlers
 */

/**
 * The error of a failed call: the server's `{ error }` message, else the
 * HTTP status.
 *
 * @param {number} status
 * @param {string} statusText
 * @param {unknown} data The response's JSON, `{}` when it was not JSON.
 * @returns {string}
 */
export function callError(status, statusText, data) {
  const message = typeof data === "object" && data !== null && "error" in data
    ? data.error
    : undefined;
  return typeof message === "string" ? message : `${status} ${statusText}`;
}

/**
 * A response's JSON; throws an Error with the server's message.
 *
 * @param {Response} response
 * @returns {Promise<any>}
 */
async function answer(response) {
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(callError(response.status, response.statusText, data));
  return data;
}

/**
 * GETs JSON; throws an Error with the server's message.
 *
 * @param {string} path
 * @returns {Promise<any>}
 */
export async function getJson(path) {
  return await answer(await fetch(path, { credentials: "same-origin" }));
}

/**
 * POSTs JSON (same origin, so the browser sends our Origin); throws with the server's message.
 *
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function post(path, body = {}) {
  return await answer(
    await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

/**
 * Listens to the page's event stream. `handlers` maps event names to
 * functions of (data, id); `open` runs at every (re)connection. The
 * browser resends the last id it saw, and the server replays what it
 * missed.
 *
 * @param {LiveHandlers} handlers
 * @returns {LiveState}
 */
export function useLive(handlers) {
  const [state, setState] = useState(/** @type {LiveState} */ ("connecting"));
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    const source = new EventSource("/api/events");
    source.onopen = () => {
      setState("live");
      current.current.open?.();
    };
    source.onerror = () => setState("lost");
    for (const name of Object.keys(handlers)) {
      if (name === "open") continue;
      source.addEventListener(name, (event) => {
        current.current[name]?.(JSON.parse(event.data), event.lastEventId);
      });
    }
    return () => source.close();
  }, []);
  return state;
}

/**
 * Calls `load` now and then, at most once per `ms`, coalescing bursts.
 *
 * @param {() => void} load
 * @param {number} [ms]
 * @returns {() => void}
 */
export function useCoalesced(load, ms = 150) {
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      load();
    }, ms);
  }, [load]);
}

/**
 * An amount with two decimals, `–` for none.
 *
 * @param {number | string | null | undefined} amount
 * @returns {string}
 */
export const money = (amount) =>
  amount === undefined || amount === null ? "–" : Number(amount).toFixed(2);

/**
 * A time in UTC, `2026-01-02 03:04:05`, `–` for none.
 *
 * @param {number | undefined} ms Milliseconds since the epoch.
 * @returns {string}
 */
export const when = (ms) =>
  ms === undefined ? "–" : new Date(ms).toISOString().slice(0, 19).replace("T", " ");

/**
 * What the connection badge says.
 *
 * @param {LiveState} state
 * @returns {string}
 */
export function connectionLabel(state) {
  return state === "live" ? "live" : state === "lost" ? "connection lost" : "connecting…";
}

/**
 * The connection badge of a status bar.
 *
 * @param {{ state: LiveState }} props
 */
export function Connection({ state }) {
  const label = connectionLabel(state);
  return html`<span class=${`badge ${state}`} data-test="connection">${label}</span>`;
}
