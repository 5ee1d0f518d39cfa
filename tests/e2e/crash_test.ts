/**
 * Crashes at seeded random moments across a stream of purchases: the
 * server, then a seller, then a buyer are killed with SIGKILL 20 times each
 * and restarted on the same data. Nothing registered, listed or ledgered may
 * be lost or doubled, and every flow must reach an end.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { disposeAll, PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { Random } from "./_random.ts";
import type { ShopProcess } from "../../demo/processes.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const ITEMS = 24;
const CRASHES = 20;
const SERVER_FLAGS = [
  "--offer-window",
  "500ms",
  "--search-timeout",
  "3s",
  "--transaction-timeout",
  "5s",
  // A FOUND of an earlier run, or one that comes to a restarted buyer before
  // it has registered again, is asked, not auto-bought: nobody answers here,
  // and the reserve timeout ends it.
  "--reserve-timeout",
  "10s",
];

type Role = "server" | "seller" | "buyer";

async function ledger(dataDir: string): Promise<{ item: string; outcome: string }[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "server", "ledger", "--data", dataDir, "--json"],
  }).output();
  assert.equal(output.code, 0);
  return JSON.parse(new TextDecoder().decode(output.stdout)).entries;
}

async function run(victim: Role, seed: number): Promise<void> {
  await using dir = await tempDir();
  const random = new Random(seed);
  const pay = async (name: string) => {
    const path = join(dir.path, `${name}.json`);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ card: "4111111111111111", expiry: "12/39", address: `${name} lane` }),
    );
    return ["--payment", path];
  };
  let server = await ServerProcess.start(dir.path, ...SERVER_FLAGS);
  const startSeller = async () =>
    await PeerProcess.start("seller", server.port, dir.path, ...await pay("seller"));
  const startBuyer = async () =>
    await PeerProcess.start("buyer", server.port, dir.path, "--auto-buy", ...await pay("buyer"));
  let seller = await startSeller();
  let buyer = await startBuyer();
  const all = (): ShopProcess[] => [server, seller, buyer];
  try {
    await seller.command("register", "REGISTERED");
    await buyer.command("register", "REGISTERED");
    for (let i = 0; i < ITEMS; i++) await seller.command(`sell Item${i} 10`, "sell");
    // The stream of purchases, a few at a time, while the victim crashes.
    // A buy is acknowledged by its LOOKING_FOR, printed once the search is
    // stored: every acknowledged search must reach an end. A line typed into
    // a buyer killed before it was stored was never acknowledged; it is
    // typed again at the end.
    let next = 0;
    const acknowledged = new Set<string>();
    const noteAcknowledged = () => {
      for (const line of buyer.lines) {
        if (!line.startsWith("{")) continue;
        const event = JSON.parse(line) as { event?: string; item?: string };
        if (event.event === "LOOKING_FOR" && event.item) acknowledged.add(event.item);
      }
    };
    const buyMore = async () => {
      for (let n = 0; n < 3 && next < ITEMS; n++) await buyer.send(`buy Item${next++} 12`);
    };
    await buyMore();
    for (let crash = 0; crash < CRASHES; crash++) {
      await new Promise((resolve) => setTimeout(resolve, random.int(100, 900)));
      if (victim === "server") {
        await server.kill("SIGKILL");
        server = await ServerProcess.restart(server, dir.path, ...SERVER_FLAGS);
      } else if (victim === "seller") {
        await seller.kill("SIGKILL");
        seller = await startSeller();
      } else {
        await buyer.kill("SIGKILL");
        noteAcknowledged();
        buyer = await startBuyer();
      }
      await buyMore();
    }
    while (next < ITEMS) await buyMore();
    // Buys lost with a killed buyer before they were stored, typed again.
    if (victim === "buyer") {
      noteAcknowledged();
      for (let i = 0; i < ITEMS; i++) {
        const item = `Item${i}`;
        if (!acknowledged.has(item)) await buyer.command(`buy ${item} 12`, "LOOKING_FOR");
      }
    }
    // Every flow ends: bought, or (when a crash broke its transaction) cancelled.
    const deadline = Date.now() + 180_000;
    let requests: { item: string; state: string }[] = [];
    while (Date.now() < deadline) {
      requests = (await buyer.command("requests", "requests")).requests as typeof requests;
      const open = requests.filter((r) =>
        !["bought", "cancelled", "not_available", "not_found"].includes(r.state)
      );
      if (requests.length >= ITEMS && open.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const searched = new Set(requests.map((r) => r.item));
    assert.deepEqual(
      [...acknowledged].filter((item) => !searched.has(item)),
      [],
      "no acknowledged search lost",
    );
    const bought = requests.filter((r) => r.state === "bought").map((r) => r.item).sort();
    assert.ok(requests.length >= ITEMS, `${requests.length} searches`);
    assert.deepEqual(
      requests.filter((r) =>
        !["bought", "cancelled", "not_available", "not_found"].includes(r.state)
      ),
      [],
      "every flow finished",
    );
    // Registrations survive: both peers still registered.
    for (const peer of [seller, buyer]) {
      assert.equal((await peer.command("status", "status")).registered, true);
    }
    // Listings survive: what was not sold is still for sale, nothing twice.
    const inventory = ((await seller.command("inventory", "inventory")).items as { item: string }[])
      .map((i) => i.item).sort();
    const unsold = Array.from({ length: ITEMS }, (_, i) => `Item${i}`).filter((item) =>
      !bought.includes(item)
    );
    assert.deepEqual(inventory, unsold.sort());
    await server.kill("SIGTERM");
    // The ledger has each sale once, and exactly the sales the buyer saw.
    const entries = await ledger(dir.path);
    const completed = entries.filter((e) => e.outcome === "completed").map((e) => e.item).sort();
    assert.equal(completed.length, new Set(completed).size, "no sale ledgered twice");
    assert.deepEqual(completed, bought);
    assert.ok(bought.length > 0);
  } finally {
    await disposeAll(all());
  }
}

// The three markets run at once: each mostly waits (for its pauses between
// kills and its restarts), so together they take little longer than one.
Deno.test(
  `${CRASHES} SIGKILLs each of the server, a seller and a buyer, in three markets at once, lose and double nothing`,
  async () => {
    const runs = (Object.entries({ server: 1, seller: 2, buyer: 3 }) as [Role, number][]).map(
      ([victim, seed]) =>
        run(victim, seed).catch((error) => {
          throw new Error(`with the ${victim} killed: ${error.message}`, { cause: error });
        }),
    );
    const failed = (await Promise.allSettled(runs)).filter((result) =>
      result.status === "rejected"
    );
    if (failed.length > 0) throw (failed[0] as PromiseRejectedResult).reason;
  },
);
