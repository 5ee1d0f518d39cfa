/**
 * A peer's TCP port against connections that never authenticate: idle
 * ones that never start TLS, and ones that finish TLS but then send
 * nothing or text without the server's MAC. They wait in their own small
 * budget, so the server's connection is still accepted and the purchase
 * completes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertNoCardData, disposeAll, PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { authorityPem } from "../../security/certificates.ts";
import { serverKvPath } from "../../server/store/mod.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const FLOOD = 20;

async function paymentFile(dir: string, name: string, card: string): Promise<string> {
  const path = join(dir, `${name}-payment.json`);
  await Deno.writeTextFile(
    path,
    JSON.stringify({ card, expiry: "12/39", address: `${name} lane` }),
  );
  return path;
}

/** A server, a seller with a Lamp (and its TCP port), and an auto-buying buyer. */
async function market(dir: string) {
  const server = await ServerProcess.start(dir, "--offer-window", "300ms");
  const seller = await PeerProcess.start(
    "sam",
    server.port,
    dir,
    "--payment",
    await paymentFile(dir, "sam", "5555555555554444"),
  );
  const buyer = await PeerProcess.start(
    "bea",
    server.port,
    dir,
    "--auto-buy",
    "--payment",
    await paymentFile(dir, "bea", "4111111111111111"),
  );
  for (const peer of [seller, buyer]) await peer.command("register", "REGISTERED");
  await seller.command("sell Lamp 25 brass desk lamp", "sell");
  const ready = JSON.parse(seller.lines[0]!) as { tcpPort: number };
  return {
    server,
    seller,
    buyer,
    sellerTcpPort: ready.tcpPort,
    async [Symbol.asyncDispose]() {
      await disposeAll([buyer, seller, server]);
    },
  };
}

/** The ledger's entries as [item, outcome]. */
async function ledger(dataDir: string): Promise<[string, string][]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "server", "ledger", "--data", dataDir, "--json"],
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const stdout = new TextDecoder().decode(output.stdout);
  assertNoCardData(stdout, "the ledger");
  const { entries } = JSON.parse(stdout) as { entries: { item: string; outcome: string }[] };
  return entries.map((entry) => [entry.item, entry.outcome]);
}

/** Buys the Lamp and checks what each side and the ledger say. */
async function assertPurchaseCompletes(m: Awaited<ReturnType<typeof market>>, dir: string) {
  await m.buyer.send("buy Lamp 30");
  const shipping = await m.seller.waitEvent("Shipping_Info", { timeoutMs: 10_000 });
  assert.deepEqual([shipping.item, shipping.buyer], ["Lamp", "bea"]);
  await m.buyer.waitFor((line) => /"event":"(Shipping_Info|bought)"/.test(line), {
    timeoutMs: 10_000,
  });
  assert.deepEqual((await m.seller.command("inventory", "inventory")).items, []);
  const requests = await m.buyer.command("requests", "requests");
  assert.equal((requests.requests as { state: string }[])[0]?.state, "bought");
  for (const [peer, role] of [[m.buyer, "buyer"], [m.seller, "seller"]] as const) {
    const history = await peer.command("history", "history");
    assert.deepEqual(
      (history.entries as { item: string; role: string }[]).map((e) => [e.item, e.role]),
      [["Lamp", role]],
    );
  }
  await m.server.kill("SIGTERM");
  assert.deepEqual(await ledger(dir), [["Lamp", "completed"]]);
}

/** The TLS authority the server pinned for `name`, read from the server's store. */
async function pinnedAuthority(dir: string, name: string): Promise<string> {
  const kv = await Deno.openKv(serverKvPath(dir));
  try {
    for await (const entry of kv.list<{ name?: string; auth?: { ca: string } }>({ prefix: [] })) {
      const value = entry.value;
      if (value?.name === name && value.auth?.ca) return authorityPem(value.auth.ca);
    }
  } finally {
    kv.close();
  }
  throw new Error(`No pinned TLS authority for "${name}" in the server's store`);
}

/** Closes connections, some of which the peer may have closed already. */
function closeAll(conns: Iterable<Deno.Conn>): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

Deno.test("20 idle TCP connections that never start TLS do not stop the seller's next purchase", async () => {
  await using temp = await tempDir();
  const dir = temp.path;
  await using m = await market(dir);
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < FLOOD; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: m.sellerTcpPort }));
    }
    // Let the seller accept them all before the purchase starts.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assertPurchaseCompletes(m, dir);
  } finally {
    closeAll(idle);
  }
});

Deno.test("20 TLS connections that stay silent, then 20 that send text without the server's MAC, do not stop the purchase", async () => {
  await using temp = await tempDir();
  const dir = temp.path;
  await using m = await market(dir);
  const caCert = await pinnedAuthority(dir, "sam");
  const conns: Deno.TlsConn[] = [];
  try {
    for (let i = 0; i < 2 * FLOOD; i++) {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: m.sellerTcpPort,
        caCerts: [caCert],
      });
      conns.push(conn);
      await conn.handshake();
      // The first 20 send nothing at all; the others send a message the
      // server never sealed.
      if (i >= FLOOD) {
        await conn.write(new TextEncoder().encode(`INFORM_Req x${i} Lamp 25 hello\n`));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assertPurchaseCompletes(m, dir);
  } finally {
    closeAll(conns);
  }
});
