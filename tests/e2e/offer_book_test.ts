/**
 * The offer book end to end: a real `shop server` and real `shop peer`
 * processes (and a classic peer on a raw socket) on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { disposeAll, PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { RawUdp } from "./_udp.ts";

/** Payment details for a peer, in a file as `--payment` takes them. */
async function pay(dir: string, name: string): Promise<string[]> {
  const path = join(dir, `${name}.json`);
  await Deno.writeTextFile(
    path,
    JSON.stringify({ card: "4111111111111111", expiry: "12/39", address: `${name} lane` }),
  );
  return ["--payment", path];
}

async function peer(name: string, port: number, dir: string, commands: string[] = []) {
  const started = await PeerProcess.start(name, port, dir, ...await pay(dir, name));
  await started.command("register", "REGISTERED");
  for (const command of commands) await started.command(command, command.split(" ")[0]!);
  return started;
}

/** Waits until `browse` shows what `ok` wants (listings reach the server asynchronously). */
async function browseUntil(
  buyer: PeerProcess,
  line: string,
  ok: (fields: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const shown = await buyer.command(line, "browse");
    if (ok(shown) || Date.now() > deadline) return shown;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Entry = { item: string; price: number; sellers: number; quantity: number };

Deno.test("our peers buy from the book: routed, quantities, browse, restarts", async (t) => {
  await using dir = await tempDir();
  // A long offer window: a search among our peers must not wait for it.
  let server = await ServerProcess.start(dir.path, "--offer-window", "20s");
  const s1 = await peer("s1", server.port, dir.path, ["sell Lamp 30"]);
  const s2 = await peer("s2", server.port, dir.path, [
    "sell Lamp 20 brass --quantity 3 --floor 15",
    "sell Desk 90",
  ]);
  let buyer = await peer("buyer", server.port, dir.path, ["set auto-buy on"]);
  const all = [s1, s2];
  try {
    await t.step("browse shows lowest prices, sellers and quantities, never floors", async () => {
      const shown = await browseUntil(buyer, "browse", (fields) => {
        const lamp = (fields.entries as Entry[]).find((entry) => entry.item === "Lamp");
        return lamp?.sellers === 2;
      });
      assert.deepEqual(shown.entries, [
        { item: "Desk", price: 90, sellers: 1, quantity: 1 },
        { item: "Lamp", price: 20, sellers: 2, quantity: 4 },
      ]);
      assert.ok(!JSON.stringify(shown).includes("15"), "no floor");
      const prefixed = await buyer.command("browse la", "browse");
      assert.deepEqual((prefixed.entries as Entry[]).map((entry) => entry.item), ["Lamp"]);
    });

    await t.step("quantity 3 is sold three times from the cheapest, at once", async () => {
      for (let i = 0; i < 3; i++) {
        const from = buyer.lines.length;
        const started = Date.now();
        await buyer.send("buy Lamp 40");
        const found = await buyer.waitEvent("FOUND", { from });
        assert.ok(Date.now() - started < 5_000, "not held up by the 20 s offer window");
        assert.deepEqual([found.price, found.seller], [20, "s2"]);
        await buyer.waitEvent("Shipping_Info", { from, timeoutMs: 15_000 });
      }
      const inventory = await s2.command("inventory", "inventory");
      assert.deepEqual((inventory.items as { item: string }[]).map((item) => item.item), [
        "Desk",
      ]);
    });

    await t.step("then the next cheapest lister (s1) sells its one", async () => {
      const from = buyer.lines.length;
      await buyer.send("buy Lamp 40");
      const found = await buyer.waitEvent("FOUND", { from });
      assert.deepEqual([found.price, found.seller], [30, "s1"]);
      await buyer.waitEvent("Shipping_Info", { from, timeoutMs: 15_000 });
      const next = buyer.lines.length;
      await buyer.send("buy Lamp 40");
      await buyer.waitEvent("NOT_AVAILABLE", { from: next });
    });

    await t.step("the book survives a server restart", async () => {
      await server.kill("SIGKILL");
      server = await ServerProcess.restart(server, dir.path, "--offer-window", "20s");
      const shown = await browseUntil(buyer, "browse", () => true);
      assert.deepEqual(shown.entries, [{ item: "Desk", price: 90, sellers: 1, quantity: 1 }]);
    });

    await t.step("a classic buyer buys from a listing", async () => {
      using classic = new RawUdp(server.port);
      assert.equal(
        await classic.ask(`REGISTER c1 classic 127.0.0.1 ${classic.port} 9`),
        "REGISTERED c1",
      );
      const from = s2.lines.length;
      assert.equal(await classic.ask("LOOKING_FOR c2 classic Desk any 100"), "FOUND c2 Desk 90");
      await s2.waitEvent("RESERVE", { from });
      await classic.send("CANCEL c2 Desk 90");
      await s2.waitEvent("CANCEL", { from });
      // A classic peer that stays registered is asked (and waited for) in every search.
      assert.equal(await classic.ask("DE-REGISTER c3 classic"), "DE-REGISTERED c3");
    });

    await t.step(
      "a killed seller is offline and not waited for; a restart lists again",
      async () => {
        await s2.kill("SIGKILL");
        all.splice(all.indexOf(s2), 1);
        const from = buyer.lines.length;
        const started = Date.now();
        await buyer.send("buy Desk 100");
        // The hold of s2's listing lapses (2 s); no 5-minute wait.
        await buyer.waitEvent("NOT_AVAILABLE", { from, timeoutMs: 15_000 });
        assert.ok(Date.now() - started < 12_000, `decided in ${Date.now() - started} ms`);
        const again = await PeerProcess.start(
          "s2",
          server.port,
          dir.path,
          ...await pay(dir.path, "s2"),
        );
        all.push(again);
        await again.waitEvent("REGISTERED");
        const shown = await browseUntil(buyer, "browse Desk", (fields) => {
          return (fields.entries as Entry[]).length === 1;
        });
        assert.deepEqual(shown.entries, [{ item: "Desk", price: 90, sellers: 1, quantity: 1 }]);
      },
    );

    await t.step("a peer restart keeps its listings", async () => {
      await buyer.kill("SIGTERM");
      buyer = await PeerProcess.start(
        "buyer",
        server.port,
        dir.path,
        ...await pay(dir.path, "buyer"),
      );
      await buyer.waitEvent("REGISTERED");
      const shown = await browseUntil(buyer, "browse", () => true);
      assert.equal((shown.entries as Entry[]).length, 1);
    });
  } finally {
    await disposeAll([...all, buyer]);
    await server[Symbol.asyncDispose]();
  }
});
