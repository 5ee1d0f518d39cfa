import assert from "node:assert/strict";
import { cardDataAllowed, WebGate } from "./gate.ts";

const gate = new WebGate({ hostname: "127.0.0.1", port: 8080, token: "secret" });

function request(path: string, headers: Record<string, string>, method = "GET"): Request {
  return new Request(`http://127.0.0.1:8080${path}`, { method, headers });
}

Deno.test("the gate takes its own address, localhost and IP literals as Host, not names", () => {
  for (const host of ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "10.0.0.5:8080"]) {
    assert.equal(gate.hostAllowed(host), true, host);
  }
  for (const host of ["evil.example:8080", "127.0.0.1:8081", "127.0.0.1", "", "a b:8080"]) {
    assert.equal(gate.hostAllowed(host), false, host);
  }
  assert.equal(gate.hostAllowed(null), false);
});

Deno.test("the gate trades the URL token for a cookie and a redirect without it", () => {
  const response = gate.check(request("/?token=secret&x=1", { host: "127.0.0.1:8080" }))!;
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "/?x=1");
  assert.match(
    response.headers.get("set-cookie")!,
    /^shop-token-8080=secret; .*HttpOnly; SameSite=Strict/,
  );
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
});

Deno.test("the gate serves a request with the cookie and a POST only with our Origin", () => {
  const cookie = "other=1; shop-token-8080=secret";
  assert.equal(gate.check(request("/api/state", { host: "127.0.0.1:8080", cookie })), undefined);
  const post = (origin: string) =>
    gate.check(
      request("/api/sell", {
        host: "127.0.0.1:8080",
        cookie,
        origin,
        "content-type": "application/json",
      }, "POST"),
    );
  assert.equal(post("http://127.0.0.1:8080"), undefined);
  assert.equal(post("http://localhost:8080")?.status, 403);
  assert.equal(post("http://evil.example")?.status, 403);
  assert.equal(
    gate.check(request("/api/state", { host: "127.0.0.1:8080", cookie: "shop-token-9090=secret" }))
      ?.status,
    401,
  );
});

Deno.test("card data is accepted from loopback or over HTTPS only", () => {
  assert.equal(cardDataAllowed("127.0.0.1", false), true);
  assert.equal(cardDataAllowed("::1", false), true);
  assert.equal(cardDataAllowed("::ffff:127.0.0.1", false), true);
  assert.equal(cardDataAllowed("192.0.2.7", false), false);
  assert.equal(cardDataAllowed("192.0.2.7", true), true);
});
