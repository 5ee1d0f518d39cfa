// What both pages share: Preact with htm, JSON calls to the page's API,
// and the live event stream with its connection state.
import { h, render } from "/vendor/preact.js";
import { useCallback, useEffect, useRef, useState } from "/vendor/hooks.js";
import htm from "/vendor/htm.js";

export const html = htm.bind(h);
export { render, useCallback, useEffect, useRef, useState };

/** GETs JSON; throws an Error with the server's message. */
export async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `${response.status} ${response.statusText}`);
  return data;
}

/** POSTs JSON (same origin, so the browser sends our Origin); throws with the server's message. */
export async function post(path, body = {}) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `${response.status} ${response.statusText}`);
  return data;
}

/**
 * Listens to the page's event stream. `handlers` maps event names to
 * functions of (data, id); `open` runs at every (re)connection. The
 * browser resends the last id it saw, and the server replays what it
 * missed. Returns "connecting", "live" or "lost".
 */
export function useLive(handlers) {
  const [state, setState] = useState("connecting");
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

/** Calls `load` now and then, at most once per `ms`, coalescing bursts. */
export function useCoalesced(load, ms = 150) {
  const timer = useRef(undefined);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      load();
    }, ms);
  }, [load]);
}

export const money = (amount) =>
  amount === undefined || amount === null ? "–" : Number(amount).toFixed(2);

export const when = (ms) =>
  ms === undefined ? "–" : new Date(ms).toISOString().slice(0, 19).replace("T", " ");

/** The connection badge of a status bar. */
export function Connection({ state }) {
  const label = state === "live" ? "live" : state === "lost" ? "connection lost" : "connecting…";
  return html`<span class=${`badge ${state}`} data-test="connection">${label}</span>`;
}
