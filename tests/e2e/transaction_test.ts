/**
 * Purchases settled over TCP between real `shop peer` processes through a
 * real `shop server`: the sale, failures of every kind, a crash in the
 * middle, and a search for card numbers in everything they left behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  assertNoCardData,
  audit,
  disposeAll,
  PeerProcess,
  SECRETS,
  ServerProcess,
  ShopProcess,
  tempDir,
} from "./_process.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const BUYER_CARD = "4111111111111111";
const SELLER_CARD = "5555555555554444";
const BAD_CARD = "4111111111111112";
const EXPIRY = "12/39";

async function paymentFile(
  dir: string,
  name: string,
  card: string,
  address: string,
): Promise<string> {
  const path = join(dir, `${name}-payment.json`);
  await Deno.writeTextFile(path, JSON.stringify({ card, expiry: EXPIRY, address }));
  return path;
}

async function ledger(dataDir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "server", "ledger", "--data", dataDir, "--json"],
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const stdout = new TextDecoder().decode(output.stdout);
  assertNoCardData(stdout, "the ledger");
  return JSON.parse(stdout) as {
    entries: {
      item: string;
      price: number;
      fee: number;
      sellerCredit: number;
      outcome: string;
      reason?: string;
    }[];
    totals: { sales: number; fees: number };
  };
}

/** A server, a seller with a Lamp and a buyer, both with payment files. */
async function market(
  dir: string,
  options: { server?: string[]; buyerCard?: string; buyerPays?: boolean } = {},
) {
  const server = await ServerProcess.start(
    dir,
    "--offer-window",
    "300ms",
    ...(options.server ?? []),
  );
  const seller = await PeerProcess.start(
    "sam",
    server.port,
    dir,
    "--payment",
    await paymentFile(dir, "sam", SELLER_CARD, "1 Seller Road"),
  );
  const buyerArgs = options.buyerPays === false ? [] : [
    "--payment",
    await paymentFile(dir, "bea", options.buyerCard ?? BUYER_CARD, "42 Main Street, Springfield"),
  ];
  const buyer = await PeerProcess.start("bea", server.port, dir, "--auto-buy", ...buyerArgs);
  for (const peer of [seller, buyer]) await peer.command("register", "REGISTERED");
  await seller.command("sell Lamp 25 brass desk lamp", "sell");
  return {
    server,
    seller,
    buyer,
    async [Symbol.asyncDispose]() {
      await disposeAll([buyer, seller, server]);
    },
  };
}

Deno.test("a complete purchase: Shipping_Info with the buyer's address, the item sold, price and fee in the ledger", async () => {
  const before = { ...audit };
  {
    await using temp = await tempDir();
    const dir = temp.path;
    {
      await using m = await market(dir);
      await m.buyer.send("buy Lamp 30");
      const shipping = await m.seller.waitEvent("Shipping_Info");
      assert.deepEqual(
        [
          shipping.role,
          shipping.item,
          shipping.price,
          shipping.fee,
          shipping.credit,
          shipping.buyer,
          shipping.address,
        ],
        ["seller", "Lamp", 25, 2.5, 22.5, "bea", "42 Main Street, Springfield"],
      );
      await m.buyer.waitFor((line) => /"event":"(Shipping_Info|bought)"/.test(line));
      const inventory = await m.seller.command("inventory", "inventory");
      assert.deepEqual(inventory.items, []);
      const history = await m.buyer.command("history", "history");
      assert.equal((history.entries as { item: string }[])[0]?.item, "Lamp");
      const requests = await m.buyer.command("requests", "requests");
      assert.equal((requests.requests as { state: string }[])[0]?.state, "bought");
      await m.server.kill("SIGTERM");
    }
    const { entries, totals } = await ledger(dir);
    assert.deepEqual(
      entries.map((e) => [e.item, e.price, e.fee, e.sellerCredit, e.outcome]),
      [["Lamp", 25, 2.5, 22.5, "completed"]],
    );
    assert.deepEqual([totals.sales, totals.fees], [25, 2.5]);
    // The card-data audit looked at what this purchase left behind: the
    // output of the three processes and of the ledger command.
    assert.ok(audit.outputs - before.outputs >= 4, `${audit.outputs - before.outputs} outputs`);
  }
  // On disposal it searched the files: KV files and logs.
  assert.ok(audit.files - before.files >= 5, `only ${audit.files - before.files} files audited`);
});

Deno.test("a declined card cancels the purchase on both sides and releases the item", async () => {
  await using temp = await tempDir();
  const dir = temp.path;
  await using m = await market(dir, { server: ["--decline-cards"] });
  await m.buyer.send("buy Lamp 30");
  const [buyerCancel, sellerCancel] = await Promise.all([
    m.buyer.waitEvent("CANCEL", { where: (e) => String(e.reason ?? "").includes("declined") }),
    m.seller.waitEvent("CANCEL", { where: (e) => String(e.reason ?? "").includes("declined") }),
  ]);
  assert.equal(buyerCancel.role, "buyer");
  assert.equal(sellerCancel.role, "seller");
  const inventory = await m.seller.command("inventory", "inventory");
  assert.equal((inventory.items as { state: string }[])[0]?.state, "available");
  // The buyer forgot the refused card: its next purchase asks for one.
  await m.buyer.waitEvent("warning", {
    where: (e) => /Forgot the payment details the server refused/.test(String(e.message)),
  });
  await m.buyer.send("buy Lamp 30");
  await m.buyer.waitEvent("prompt", { where: (e) => e.about === "CARD" });
});

