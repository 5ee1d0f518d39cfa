import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ClassicPeer } from "./_classic.ts";
import { ServerProcess, tempDir } from "./_process.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const CARD = "4111111111111111";
const SELLER_CARD = "5555555555554444";

async function ledger(dataDir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "server", "ledger", "--data", dataDir, "--json"],
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** Two classic peers meet through the server and reach FOUND; returns the search's RQ#. */
async function toFound(seller: ClassicPeer, buyer: ClassicPeer): Promise<string> {
  assert.equal(await seller.register(), "REGISTERED 1");
  assert.equal(await buyer.register(), "REGISTERED 1");
  await buyer.udp.send("LOOKING_FOR 7 bob Lamp a desk lamp 30");
  const search = await seller.expect("SEARCH");
  assert.deepEqual(search.slice(2), ["Lamp", "a", "desk", "lamp"]);
  await seller.udp.send(`OFFER ${search[1]} carol Lamp 25`);
  assert.deepEqual(await buyer.expect("FOUND"), ["FOUND", "7", "Lamp", "25"]);
  assert.deepEqual(await seller.expect("RESERVE"), ["RESERVE", search[1], "Lamp", "25"]);
  return search[1]!;
}

Deno.test("classic peers on raw sockets complete a purchase through the TCP transaction", async () => {
  await using dir = await tempDir();
  const server = await ServerProcess.start(dir.path, "--offer-window", "200ms");
  await using seller = new ClassicPeer("carol", server.port);
  await using buyer = new ClassicPeer("bob", server.port);
  await toFound(seller, buyer);

  await buyer.udp.send("BUY 7 Lamp 25");
  const [sellerSide, buyerSide] = await Promise.all([
    seller.transact({ card: SELLER_CARD, expiry: "12/39", address: "1 Seller Road" }),
    // The buyer's answer arrives in two pieces, without a newline.
    buyer.transact({ card: CARD, expiry: "11/38", address: "42 Main Street, Springfield" }, {
      pieces: true,
    }),
  ]);
  assert.equal(sellerSide.request[0], "INFORM_Req");
  assert.deepEqual(sellerSide.request.slice(2), ["Lamp", "25"]);
  assert.equal(buyerSide.request[1], sellerSide.request[1], "one RQ# for the transaction");
  assert.deepEqual(sellerSide.after, [
    `Shipping_Info ${sellerSide.request[1]} bob 42 Main Street, Springfield`,
  ]);
  assert.deepEqual(buyerSide.after, [], "the server closes the buyer's connection without more");

  await server.kill("SIGTERM");
  const { entries, totals } = await ledger(dir.path);
  assert.equal(entries.length, 1);
  assert.deepEqual(
    [
      entries[0].item,
      entries[0].price,
      entries[0].fee,
      entries[0].sellerCredit,
      entries[0].outcome,
    ],
    ["Lamp", 25, 2.5, 22.5, "completed"],
  );
  assert.equal(entries[0].buyerCard, "************1111");
  assert.deepEqual([totals.sales, totals.fees], [25, 2.5]);
});

Deno.test("an invalid card number cancels the purchase with the reason, on TCP and UDP", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "200ms");
  await using seller = new ClassicPeer("carol", server.port);
  await using buyer = new ClassicPeer("bob", server.port);
  const search = await toFound(seller, buyer);
  await buyer.udp.send("BUY 7 Lamp 25");
  const [sellerSide, buyerSide] = await Promise.all([
    seller.transact({ card: SELLER_CARD, expiry: "12/39", address: "1 Seller Road" }),
    buyer.transact({ card: "4111111111111112", expiry: "11/38", address: "42 Main Street" }),
  ]);
  const tx = sellerSide.request[1];
  const cancel = `CANCEL ${tx} the buyer's card number ************1112 is invalid`;
  assert.deepEqual(buyerSide.after, [cancel]);
  assert.deepEqual(sellerSide.after, [cancel]);
  // The seller releases the reservation; the buyer hears it is off.
  assert.deepEqual(await seller.expect("CANCEL"), ["CANCEL", search, "Lamp", "25"]);
  assert.deepEqual(await buyer.expect("CANCEL"), ["CANCEL", "7", "Lamp", "25"]);
});
