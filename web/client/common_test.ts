import assert from "node:assert/strict";
import { callError, connectionLabel, html, money, when } from "./common.js";

Deno.test("money shows two decimals, a dash for none", () => {
  assert.equal(money(0.1 + 0.2), "0.30");
  assert.equal(money(25), "25.00");
  assert.equal(money("2.5"), "2.50");
  assert.equal(money(undefined), "–");
  assert.equal(money(null), "–");
});

Deno.test("when shows a time in UTC to the second, a dash for none", () => {
  assert.equal(when(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), "2026-01-02 03:04:05");
  assert.equal(when(undefined), "–");
});

Deno.test("callError takes the server's message, else the HTTP status", () => {
  assert.equal(
    callError(400, "Bad Request", { error: 'Cannot parse price "x"' }),
    'Cannot parse price "x"',
  );
  assert.equal(callError(502, "Bad Gateway", {}), "502 Bad Gateway");
  assert.equal(callError(500, "Internal Server Error", { error: 42 }), "500 Internal Server Error");
  assert.equal(callError(500, "Internal Server Error", null), "500 Internal Server Error");
});

Deno.test("connectionLabel names the state of the event stream", () => {
  assert.equal(connectionLabel("live"), "live");
  assert.equal(connectionLabel("lost"), "connection lost");
  assert.equal(connectionLabel("connecting"), "connecting…");
});

Deno.test("html makes Preact elements from a template", () => {
  const made = html`<p class="x">${"hi"}</p>`;
  assert.ok(!Array.isArray(made));
  assert.equal(made.type, "p");
  assert.deepEqual(made.props, { class: "x", children: "hi" });
});