Deno.test("a --payment file with a card failing the Luhn check or expired is refused at start, exit 2", async (t) => {
  await using temp = await tempDir();
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a mistyped card", { card: BAD_CARD, expiry: EXPIRY, address: "x" }, /card: its check digit/],
    [
      "an expired card",
      { card: BUYER_CARD, expiry: "01/20", address: "x" },
      /expiry: the card has/,
    ],
  ];
  for (const [name, details, error] of cases) {
    await t.step(name, async () => {
      const path = join(temp.path, "bea-payment.json");
      await Deno.writeTextFile(path, JSON.stringify(details));
      await using peer = new ShopProcess([
        "peer",
        "--name",
        "bea",
        "--data",
        temp.path,
        "--payment",
        path,
      ]);
      const status = await peer.finished();
      assert.equal(status.code, 2);
      const stderr = peer.stderr.join("\n");
      assert.match(stderr, new RegExp(`--payment ".*bea-payment.json": ${error.source}`));
      // (The server's own check of such a card: classic_transaction_test.ts.)
    });
  }
});

Deno.test("a buyer that does not answer on TCP: the purchase is cancelled after the timeout", async () => {
  await using temp = await tempDir();
  const dir = temp.path;
  await using m = await market(dir, { server: ["--transaction-timeout", "1s"], buyerPays: false });
  await m.buyer.send("buy Lamp 30");
  // The buyer is asked for its card and never answers.
  await m.buyer.waitEvent("prompt", { where: (e) => e.about === "CARD" });
  const cancel = await m.seller.waitEvent("CANCEL", { where: (e) => e.reason !== undefined });
  assert.match(String(cancel.reason), /buyer bea did not answer in time/);
  const inventory = await m.seller.command("inventory", "inventory");
  assert.equal((inventory.items as { state: string }[])[0]?.state, "available");
});

Deno.test("a server killed with SIGKILL during the transaction settles it exactly once after a restart", async () => {
  await using temp = await tempDir();
  const dir = temp.path;
  {
    await using m = await market(dir, { buyerPays: false });
    await m.buyer.send("buy Lamp 30");
    await m.buyer.waitEvent("prompt", { where: (e) => e.about === "CARD" });
    await m.server.kill("SIGKILL");
    const afterCrash = m.buyer.lines.length;
    await using restarted = await ServerProcess.restart(m.server, dir, "--offer-window", "300ms");
    // The restarted server runs the interrupted transaction again: the
    // buyer is asked anew, on the new connection.
    await m.buyer.waitEvent("prompt", { where: (e) => e.about === "CARD", from: afterCrash });
    await m.buyer.send(BUYER_CARD, EXPIRY, "42 Main Street");
    const shipping = await m.seller.waitEvent("Shipping_Info");
    assert.equal(shipping.address, "42 Main Street");
    await restarted.kill("SIGTERM");
  }
  const { entries } = await ledger(dir);
  assert.deepEqual(
    entries.map((e) => [e.item, e.outcome]),
    [["Lamp", "completed"]],
    "charged once",
  );
});

Deno.test("the card-data audit searches for every card number and expiry used here", () => {
  for (const secret of [BUYER_CARD, SELLER_CARD, BAD_CARD, EXPIRY]) {
    assert.ok(SECRETS.includes(secret), secret);
  }
});

Deno.test("30 purchases from one seller at once all complete: the server keeps within the peer's connection limit", async () => {
  const COUNT = 30;
  await using temp = await tempDir();
  const dir = temp.path;
  {
    await using m = await market(dir);
    for (let i = 0; i < COUNT; i++) await m.seller.command(`sell Item${i} 10`, "sell");
    for (let i = 0; i < COUNT; i++) await m.buyer.send(`buy Item${i} 12`);
    const sold = new Set<string>();
    for (let from = 0; sold.size < COUNT;) {
      const event = await m.seller.waitEvent("Shipping_Info", { from, timeoutMs: 60_000 });
      from = m.seller.lines.indexOf(JSON.stringify(event)) + 1;
      sold.add(String(event.item));
    }
    assert.equal(
      m.seller.stderr.filter((line) => line.includes("are open already")).length,
      0,
      "no connection of the server was turned away",
    );
    await m.server.kill("SIGTERM");
  }
  const { entries } = await ledger(dir);
  assert.deepEqual(
    entries.map((e) => e.outcome),
    Array.from({ length: COUNT }, () => "completed"),
  );
});
