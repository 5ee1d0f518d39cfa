/**
 * The PostgreSQL harness works for real (issue 19): a single instance
 * keeps a committed row through SIGKILL and restart. The Patroni cluster's
 * failover is tested with the market on it, in postgres_failover_test.ts
 * (one cluster for the suite: each takes some 25 s).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { postgresMissing, requirePostgres, startPostgres, waitFor } from "../_postgres.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SINGLE = "a PostgreSQL instance keeps a committed row through kill -9 and a restart";

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
