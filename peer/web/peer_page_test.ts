import assert from "node:assert/strict";
import { parseCommand } from "../commands.ts";
import { browserMissing, launch } from "../../tests/e2e/_browser.ts";
import { FakeServer, type Received } from "../_peer_harness.ts";
import { ShopPeer } from "../peer.ts";
import { pageError, pageText, PeerPage } from "./peer_page.ts";

Deno.test("a command's error on the page has no usage line and names fields in words", () => {
  const parsed = parseCommand("sell Vase abc");
  assert.ok(!parsed.ok);
  assert.match(parsed.error, /usage: sell ITEM PRICE/);
  const shown = pageError(parsed.error);
  assert.match(shown, /^Price "abc" is not a price: /);
  assert.doesNotMatch(shown, /usage|Cannot run|ITEM|PRICE/);
  const missing = parseCommand("buy Lamp");
  assert.ok(!missing.ok);
  assert.equal(pageError(missing.error), "Missing max price");
  assert.equal(pageError("Error: Lamp is already listed at 24"), "Lamp is already listed at 24");
});

Deno.test("the terminal's words are left out of the page's texts", () => {
  assert.equal(pageText("Buy Lamp for 25 from alice? [y/N]"), "Buy Lamp for 25 from alice?");
  assert.equal(
    pageText(
      "No longer asking for payment details: the server closed the transaction. " +
        "The next line you type is still hidden, and discarded",
    ),
    "No longer asking for payment details: the server closed the transaction",
  );
  assert.equal(
    pageText("bob ready on UDP 1 and TCP 2; server 127.0.0.1:5000; key K. Type help for commands."),
    "bob ready on UDP 1 and TCP 2; server 127.0.0.1:5000; key K",
  );
  assert.equal(pageText("Selling Lamp at 25"), "Selling Lamp at 25");
});

const missing = browserMissing();
if (missing) console.warn(`peer_page_test: ${missing}`);

Deno.test({
  name: "the page says since when the server is not answering, and no more once it answers",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const WAIT = { timeout: 10_000 };
    const dir = await Deno.makeTempDir({ prefix: "shop-peer-page-" });
    // The server: a raw socket of the test, silent until told to answer.
    using server = new FakeServer();
    const web = PeerPage.start({ hostname: "127.0.0.1", port: 0 });
    const peer = await ShopPeer.start({
      name: "alice",
      server: server.address,
      hostname: "127.0.0.1",
      udpPort: 0,
      tcpPort: 0,
      dataDir: dir,
      print: web.print,
      // Two short tries: the server is given up on within a second.
      retransmit: { initialRto: 100, minRto: 50, maxRto: 200, maxAttempts: 2 },
    });
    web.attach(peer, server.address);
    const running = peer.run(web.lines);
    try {
      await using browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(web.url);
      const badge = page.locator("[data-test=not-answering]");
      let register: Received<"REGISTER"> | undefined;

      await t.step("a REGISTER unanswered after every try: the badge says since when", async () => {
        await page.locator("[data-test=register]").click();
        register = await server.expect("REGISTER");
        await badge.waitFor(WAIT);
        const since = peer.agent.serverSilentSince;
        assert.ok(since !== undefined);
        assert.equal(
          (await badge.textContent())?.trim(),
          `server not answering since ${new Date(since).toISOString().slice(11, 19)}`,
        );
      });

      await t.step("the next datagram from the server: the badge goes", async () => {
        await server.send(`REGISTERED ${register!.message.rq}`, register!.from);
        await badge.waitFor({ state: "detached", ...WAIT });
        assert.equal(peer.agent.serverSilentSince, undefined);
      });
      assert.deepEqual(errors, []);
    } finally {
      await web[Symbol.asyncDispose]();
      await running.catch(() => {});
      await peer[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
