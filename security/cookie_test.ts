import assert from "node:assert/strict";
import { COOKIE_EPOCH_MS, Cookies } from "./cookie.ts";

Deno.test("a cookie is valid for the address it was issued to, for one to two epochs", () => {
  const cookies = new Cookies();
  const now = 1_700_000_000_000;
  const cookie = cookies.issue("127.0.0.1:7001", now);
  assert.equal(cookies.valid("127.0.0.1:7001", cookie, now), true);
  assert.equal(cookies.valid("127.0.0.1:7001", cookie, now + COOKIE_EPOCH_MS), true);
  assert.equal(cookies.valid("127.0.0.1:7001", cookie, now + 2 * COOKIE_EPOCH_MS + 1), false);
});

Deno.test("a cookie is refused at another address, from another server, or altered", () => {
  const cookies = new Cookies();
  const now = 1_700_000_000_000;
  const cookie = cookies.issue("127.0.0.1:7001", now);
  assert.equal(cookies.valid("127.0.0.1:7002", cookie, now), false);
  assert.equal(cookies.valid("127.0.0.2:7001", cookie, now), false);
  assert.equal(new Cookies().valid("127.0.0.1:7001", cookie, now), false);
  // A character in the middle of the tag (the last one carries padding bits).
  const at = cookie.length - 10;
  const altered = cookie.slice(0, at) + (cookie[at] === "A" ? "B" : "A") + cookie.slice(at + 1);
  assert.equal(cookies.valid("127.0.0.1:7001", altered, now), false);
  for (const bad of [undefined, "", "x", "zz.short", `${cookie}x`]) {
    assert.equal(cookies.valid("127.0.0.1:7001", bad, now), false, String(bad));
  }
});
