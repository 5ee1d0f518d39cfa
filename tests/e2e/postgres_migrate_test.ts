/**
 * `shop server migrate` moves a market from Deno KV to PostgreSQL and back
 * without loss (issue 19): a server on the copy knows the peers, and the
 * ledger is the same on all three stores.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { ServerProcess as BaseServerProcess } from "../../demo/processes.ts";
import { shop } from "./_shop.ts";
import { postgresMissing, requirePostgres, startPostgres } from "../_postgres.ts";

const NAME = "shop server migrate moves a market from Deno KV to PostgreSQL and back without loss";

Deno.test({ name: NAME, ...requirePostgres(NAME, postgresMissing()) }, async (t) => {
  await using db = await startPostgres();
  await using dir = await tempDir();
  const kvData = join(dir.path, "kv");
  const pay = async (name: string) => {
    const path = join(dir.path, `${name}.json`);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ card: "4111111111111111", expiry: "12/39", address: `${name} lane` }),
    );
    return ["--payment", path];
  };
  const ledgerOf = async (...where: string[]) => {
    const run = await shop(["server", "ledger", "--json", ...where], { env: db.env });
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout).entries as { tx: string; item: string; price: number }[];
  };

  await t.step("a market on Deno KV: two peers, a sale", async () => {
    await using server = await ServerProcess.start(kvData, "--offer-window", "300ms");
    await using seller = await PeerProcess.start(
      "seller",
      server.port,
      join(dir.path, "seller"),
      ...await pay("seller"),
    );
    await using buyer = await PeerProcess.start(
      "buyer",
      server.port,
      join(dir.path, "buyer"),
      "--auto-buy",
      ...await pay("buyer"),
    );
    await seller.command("register", "REGISTERED");
    await buyer.command("register", "REGISTERED");
    await seller.command("sell Lamp 25", "sell");
    await seller.command("sell Desk 90", "sell");
    await buyer.send("buy Lamp 30");
    await buyer.waitEvent("Shipping_Info");
    await server.kill("SIGTERM");
  });
  const kvLedger = await ledgerOf("--data", kvData);
  assert.equal(kvLedger.length, 1);

  await t.step("copied to PostgreSQL: said in one line, the same ledger", async () => {
    const run = await shop(["server", "migrate", "--data", kvData, "--to", db.url], {
      env: db.env,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /^Copied 2 peers, \d+ searches, \d+ offers, 1 listings, 1 ledger entries, \d+ replay marks and the server key from .*server\.kv to postgres:\/\/127\.0\.0\.1:\d+\/shop; both hold the same\n$/,
    );
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(db.password));
    assert.deepEqual(await ledgerOf("--store", db.url), kvLedger);
  });

  await t.step("a second copy into the same database is refused, nothing changed", async () => {
    const run = await shop(["server", "migrate", "--data", kvData, "--to", db.url], {
      env: db.env,
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^Error: Cannot copy the market from /);
    assert.deepEqual(await ledgerOf("--store", db.url), kvLedger);
  });

  await t.step("a server on the copy knows the peers and the listing", async () => {
    BaseServerProcess.env = db.env;
    let server: ServerProcess;
    try {
      server = await ServerProcess.start(join(dir.path, "pg"), "--store", db.url);
    } finally {
      BaseServerProcess.env = {};
    }
    await using _server = server;
    await using impostor = await PeerProcess.start("seller", server.port, join(dir.path, "x"));
    const denied = await impostor.command("register", "REGISTER-DENIED");
    assert.match(String(denied.reason), /name seller is bound to another key/);
    await using buyer = await PeerProcess.start(
      "buyer",
      server.port,
      join(dir.path, "buyer"),
      ...await pay("buyer"),
    );
    await buyer.command("register", "REGISTERED");
    const browse = await buyer.command("browse", "browse");
    assert.match(JSON.stringify(browse), /Desk/);
    await server.kill("SIGTERM");
  });

  await t.step("and back to Deno KV: the same ledger", async () => {
    const back = join(dir.path, "back", "server.kv");
    const run = await shop(["server", "migrate", "--store", db.url, "--to", back], {
      env: db.env,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await ledgerOf("--data", join(dir.path, "back")), kvLedger);
  });
});
