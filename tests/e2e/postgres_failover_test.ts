/**
 * The market on PostgreSQL, failing for real (issue 19): the active shop
 * server killed with a standby waiting on the same database, and the
 * database's leader killed in a Patroni cluster with synchronous
 * replication, each during registrations and purchases. After each, every
 * acknowledged registration and sale is stored exactly once, no item is
 * sold twice, and the ledger equals both peers' histories; the time until
 * writes resume is printed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess, ShopProcess, tempDir } from "./_process.ts";
import { ServerProcess as BaseServerProcess } from "../../demo/processes.ts";
import { checkStored, runMarket } from "./_market_run.ts";
import { postgresMissing, requirePostgres, startPostgres } from "../_postgres.ts";
import { patroniMissing, startPatroniCluster } from "../_patroni.ts";
import { PostgresStore } from "../../server/store/postgres_store.ts";
import { RawUdp } from "./_udp.ts";

const FLAGS = [
  "--offer-window",
  "500ms",
  "--search-timeout",
  "3s",
  "--transaction-timeout",
  "5s",
  "--classic-names-per-host",
  "0",
];

/** Starts a server with the database's password in its environment. */
async function startServer(
  env: Readonly<Record<string, string>>,
  dataDir: string,
  ...extra: string[]
): Promise<ServerProcess> {
  BaseServerProcess.env = env;
  try {
    return await ServerProcess.start(dataDir, ...FLAGS, ...extra);
  } finally {
    BaseServerProcess.env = {};
  }
}

const STANDBY =
  "on PostgreSQL, a standby takes over from a killed server and nothing is lost or doubled";
Deno.test({ name: STANDBY, ...requirePostgres(STANDBY, postgresMissing()) }, async () => {
  await using db = await startPostgres();
  await using dir = await tempDir();
  const server = await startServer(db.env, join(dir.path, "a"), "--store", db.url);
  const standby = new ShopProcess([
    "server",
    "--host",
    "127.0.0.1",
    "--port",
    String(server.port),
    "--data",
    join(dir.path, "b"),
    "--allow-plaintext",
    ...FLAGS,
    "--store",
    db.url,
    "--standby",
  ], { env: db.env });
  try {
    await standby.waitFor(/^Standby: waiting for .* to stop \(it holds the store\)$/);
    const run = await runMarket({
      dir: dir.path,
      port: server.port,
      registrations: 40,
      items: 6,
      disrupt: async () => {
        const killedAt = Date.now();
        await server.kill("SIGKILL");
        await standby.waitFor(/listening on 127\.0\.0\.1:\d+/, { timeoutMs: 30_000 });
        console.log(`the standby serves ${Date.now() - killedAt} ms after the kill`);
      },
    });
    assert.ok(run.registered.length > 0, "some registrations acknowledged");
    await using store = await PostgresStore.open(db.url, { passwordFile: db.passwordFile });
    await checkStored(store, run);
  } finally {
    await standby[Symbol.asyncDispose]();
  }
});

const FAILOVER =
  "on a Patroni cluster, the database leader killed during registrations and purchases loses and doubles nothing";
Deno.test({
  name: FAILOVER,
  ...requirePostgres(FAILOVER, postgresMissing() ?? patroniMissing()),
}, async () => {
  await using cluster = await startPatroniCluster();
  await using dir = await tempDir();
  await using server = await startServer(
    cluster.env,
    join(dir.path, "server"),
    "--store",
    cluster.url,
  );
  let killed = "";
  let sync: string[] = [];
  let killedAt = 0;
  const run = await runMarket({
    dir: dir.path,
    port: server.port,
    registrations: 60,
    // Purchases before, during and after the failover.
    items: 10,
    buyEveryMs: 2_000,
    disrupt: async () => {
      sync = await cluster.syncStandbys();
      assert.equal(sync.length, 1, "one synchronous standby before the kill");
      killed = await cluster.killLeader();
      killedAt = Date.now();
    },
  });
  const leader = await cluster.leader();
  assert.notEqual(leader, killed);
  assert.equal(leader, sync[0], "Patroni promoted the synchronous standby");
  const remaining = cluster.nodes.find((node) => node.alive && node.name !== leader)!.name;
  assert.deepEqual(await cluster.syncStandbys(), [remaining], "the last node is synchronous now");
  const stderr = server.stderr.join("\n");
  // Writes resume when the first registration sent after the kill is acknowledged.
  const resumed = run.registeredAt.find((at) => at.sent > killedAt)?.answered;
  const before = run.registeredAt.filter((at) => at.answered <= killedAt).length;
  console.log(
    `leader ${killed} killed after ${before} registrations; ${leader} leads; the next REGISTERED ${
      resumed === undefined ? "never came" : `${resumed - killedAt} ms after the kill`
    }`,
  );
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  const passwordFile = join(dir.path, "db-password");
  await Deno.writeTextFile(passwordFile, cluster.password, { mode: 0o600 });
  await using store = await PostgresStore.open(cluster.url, { passwordFile });
  await checkStored(store, run);
});

const DOWN =
  "on PostgreSQL that stays down, the server stops at --store-timeout, promptly, having acknowledged nothing";
Deno.test({ name: DOWN, ...requirePostgres(DOWN, postgresMissing()) }, async () => {
  await using db = await startPostgres();
  await using dir = await tempDir();
  await using server = await startServer(
    db.env,
    join(dir.path, "server"),
    "--store",
    db.url,
    "--store-timeout",
    "3s",
  );
  using probe = new RawUdp(server.port);
  const register = (name: string) =>
    `REGISTER r-${name} ${name} 127.0.0.1 ${probe.port} ${probe.port}`;
  assert.match(await probe.ask(register("before")), /^REGISTERED r-before/);
  await db.stop();
  const stoppedAt = Date.now();
  await probe.send(register("during"));
  const answers: string[] = [];
  let listen = true;
  const listening = (async () => {
    while (listen) {
      const text = await probe.receive(500).catch(() => undefined);
      if (text !== undefined) answers.push(text);
    }
  })();
  const status = await server.finished();
  const took = Date.now() - stoppedAt;
  console.log(`the server exited ${took} ms after PostgreSQL stopped, status ${status.code}`);
  assert.equal(status.code, 1);
  assert.ok(took < 3_000 + 5_000, `exited ${took} ms after PostgreSQL stopped`);
  const stderr = server.stderr.join("\n");
  assert.match(stderr, /Error: The server stopped: The store failed every commit for 3\.\d s: /);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  listen = false;
  await listening;
  assert.equal(answers.some((text) => text.startsWith("REGISTERED r-during")), false);
  // Started again, the database holds what was acknowledged and nothing else.
  await db.start();
  await using store = await PostgresStore.open(db.url, { passwordFile: db.passwordFile });
  const names = [...(await store.load()).peers].map((peer) => peer.name);
  assert.deepEqual(names, ["before"]);
});
