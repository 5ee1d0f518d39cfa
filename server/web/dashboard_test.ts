/**
 * The dashboard of a server running in this process, over real sockets on
 * 127.0.0.1, in headless Chromium: it shows which peers are online as the
 * server's liveness rules decide (`--offline-after`), and only open
 * searches in the open searches card.
 */
import assert from "node:assert/strict";
import { browserMissing, launch } from "../../tests/e2e/_browser.ts";
import { ShopServer } from "../server.ts";
import { Dashboard } from "./dashboard.ts";
import { AXIS_LABEL_GAP, chartAxes, labelWidth } from "./dashboard_view.js";

const utf8 = new TextEncoder();
const text = new TextDecoder();
const WAIT = { timeout: 15_000 };

const missing = browserMissing();
if (missing) console.warn(`dashboard_test: ${missing}`);

function socket(): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  return Object.assign(conn, { [Symbol.dispose]: () => conn.close() });
}

function portOf(conn: Deno.DatagramConn): number {
  return (conn.addr as Deno.NetAddr).port;
}

/** The next datagram's text, or `undefined` after `ms`. */
async function next(conn: Deno.DatagramConn, ms = 5_000): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), ms)
  );
  try {
    return await Promise.race([conn.receive().then(([data]) => text.decode(data)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "dashboard shows the server's own liveness of peers and only open searches as open",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "shop-dashboard-" });
    const server = await ShopServer.start({
      hostname: "127.0.0.1",
      port: 0,
      dataDir: dir,
      allowPlaintext: true,
      ratePerSecond: 1_000_000,
      limits: { namesPerHost: 0, classicNamesPerHost: 0 },
      // A second of silence and a peer that keeps itself known is offline.
      liveness: { offlineAfter: 1_000, forgetAfter: 0 },
      timers: { offerWindow: 60_000 },
    });
    const dashboard = Dashboard.start(server, { hostname: "127.0.0.1", port: 0, sampleMs: 100 });
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.address.port };
    const send = (conn: Deno.DatagramConn, line: string) => conn.send(utf8.encode(line), to);
    using alice = socket();
    using bob = socket();
    using carol = socket();
    try {
      await using browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));

      await t.step("alice (ours, keeps itself known) falls silent and is offline", async () => {
        await send(alice, `REGISTER r1 alice 127.0.0.1 ${portOf(alice)} 9 shop/1 book`);
        assert.match(await next(alice) ?? "", /^REGISTERED r1 shop\/1 book/);
        await send(alice, "ALIVE a1 alice");
        await send(bob, `REGISTER r2 bob 127.0.0.1 ${portOf(bob)} 9`);
        assert.equal(await next(bob), "REGISTERED r2");
        await page.goto(dashboard.url);
        // The page learns of it by itself: the sample says the market changed.
        await page.locator("[data-test=peer][data-name=alice][data-liveness=offline]")
          .waitFor(WAIT);
        assert.equal(server.market.isOffline("alice"), true);
        const state = await dashboard.state();
        assert.deepEqual(
          state.peers.map((peer) => [peer.name, peer.online]),
          [["alice", false], ["bob", true]],
        );
        assert.equal(state.counts.online, 1);
        assert.equal(
          await page.locator("[data-test=peer][data-name=bob] [data-test=liveness]").textContent(),
          "online",
        );
        assert.equal(
          await page.locator("[data-test=peer][data-name=alice] [data-test=liveness]")
            .textContent(),
          "offline",
        );
        assert.equal(await page.locator("[data-test=online] .value").textContent(), "1");
      });

      await t.step(
        "an ended search leaves the open searches card; an open one is in it",
        async () => {
          // No seller yet: it ends at once, not available.
          await send(bob, "LOOKING_FOR l1 bob Lamp a lamp 10");
          assert.match(await next(bob) ?? "", /^NOT_AVAILABLE l1/);
          await send(carol, `REGISTER r3 carol 127.0.0.1 ${portOf(carol)} 9`);
          assert.equal(await next(carol), "REGISTERED r3");
          await send(bob, "LOOKING_FOR l2 bob Chair a chair 10");
          assert.match(await next(carol) ?? "", /^SEARCH /);
          const state = await dashboard.state();
          assert.deepEqual(state.counts.searches, { searching: 1 });
          assert.deepEqual(state.counts.ended, { not_available: 1 });
          assert.deepEqual(state.open.map((search) => [search.item, search.state]), [
            ["Chair", "searching"],
          ]);
          const open = page.locator("[data-test=open]");
          await open.locator(".notice", { hasText: "1 searching" }).waitFor(WAIT);
          assert.equal(await open.locator(".value").textContent(), "1");
          assert.doesNotMatch(await open.textContent() ?? "", /not_available/);
          assert.match(
            await page.locator("[data-test=ended]").textContent() ?? "",
            /1 not_available/,
          );
          const rows = page.locator("[data-test=searches] tbody tr");
          assert.equal(await rows.count(), 1);
          assert.match(await rows.first().textContent() ?? "", /Chair/);
        },
      );

      await t.step(
        "Chromium draws the charts' axis labels no wider than they are spaced for",
        async () => {
          const [x, y] = chartAxes();
          const at = Date.UTC(2026, 11, 8, 23, 59, 58) / 1000;
          const times = x.values(null, [at, at + 1, at + 3_600]);
          const counts = ["0", "0.25", "10,000", "12,345.5"];
          const drawn = await page.evaluate(
            ({ font, labels }) => {
              // deno-lint-ignore no-explicit-any
              const context = (globalThis as any).document.createElement("canvas").getContext("2d");
              context.font = font;
              return labels.map((label: string) => context.measureText(label).width as number);
            },
            { font: x.font, labels: [...times, ...counts] },
          );
          const labels = [...times, ...counts];
          labels.forEach((label, i) => {
            assert.ok(drawn[i]! <= labelWidth(label), `"${label}": ${drawn[i]} px drawn`);
          });
          assert.ok(Math.max(...drawn.slice(0, times.length)) + AXIS_LABEL_GAP <= x.space);
          assert.ok(Math.max(...drawn.slice(times.length)) + 15 <= y.size(null, counts));
        },
      );
      assert.deepEqual(errors, []);
    } finally {
      await dashboard[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
