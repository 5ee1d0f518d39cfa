/**
 * The pages' gate, against real `shop peer --web` and `shop server --web`
 * processes, with plain HTTP requests (no browser): without the token,
 * with a foreign Host, or a change with a foreign Origin, a request is
 * refused and changes nothing.
 */
import assert from "node:assert/strict";
import { disposeAll, PeerProcess, ServerProcess, tempDir } from "./_process.ts";

interface Page {
  readonly base: string;
  readonly token: string;
  readonly host: string;
}

function pageOf(url: string): Page {
  const parsed = new URL(url);
  return { base: parsed.origin, token: parsed.searchParams.get("token")!, host: parsed.host };
}

/** A request as a browser on the page would send it, with changes from `headers`. */
async function call(
  page: Page,
  path: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string | undefined> } = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {
    host: page.host,
    authorization: `Bearer ${page.token}`,
    ...(options.method === "POST" ? { origin: page.base, "content-type": "application/json" } : {}),
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  // Raw HTTP/1.1: fetch would send the URL's host, whatever Host it is given.
  const url = new URL(page.base);
  const body = options.body === undefined ? "" : JSON.stringify(options.body);
  if (body) headers["content-length"] = String(new TextEncoder().encode(body).length);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    const head = [
      `${options.method ?? "GET"} ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      "connection: close",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(`${head}\r\n\r\n${body}`));
    const reply = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    const status = Number(reply.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
    const text = reply.slice(reply.indexOf("\r\n\r\n") + 4);
    return { status, text: reply.includes("transfer-encoding: chunked") ? unchunk(text) : text };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by reading it to the end.
    }
  }
}

/** The body of a chunked response. */
function unchunk(text: string): string {
  let out = "";
  let rest = text;
  while (true) {
    const end = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, end), 16);
    if (!size) return out;
    out += rest.slice(end + 2, end + 2 + size);
    rest = rest.slice(end + 2 + size + 2);
  }
}

async function inventory(page: Page): Promise<string[]> {
  const state = JSON.parse((await call(page, "/api/state")).text) as { items: { item: string }[] };
  return state.items.map((item) => item.item);
}

Deno.test({
  name: "the pages refuse requests without the token, for a foreign Host, or from a foreign Origin",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir();
    const server = await ServerProcess.start(dir.path, "--web", "0");
    const alice = await PeerProcess.start("alice", server.port, dir.path, "--web", "0");
    try {
      const page = pageOf(String((await alice.waitEvent("web")).url));
      const dashboard = pageOf(
        (await server.waitFor(/^Dashboard: http/)).replace("Dashboard: ", ""),
      );
      const sell = { item: "Lamp", price: "25" };

      await t.step("without the token: refused, nothing listed", async () => {
        for (const target of [page, dashboard]) {
          const refused = await call(target, "/api/state", {
            headers: { authorization: undefined },
          });
          assert.equal(refused.status, 401);
          assert.equal(
            (await call(target, "/", { headers: { authorization: undefined } })).status,
            401,
          );
        }
        const post = await call(page, "/api/sell", {
          method: "POST",
          body: sell,
          headers: { authorization: undefined },
        });
        assert.equal(post.status, 401);
        const wrong = await call(page, "/api/sell", {
          method: "POST",
          body: sell,
          headers: { authorization: "Bearer not-the-token" },
        });
        assert.equal(wrong.status, 401);
        assert.equal(
          (await call(page, `/?token=wrong`, { headers: { authorization: undefined } })).status,
          401,
        );
        assert.deepEqual(await inventory(page), []);
      });

      await t.step("a foreign Host (DNS rebinding): refused even with the token", async () => {
        const port = new URL(page.base).port;
        for (const host of [`evil.example:${port}`, `127.0.0.1:1`, "evil.example"]) {
          const refused = await call(page, "/api/sell", {
            method: "POST",
            body: sell,
            headers: { host },
          });
          assert.equal(refused.status, 403, host);
          assert.match(refused.text, /Host header/);
          assert.equal((await call(page, "/api/state", { headers: { host } })).status, 403);
          assert.equal(
            (await call(page, `/?token=${page.token}`, {
              headers: { host, authorization: undefined },
            })).status,
            403,
          );
        }
        assert.equal(
          (await call(dashboard, "/api/state", { headers: { host: "evil.example" } })).status,
          403,
        );
        assert.deepEqual(await inventory(page), []);
      });

      await t.step("a change from a foreign Origin (CSRF): refused, nothing listed", async () => {
        for (const origin of ["http://evil.example", "null", undefined]) {
          const refused = await call(page, "/api/sell", {
            method: "POST",
            body: sell,
            headers: { origin },
          });
          assert.equal(refused.status, 403, String(origin));
        }
        const crossSite = await call(page, "/api/sell", {
          method: "POST",
          body: sell,
          headers: { "sec-fetch-site": "cross-site" },
        });
        assert.equal(crossSite.status, 403);
        // A form post (no JSON) is no way around it either.
        const form = await call(page, "/api/sell", {
          method: "POST",
          body: sell,
          headers: { "content-type": "text/plain" },
        });
        assert.equal(form.status, 415);
        assert.deepEqual(await inventory(page), []);
        assert.equal(alice.lines.some((line) => line.includes('"event":"sell"')), false);
      });

      await t.step("the same request, from the page itself, is served", async () => {
        const served = await call(page, "/api/sell", { method: "POST", body: sell });
        assert.equal(served.status, 200, served.text);
        await alice.waitEvent("sell");
        assert.deepEqual(await inventory(page), ["Lamp"]);
      });

      await t.step("the URL token becomes an HttpOnly SameSite=Strict cookie", async () => {
        const response = await fetch(`${page.base}/?token=${page.token}`, { redirect: "manual" });
        await response.body?.cancel();
        assert.equal(response.status, 303);
        assert.equal(response.headers.get("location"), "/");
        const cookie = response.headers.get("set-cookie") ?? "";
        assert.match(cookie, /HttpOnly/);
        assert.match(cookie, /SameSite=Strict/);
        assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
        const withCookie = await call(page, "/api/state", {
          headers: { authorization: undefined, cookie: cookie.split(";")[0]! },
        });
        assert.equal(withCookie.status, 200);
      });
    } finally {
      await disposeAll([alice, server]);
    }
  },
});
