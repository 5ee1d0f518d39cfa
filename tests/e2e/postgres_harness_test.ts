/**
 * The PostgreSQL harnesses work for real (issue 19): a single instance
 * keeps a committed row through SIGKILL and restart, and a Patroni cluster
 * with synchronous replication fails over from a killed leader without
 * losing a write it acknowledged.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { delay, postgresMissing, requirePostgres, startPostgres, waitFor } from "../_postgres.ts";
import { patroniMissing, startPatroniCluster } from "../_patroni.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SINGLE = "a PostgreSQL instance keeps a committed row through kill -9 and a restart";
const CLUSTER =
  "a Patroni cluster fails over to its synchronous standby without losing an acknowledged write";

/**
 * What the store's server process will do: read the URL and take the
 * password from PGPASSWORD only (postgres.js reads it from the environment).
 */
const CLIENT = `
import postgres from "postgres";
const sql = postgres(Deno.env.get("SHOP_TEST_URL"), { max: 1, onnotice: () => {} });
await sql\`CREATE TABLE kept (id integer PRIMARY KEY, note text NOT NULL)\`;
await sql\`INSERT INTO kept VALUES (1, 'committed before the crash')\`;
const [row] = await sql\`SELECT count(*)::int AS n FROM kept\`;
console.log("rows " + row.n);
await sql.end();
`;

