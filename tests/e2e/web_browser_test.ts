/**
 * The pages in a real browser, against real `shop server --web` and
 * `shop peer --web` processes: alice sells from her page, bob buys from
 * his (the Buy question, the payment form), alice's page shows the sale
 * and where to ship it, the dashboard shows both peers and the sale with
 * its fee; a negotiation is accepted from a page, and a question answered
 * in the terminal leaves the page. The screenshots in docs/screenshots/
 * are taken here: written there with `SHOP_SCREENSHOTS=1`, else to a
 * temporary directory, so that a test run leaves the tree as it was.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { browserMissing, launch } from "./_browser.ts";
import { disposeAll, PeerProcess, ServerProcess, tempDir } from "./_process.ts";

const SCREENSHOTS = Deno.env.get("SHOP_SCREENSHOTS")
  ? fileURLToPath(new URL("../../docs/screenshots/", import.meta.url))
  : `${await Deno.makeTempDir({ prefix: "shop-screenshots-" })}/`;
const BUYER_CARD = "4111111111111111";
const SELLER_CARD = "5555555555554444";
const EXPIRY = "12/39";
const WAIT = { timeout: 15_000 };

const missing = browserMissing();
if (missing) console.warn(`web_browser_test: ${missing}`);

async function pageUrl(peer: PeerProcess): Promise<string> {
  return String((await peer.waitEvent("web")).url);
}

/** Fills and sends the payment form of a page. */
async function pay(page: Page, card: string, address: string, shot?: string): Promise<void> {
  const form = page.locator("[data-test=payment]");
  await form.waitFor(WAIT);
  await form.locator("input[name=card]").fill(card);
  await form.locator("input[name=expiry]").fill(EXPIRY);
  await form.locator("input[name=address]").fill(address);
  if (shot) await page.screenshot({ path: shot });
  await form.locator("button[type=submit]").click();
  await form.waitFor({ state: "detached", ...WAIT });
}

