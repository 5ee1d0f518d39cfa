/**
 * One scenario for every "the store failed" test (injected commit faults,
 * a database leader killed, a standby taking over): classic registrations
 * from raw UDP sockets and purchases between two of our peers run while a
 * disruption happens, and afterwards what was acknowledged is compared
 * with what the store holds.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess } from "./_process.ts";
import { RawUdp } from "./_udp.ts";
import type { ServerStore } from "../../server/store/store.ts";
import type { LedgerEntry } from "../../server/records.ts";

/** What a run saw acknowledged. */
export interface MarketRun {
  /** Names whose REGISTER was answered REGISTERED. */
  readonly registered: readonly string[];
  /** When each name's first REGISTER was sent and its REGISTERED came (ms since the epoch). */
  readonly registeredAt: readonly { readonly sent: number; readonly answered: number }[];
  /** Items the buyer reports bought. */
  readonly bought: readonly string[];
  /** The buyer's and the seller's histories: `tx item price`. */
  readonly buyerHistory: readonly string[];
  readonly sellerHistory: readonly string[];
}

/** Options of {@linkcode runMarket}. */
export interface MarketRunOptions {
  /** The directory for the peers' data and payment files. */
  readonly dir: string;
  /** The server's UDP port (a standby that takes over serves on the same). */
  readonly port: number;
  /** Classic names to register from raw sockets. */
  readonly registrations: number;
  /** Items the seller lists and the buyer buys. */
  readonly items: number;
  /** The pause between two purchases (150 ms by default). */
  readonly buyEveryMs?: number;
  /** Called once registrations and purchases are under way. */
  readonly disrupt: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers classic names (each REGISTER resent every 300 ms until
 * answered, as classic peers do, for at most `forMs`), and resolves with
 * the names answered REGISTERED and when.
 */
export async function registerClassic(
  port: () => number,
  names: readonly string[],
  { forMs = 60_000, pauseMs = 20 } = {},
): Promise<{ names: string[]; at: { sent: number; answered: number }[] }> {
  const registered: string[] = [];
  const at: { sent: number; answered: number }[] = [];
  const until = Date.now() + forMs;
  for (const [i, name] of names.entries()) {
    using socket = new RawUdp(port());
    const rq = `r${i}`;
    const text = `REGISTER ${rq} ${name} 127.0.0.1 ${socket.port} ${socket.port}`;
    const sent = Date.now();
    while (Date.now() < until) {
      await socket.send(text).catch(() => {});
      const reply = await socket.receive(300).catch(() => undefined);
      if (reply?.startsWith(`REGISTERED ${rq}`)) {
        registered.push(name);
        at.push({ sent, answered: Date.now() });
        break;
      }
      if (reply?.startsWith("REGISTER-DENIED")) break;
    }
    await sleep(pauseMs);
  }
  return { names: registered, at };
}

/** Runs the scenario and returns what was acknowledged. */
export async function runMarket(options: MarketRunOptions): Promise<MarketRun> {
  const { dir } = options;
  const pay = async (name: string) => {
    const path = join(dir, `${name}.json`);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ card: "4111111111111111", expiry: "12/39", address: `${name} lane` }),
    );
    return ["--payment", path];
  };
  const port = () => options.port;
  await using seller = await PeerProcess.start(
    "seller",
    port(),
    join(dir, "seller"),
    ...await pay("seller"),
  );
  await using buyer = await PeerProcess.start(
    "buyer",
    port(),
    join(dir, "buyer"),
    "--auto-buy",
    ...await pay("buyer"),
  );
  await seller.command("register", "REGISTERED");
  await buyer.command("register", "REGISTERED");
  for (let i = 0; i < options.items; i++) await seller.command(`sell Item${i} 10`, "sell");
  const names = Array.from({ length: options.registrations }, (_, i) => `classic${i}`);
  const registering = registerClassic(port, names);
  const buying = (async () => {
    for (let i = 0; i < options.items; i++) {
      await buyer.send(`buy Item${i} 12`);
      await sleep(options.buyEveryMs ?? 150);
    }
  })();
  await sleep(300);
  await options.disrupt();
  const [{ names: registered, at: registeredAt }] = await Promise.all([registering, buying]);
  // Every purchase ends: bought, or cancelled when the disruption broke it.
  const ended = ["bought", "cancelled", "not_available", "not_found", "failed"];
  const deadline = Date.now() + 120_000;
  let requests: { item: string; state: string }[] = [];
  while (Date.now() < deadline) {
    requests = (await buyer.command("requests", "requests")).requests as typeof requests;
    if (requests.length >= options.items && requests.every((r) => ended.includes(r.state))) break;
    await sleep(500);
  }
  assert.deepEqual(requests.filter((r) => !ended.includes(r.state)), [], "every purchase ended");
  // The seller's last sales may still be on their way (Shipping_Info is delivered until acknowledged).
  const bought = requests.filter((r) => r.state === "bought").map((r) => r.item).sort();
  const history = async (peer: PeerProcess) =>
    ((await peer.command("history", "history")).entries as {
      tx: string;
      item: string;
      price: number;
    }[]).map((e) => `${e.tx} ${e.item} ${e.price}`).sort();
  let sellerHistory: string[] = [];
  while (Date.now() < deadline) {
    sellerHistory = await history(seller);
    if (sellerHistory.length >= bought.length) break;
    await sleep(500);
  }
  return {
    registered,
    registeredAt,
    bought,
    buyerHistory: await history(buyer),
    sellerHistory,
  };
}

/**
 * Checks the store against what was acknowledged: every name answered
 * REGISTERED is registered, every sale is ledgered once, and the ledger's
 * completed sales are exactly both peers' histories.
 */
export async function checkStored(store: ServerStore, run: MarketRun): Promise<void> {
  const snapshot = await store.load();
  const peers = new Set([...snapshot.peers].map((peer) => peer.name));
  const lost = run.registered.filter((name) => !peers.has(name));
  console.log(
    `registrations acknowledged ${run.registered.length}, of them stored ${
      run.registered.length - lost.length
    }; sales bought ${run.bought.length}`,
  );
  assert.deepEqual(lost, [], "every acknowledged registration is stored");
  const ledger: LedgerEntry[] = await store.ledger();
  const completed = ledger.filter((e) => e.outcome === "completed");
  const sales = completed.map((e) => `${e.tx} ${e.item} ${e.price}`).sort();
  assert.equal(new Set(completed.map((e) => e.tx)).size, completed.length, "no sale twice");
  assert.equal(new Set(completed.map((e) => e.item)).size, completed.length, "no item sold twice");
  assert.deepEqual(sales, [...run.buyerHistory], "the ledger equals the buyer's history");
  assert.deepEqual(sales, [...run.sellerHistory], "the ledger equals the seller's history");
  assert.deepEqual(completed.map((e) => e.item).sort(), [...run.bought]);
}