Deno.test({ name: SINGLE, ...requirePostgres(SINGLE, postgresMissing()) }, async (t) => {
  await using db = await startPostgres();

  await t.step(
    "the URL carries no password, the password file and the environment do",
    async () => {
      assert.doesNotMatch(db.url, new RegExp(db.password));
      assert.match(db.url, /^postgres:\/\/shop@127\.0\.0\.1:\d+\/shop$/);
      assert.equal(await Deno.readTextFile(db.passwordFile), db.password);
      assert.equal((await Deno.stat(db.passwordFile)).mode! & 0o777, 0o600);
      assert.deepEqual(db.env, { PGPASSWORD: db.password });
    },
  );

  await t.step("a wrong password is refused (SCRAM over TCP, not trust)", async () => {
    const sql = postgres(db.url, { password: "wrong", max: 1, connect_timeout: 5 });
    try {
      await assert.rejects(sql`SELECT 1`, (error: { code?: string }) => error.code === "28P01");
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  await t.step(
    "a client process with PGPASSWORD in its environment creates a table and a row",
    async () => {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--frozen", CLIENT],
        cwd: ROOT,
        env: { ...db.env, SHOP_TEST_URL: db.url, NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, output);
      assert.match(output, /rows 1/);
    },
  );

  await t.step("after SIGKILL and a start on the same data the row is still there", async () => {
    const before = db.pid;
    await db.kill();
    assert.equal(db.pid, undefined);
    await db.start();
    assert.notEqual(db.pid, before);
    // Proof that the kill was a crash: the server had to recover. (The log
    // is copied from a pipe, so it may trail the server a little.)
    await waitFor(
      "crash recovery in the log",
      async () =>
        /database system was interrupted|not properly shut down/.test(
            await Deno.readTextFile(db.log),
          )
          ? true
          : undefined,
      { timeoutMs: 5_000 },
    );
    const sql = postgres(db.url, { password: db.password, max: 1, connect_timeout: 5 });
    try {
      assert.deepEqual([...await sql`SELECT id, note FROM kept`], [{
        id: 1,
        note: "committed before the crash",
      }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  await t.step("a clean stop and start keep it too", async () => {
    await db.stop();
    await db.start();
    const sql = postgres(db.url, { password: db.password, max: 1, connect_timeout: 5 });
    try {
      assert.equal((await sql`SELECT count(*)::int AS n FROM kept`)[0]!.n, 1);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});

Deno.test({ name: CLUSTER, ...requirePostgres(CLUSTER, patroniMissing()) }, async () => {
  await using cluster = await startPatroniCluster();
  const sql = postgres(cluster.url, {
    password: cluster.password,
    target_session_attrs: "primary",
    max: 1,
    connect_timeout: 2,
    // postgres.js waits (0.5..1) × min(3^n / 100, 20) s after its n-th failed
    // connection by default; measure the cluster's failover, not that.
    backoff: () => 0.05,
    onnotice: () => {},
  });
  const acknowledged: number[] = [];
  const ackedAt: number[] = [];
  let attempts = 0;
  let stopping = false;
  const write = async () => {
    for (let id = 1; !stopping; id++) {
      attempts++;
      try {
        // No statement_timeout and no cancel: a commit cancelled while it
        // waits for the standby is kept locally and reported as a success.
        await sql`INSERT INTO acks (id) VALUES (${id})`;
        acknowledged.push(id);
        ackedAt.push(performance.now());
      } catch {
        // Unknown outcome (the connection died): not acknowledged.
        await delay(20);
      }
    }
  };
  let writer = Promise.resolve();
  const acks = (count: number, what: string, timeoutMs: number) =>
    waitFor(what, () => Promise.resolve(acknowledged.length >= count ? true : undefined), {
      timeoutMs,
      intervalMs: 20,
    });

  try {
    await sql`CREATE TABLE acks (id integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`;
    writer = write();
    await acks(30, "30 acknowledged writes before the kill", 10_000);

    const sync = await cluster.syncStandbys();
    assert.equal(sync.length, 1, "one synchronous standby before the kill");
    const named = (await cluster.members()).filter((member) => member.role === "sync_standby");
    assert.deepEqual(
      named.map((member) => member.name),
      sync,
      "Patroni names the standby PostgreSQL waits for",
    );

    const killedAt = performance.now();
    const killed = await cluster.killLeader();
    const killDone = performance.now();
    const ackedBeforeKill = acknowledged.length;

    const promoted = await cluster.waitForLeader({ not: killed, timeoutMs: 30_000 });
    const promotedMs = performance.now() - killedAt;
    assert.equal(promoted, sync[0], "Patroni promoted the synchronous standby");
    await waitFor(
      "a write acknowledged after the kill",
      () => Promise.resolve(ackedAt.some((at) => at > killDone) ? true : undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 20,
      },
    );
    const resumedMs = ackedAt.find((at) => at > killDone)! - killedAt;
    await acks(acknowledged.length + 30, "30 acknowledged writes after the failover", 10_000);
    stopping = true;
    await writer;

    const [server] = await sql`SELECT inet_server_port() AS port`;
    const leaderPort = cluster.nodes.find((node) => node.name === promoted)!.port;
    assert.equal(server!.port, leaderPort, "the multi-host URL reaches the new leader");
    const stored = new Set((await sql<{ id: number }[]>`SELECT id FROM acks`).map((row) => row.id));
    const lost = acknowledged.filter((id) => !stored.has(id));
    const remaining = cluster.nodes.find((node) => node.alive && node.name !== promoted)!.name;
    const syncAfter = await cluster.syncStandbys();

    console.log(
      `failover: killed ${killed}, ${promoted} primary ${
        Math.round(promotedMs)
      } ms and writes resumed ` +
        `${
          Math.round(resumedMs)
        } ms after the kill; ${acknowledged.length} INSERTs acknowledged (${ackedBeforeKill} before the kill), ` +
        `${stored.size} rows stored, ${lost.length} acknowledged rows lost, ${attempts} attempts; ` +
        `synchronous standby now ${syncAfter.join(", ") || "none"}`,
    );
    assert.deepEqual(lost, [], "every acknowledged INSERT is on the new leader");
    assert.ok(stored.size >= acknowledged.length);
    assert.deepEqual(
      syncAfter,
      [remaining],
      "the new leader replicates synchronously to the last node",
    );
  } finally {
    stopping = true;
    await sql.end({ timeout: 1 });
    await writer;
  }
});