Deno.test({
  name: "a sale made in the pages shows in both peers' pages and on the dashboard",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const started = performance.now();
    await using dir = await tempDir();
    const server = await ServerProcess.start(dir.path, "--offer-window", "300ms", "--web", "0");
    const dashboardUrl = (await server.waitFor(/^Dashboard: http/)).replace("Dashboard: ", "");
    const alice = await PeerProcess.start("alice", server.port, dir.path, "--web", "0");
    const bob = await PeerProcess.start("bob", server.port, dir.path, "--web", "0");
    try {
      await using browser = await launch();
      const viewport = { width: 1280, height: 960 };
      const alicePage = await (await browser.newContext({ viewport })).newPage();
      const bobPage = await (await browser.newContext({ viewport })).newPage();
      const errors: string[] = [];
      for (const page of [alicePage, bobPage]) {
        page.on("pageerror", (error) => errors.push(error.message));
      }

      await t.step("the token in the URL is exchanged for a cookie and dropped", async () => {
        await alicePage.goto(await pageUrl(alice));
        assert.equal(new URL(alicePage.url()).search, "");
        await bobPage.goto(await pageUrl(bob));
        for (const page of [alicePage, bobPage]) {
          await page.locator("[data-test=connection]", { hasText: "live" }).waitFor(WAIT);
          await page.locator("[data-test=register]").click();
          await page.locator("[data-test=registration]", { hasText: /^registered/ }).waitFor(WAIT);
        }
      });

      await t.step("alice lists a lamp in her page", async () => {
        const form = alicePage.locator("[data-test=sell]");
        await form.locator("input[name=item]").fill("Lamp");
        await form.locator("input[name=price]").fill("25");
        await form.locator("input[name=floor]").fill("20");
        await form.locator("input[name=description]").fill("brass desk lamp");
        await form.locator("button[type=submit]").click();
        await alicePage.locator("[data-test=item][data-item=Lamp]").waitFor(WAIT);
        await alice.waitEvent("sell");
      });

      await t.step(
        "bob browses what is for sale in his page: the lamp, never its floor",
        async () => {
          const form = bobPage.locator("[data-test=browse]");
          await form.locator("input[name=prefix]").fill("La");
          await form.locator("button[type=submit]").click();
          const row = bobPage.locator("[data-test=catalogue] tbody tr").filter({ hasText: "Lamp" });
          await row.waitFor(WAIT);
          assert.match(await row.innerText(), /Lamp\s+25\.00\s+1\s+1/);
          assert.doesNotMatch(await bobPage.locator("[data-test=catalogue]").innerText(), /20\.00/);
        },
      );

      await t.step("bob searches, answers the Buy question and pays in his page", async () => {
        const form = bobPage.locator("[data-test=search]");
        await form.locator("input[name=item]").fill("Lamp");
        await form.locator("input[name=maxPrice]").fill("30");
        await form.locator("button[type=submit]").click();
        const question = bobPage.locator("[data-test=question][data-about=FOUND]");
        await question.getByText("Buy Lamp for 25.00 from alice").waitFor(WAIT);
        await question.getByRole("button", { name: "Buy" }).click();
        await pay(bobPage, BUYER_CARD, "42 Main Street, Springfield", `${SCREENSHOTS}payment.png`);
      });

      await t.step(
        "alice pays as the seller; her page shows the sale and where to ship",
        async () => {
          await pay(alicePage, SELLER_CARD, "1 Seller Road");
          const sale = alicePage.locator("[data-test=sale][data-role=seller]");
          await sale.waitFor(WAIT);
          assert.equal(
            await sale.locator("[data-test=ship-to]").textContent(),
            "42 Main Street, Springfield",
          );
          assert.match(await sale.textContent() ?? "", /Lamp.*25\.00.*2\.50.*22\.50.*bob/);
          await bobPage.locator("[data-test=sale][data-role=buyer]").waitFor(WAIT);
        },
      );

      await t.step("the dashboard shows both peers and the sale with its fee", async () => {
        const dashboard = await (await browser.newContext({ viewport })).newPage();
        dashboard.on("pageerror", (error) => errors.push(error.message));
        await dashboard.goto(dashboardUrl);
        await dashboard.locator("[data-test=peer][data-name=alice]").waitFor(WAIT);
        await dashboard.locator("[data-test=peer][data-name=bob]").waitFor(WAIT);
        const entry = dashboard.locator("[data-test=entry][data-outcome=completed]");
        await entry.waitFor(WAIT);
        assert.equal(await entry.locator("[data-test=fee]").textContent(), "2.50");
        assert.equal(
          await dashboard.locator("[data-test=fees] .value").textContent(),
          "2.50",
        );
        // Two samples at least, so the charts have lines.
        await dashboard.waitForTimeout(2_200);
        await dashboard.screenshot({ path: `${SCREENSHOTS}server.png`, fullPage: true });
      });

      await t.step("a negotiation is accepted from alice's page", async () => {
        await alice.command("sell Chair 50 oak chair", "sell");
        const form = bobPage.locator("[data-test=search]");
        await form.locator("input[name=item]").fill("Chair");
        await form.locator("input[name=maxPrice]").fill("40");
        await form.locator("button[type=submit]").click();
        const negotiation = alicePage.locator("[data-test=question][data-about=NEGOTIATE]");
        await negotiation.getByText("offers 40.00 for Chair").waitFor(WAIT);
        await negotiation.getByRole("button", { name: "Accept" }).click();
        await negotiation.waitFor({ state: "detached", ...WAIT });
        await bobPage.locator("[data-test=question][data-about=FOUND]").getByText(
          "Buy Chair for 40.00 from alice",
        ).waitFor(WAIT);
      });

      await t.step("a question answered in the terminal leaves the page", async () => {
        const found = bobPage.locator("[data-test=question][data-about=FOUND]");
        await bobPage.screenshot({ path: `${SCREENSHOTS}peer-question.png` });
        await bob.send("n");
        await found.waitFor({ state: "detached", ...WAIT });
        await bobPage.locator("[data-test=request][data-state=cancelled]").waitFor(WAIT);
      });

      await alicePage.screenshot({ path: `${SCREENSHOTS}peer.png`, fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await disposeAll([bob, alice, server]);
    }
    console.log(`browser test took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  },
});
