/**
 * The PostgreSQL store against a real PostgreSQL 15 on 127.0.0.1 (one
 * instance per test, a few hundred milliseconds each): records round-trip
 * as Deno KV keeps them, batches are atomic, ordered and harmless to
 * repeat, reservations and the ledger hold in the database, fencing and the
 * standby, crashes of the database, credentials and TLS.
 *
 * Without PostgreSQL these tests are skipped with a warning, except on CI
 * (`CI=true`), where they fail.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Mutation, RequestRecord } from "../records.ts";
import { KvStore } from "./kv_store.ts";
import { PostgresStore } from "./postgres_store.ts";
import { Fenced, StoreBusy } from "./store.ts";
import { requirePostgres, startPostgres, type TestPostgres } from "./_test_postgres.ts";
import { marketBatches } from "./_test_market.ts";
import { T0 } from "../_market_harness.ts";

const PG = requirePostgres();

/** A store on a fresh database of `pg`, logging in with the password file. */
async function openStore(pg: TestPostgres, url?: string): Promise<PostgresStore> {
  return await PostgresStore.open(url ?? await pg.database(), { passwordFile: pg.passwordFile });
}

/** One SQL query as the superuser, on the database of a store URL. */
async function query(
  pg: TestPostgres,
  url: string,
  text: string,
): Promise<Record<string, unknown>[]> {
  const sql = pg.admin(new URL(url).pathname.slice(1));
  try {
    return [...await sql.unsafe(text)];
  } finally {
    await sql.end({ timeout: 1 });
  }
}

function request(id: string, change: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id,
    buyer: "buyer",
    buyerRq: `rq-${id}`,
    item: "Lamp",
    description: "a lamp",
    maxPrice: 30,
    createdAt: T0,
    state: "found",
    updatedAt: T0 + 1,
    deadline: T0 + 3_000,
    contacted: 2,
    seller: "s1",
    price: 25.35,
    ...change,
  };
}

const save = (record: RequestRecord): Mutation => ({
  kind: "save",
  key: ["request", record.id],
  value: record,
});

Deno.test({
  name: "PostgresStore loads back exactly what a market stored, as KvStore does",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using store = await openStore(pg, url);
  const dir = await Deno.makeTempDir({ prefix: "shop-kv-" });
  await using kv = await KvStore.open(dir);
  const { batches, marks } = marketBatches();
  for (const [i, batch] of batches.entries()) {
    const batchMarks = i === batches.length - 1 ? marks : [];
    await kv.apply(batch, batchMarks);
    await store.apply(batch, batchMarks);
  }

  await t.step(
    "records, ledger and marks deep-equal KvStore's, undefined fields included",
    async () => {
      const [fromKv, fromPg] = [await kv.load(), await store.load()];
      assert.ok([...fromKv.peers].length >= 7 && [...fromKv.requests!].length >= 6);
      assert.deepStrictEqual(fromPg, fromKv);
      const ledger = await store.ledger();
      assert.equal(ledger.length, 3);
      assert.deepStrictEqual(ledger, await kv.ledger());
      assert.deepStrictEqual(await store.marks(), await kv.marks());
      const declined = (fromPg.requests as RequestRecord[]).find((r) => r.declined);
      assert.ok(declined && "holding" in declined && declined.holding === undefined);
    },
  );

  await t.step("money is exact in SQL: numeric(12,2), no float drift", async () => {
    const rows = await query(
      pg,
      url,
      `SELECT price::text, fee::text, seller_credit::text FROM ledger ORDER BY price`,
    );
    assert.deepEqual(rows.map((r) => [r.price, r.fee, r.seller_credit]), [
      ["0.30", "0.00", "0.00"],
      ["20.10", "2.01", "18.09"],
      ["999999999.99", "100000000.00", "899999999.99"],
    ]);
    const [listing] = await query(pg, url, `SELECT price::text FROM listings WHERE seller = 's1'`);
    assert.equal(listing?.price, "25.35");
  });

  await t.step("a price that is not whole cents is refused, not rounded", async () => {
    const bad = request("S-drift", { state: "searching", price: 0.1 + 0.2 });
    await assert.rejects(
      store.apply([save(bad)]),
      { name: "RangeError", message: /Cannot store price 0.30000000000000004/ },
    );
    assert.equal((await query(pg, url, `SELECT 1 FROM requests WHERE id = 'S-drift'`)).length, 0);
  });

  await t.step("text that is SQL, quotes or dollar tags is stored as text", async () => {
    const names = ["x'); DROP TABLE peers; --", "$q$ $$ $q0$", "Ünïcødé 🛒 \\ \" '", "cost$q"];
    const batch: Mutation[] = names.flatMap((name, i): Mutation[] => [
      {
        kind: "save",
        key: ["peer", name],
        value: {
          name,
          ip: name,
          udpPort: 9000 + i,
          tcpPort: 9100 + i,
          source: { hostname: "127.0.0.1", port: 9000 + i },
          registeredAt: T0,
        },
      },
      {
        kind: "save",
        key: ["listing", name, name.toLowerCase()],
        value: {
          seller: name,
          item: name,
          price: 1.5,
          quantity: 1,
          description: name,
          seq: 1,
          at: T0,
        },
      },
    ]);
    await kv.apply(batch);
    await store.apply(batch);
    assert.deepStrictEqual(await store.load(), await kv.load());
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "a batch applied twice leaves what applying it once does; the ledger sums in SQL",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using store = await openStore(pg, url);
  const { batches, marks } = marketBatches();
  const all = batches.flat();

  await t.step("the whole market twice, as one batch of its writes in order", async () => {
    await store.apply(all, marks);
    const once = { load: await store.load(), ledger: await store.ledger() };
    await store.apply(all, marks);
    assert.deepStrictEqual(await store.load(), once.load);
    assert.deepStrictEqual(await store.ledger(), once.ledger);
    const [entries] = await query(pg, url, `SELECT count(*)::int AS n FROM ledger_entries`);
    assert.equal(entries?.n, 3, "one row per transaction, none doubled");
  });

  await t.step("SELECT sum(fee) FROM ledger equals the ledger's fees", async () => {
    const [row] = await query(
      pg,
      url,
      `SELECT sum(fee)::text AS fees FROM ledger WHERE outcome = 'completed'`,
    );
    const cents = (await store.ledger()).filter((e) => e.outcome === "completed")
      .reduce((sum, e) => sum + Math.round(e.fee * 100), 0);
    assert.equal(row?.fees, (cents / 100).toFixed(2));
    assert.equal(row?.fees, "100000002.01");
  });

  await t.step("the ledger refuses UPDATE and DELETE", async () => {
    await assert.rejects(query(pg, url, `UPDATE ledger_entries SET fee = 0`), /append-only/);
    await assert.rejects(query(pg, url, `DELETE FROM ledger_entries`), /append-only/);
    await assert.rejects(
      store.apply([{ kind: "delete", key: ["ledger", "S2"] }]),
      { name: "TypeError", message: /Cannot delete ledger entry "S2": the ledger is append-only/ },
    );
  });

  await t.step(
    "an entry rewritten for a transaction is a new revision; ledger shows the latest",
    async () => {
      const [first] = (await store.ledger()).filter((e) => e.tx === "S2");
      assert.ok(first);
      const amended = {
        ...first,
        outcome: "cancelled" as const,
        fee: 0,
        sellerCredit: 0,
        reason: "refunded",
      };
      await store.apply([{ kind: "save", key: ["ledger", "S2"], value: amended }]);
      await store.apply([{ kind: "save", key: ["ledger", "S2"], value: amended }]);
      assert.deepStrictEqual((await store.ledger()).find((e) => e.tx === "S2"), amended);
      const rows = await query(
        pg,
        url,
        `SELECT revision, outcome FROM ledger_entries WHERE tx = 'S2' ORDER BY revision`,
      );
      assert.deepEqual(rows.map((r) => [r.revision, r.outcome]), [[1, "completed"], [
        2,
        "cancelled",
      ]]);
    },
  );
});

Deno.test({
  name: "a second search holding a held item fails its commit and changes nothing",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using store = await openStore(pg, url);
  await store.apply([save(request("R1"))]);
  const reservations = async () =>
    (await query(pg, url, `SELECT seller, item_key, request FROM reservations ORDER BY request`))
      .map((r) => `${r.seller}/${r.item_key}→${r.request}`);
  assert.deepEqual(await reservations(), ["s1/lamp→R1"]);

  await t.step("another search on the same seller's item, spelled otherwise", async () => {
    const peer: Mutation = {
      kind: "save",
      key: ["peer", "newcomer"],
      value: {
        name: "newcomer",
        ip: "127.0.0.1",
        udpPort: 1,
        tcpPort: 2,
        source: { hostname: "127.0.0.1", port: 1 },
        registeredAt: T0,
      },
    };
    await assert.rejects(
      store.apply([peer, save(request("R2", { item: "LAMP", state: "buying", tx: "T2" }))]),
      /Cannot reserve "lamp" of seller "s1" for search "R2": search "R1" holds it/,
    );
    assert.deepEqual([...(await store.load()).peers], [], "the batch's other write is not there");
    assert.deepEqual(await reservations(), ["s1/lamp→R1"]);
  });

  await t.step("two searches of one batch holding the same item", async () => {
    await assert.rejects(
      store.apply([save(request("R3", { seller: "s2" })), save(request("R4", { seller: "s2" }))]),
      /Cannot reserve "lamp" of seller "s2" for search "R4": search "R3" holds it/,
    );
    assert.deepEqual(await reservations(), ["s1/lamp→R1"]);
  });

  await t.step(
    "released and taken in one batch; ended, bought and deleted searches hold nothing",
    async () => {
      await store.apply([
        save(request("R1", { state: "cancelled", reason: "left" })),
        save(request("R2", { state: "found" })),
      ]);
      assert.deepEqual(await reservations(), ["s1/lamp→R2"]);
      await store.apply([save(request("R2", { state: "buying", tx: "T2" }))]);
      assert.deepEqual(await reservations(), ["s1/lamp→R2"], "found → buying keeps it");
      await store.apply([save(request("R2", { state: "bought", tx: "T2" }))]);
      assert.deepEqual(await reservations(), []);
      await store.apply([save(request("R5"))]);
      await store.apply([{ kind: "delete", key: ["request", "R5"] }]);
      assert.deepEqual(await reservations(), []);
    },
  );
});

Deno.test({
  name: "a server taken over from is fenced: its apply throws Fenced and writes nothing",
  ...PG,
}, async () => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using first = await openStore(pg, url);
  await using second = await openStore(pg, url);
  const mine = await first.claim({ holder: "first", leaseMs: 300 });
  assert.equal(mine.epoch, 1);
  await first.apply([save(request("R1", { state: "searching" }))]);
  await assert.rejects(second.claim({ holder: "second", leaseMs: 5_000 }), StoreBusy);
  const taken = await second.claim({ holder: "second", leaseMs: 5_000, wait: true });
  assert.equal(taken.epoch, 2);

  const error = await first.apply([save(request("R2", { state: "searching" }))]).then(
    () => undefined,
    (error) => error,
  );
  assert.ok(error instanceof Fenced, String(error));
  assert.match(
    error.message,
    /Another server \(second, epoch 2\) took over the store from this one \(epoch 1\)/,
  );
  assert.deepEqual([...(await second.load()).requests!].map((r) => r.id), ["R1"]);
  await assert.rejects(first.renew(), Fenced);
  await first.release(); // harmless: it no longer holds the store
  await second.apply([save(request("R3", { state: "searching" }))]);
  await second.renew();
});

Deno.test({
  name: "a standby waits while the lease runs and takes over when it runs out or is released",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using active = await openStore(pg, url);
  await using standby = await openStore(pg, url);
  await using third = await openStore(pg, url);

  await t.step("without renewal the lease runs out and the standby claims", async () => {
    const started = Date.now();
    await active.claim({ holder: "active", leaseMs: 800 });
    let waitedFor: string | undefined;
    const owner = await standby.claim({
      holder: "standby",
      leaseMs: 60_000,
      wait: true,
      onWaiting: (owner) => waitedFor = owner.holder,
    });
    const waited = Date.now() - started;
    assert.equal(waitedFor, "active");
    assert.equal(owner.epoch, 2);
    assert.ok(waited >= 700, `claimed after ${waited} ms, before the lease ran out`);
    assert.ok(waited < 3_000, `claimed after ${waited} ms`);
  });

  await t.step(
    "renewed, the lease keeps a standby waiting; released, it claims at once",
    async () => {
      const controller = new AbortController();
      const waiting = third.claim({
        holder: "third",
        leaseMs: 60_000,
        wait: true,
        signal: controller.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      await standby.renew();
      let claimed = false;
      void waiting.then(() => claimed = true, () => {});
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(claimed, false, "a 60 s lease still runs");
      const released = Date.now();
      await standby.release();
      const owner = await waiting;
      assert.equal(owner.holder, "third");
      assert.equal(owner.epoch, 3);
      assert.ok(Date.now() - released < 1_000);
    },
  );

  await t.step("a wait ends with its signal", async () => {
    const controller = new AbortController();
    const waiting = standby.claim({
      holder: "standby",
      leaseMs: 1_000,
      wait: true,
      signal: controller.signal,
    });
    controller.abort(new Error("stopped waiting"));
    await assert.rejects(waiting, /stopped waiting/);
  });
});

Deno.test({
  name: "migrations run once: two servers starting together, then a restart",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();

  await t.step("a database without the schema is not an existing store", async () => {
    await assert.rejects(
      PostgresStore.openExisting(url, { passwordFile: pg.passwordFile }),
      Deno.errors.NotFound,
    );
    const [row] = await query(pg, url, `SELECT to_regclass('peers') IS NULL AS absent`);
    assert.equal(row?.absent, true, "openExisting created nothing");
  });

  await t.step("two at once: one applies, the other finds it done", async () => {
    const stores = await Promise.all([openStore(pg, url), openStore(pg, url)]);
    for (const store of stores) await store[Symbol.asyncDispose]();
    const rows = await query(pg, url, `SELECT version, applied_at FROM schema_migrations`);
    assert.equal(rows.length, 1);
    await using again = await openStore(pg, url);
    const after = await again.migrations();
    assert.deepEqual(after.map((m) => [m.version, m.appliedAt.getTime()]), [
      [1, (rows[0]!.applied_at as Date).getTime()],
    ]);
    await using existing = await PostgresStore.openExisting(url, { passwordFile: pg.passwordFile });
    assert.deepEqual([...(await existing.load()).peers], []);
  });

  await t.step("a schema newer than this code is refused", async () => {
    await query(pg, url, `INSERT INTO schema_migrations (version, name) VALUES (99, 'future')`);
    await assert.rejects(openStore(pg, url), /schema version 99, newer than this shop knows \(1\)/);
  });
});

Deno.test({
  name:
    "the database killed mid-apply: the store reconnects after its restart and a retried batch lands once",
  ...PG,
}, async () => {
  await using pg = await startPostgres();
  const url = await pg.database();
  await using store = await openStore(pg, url);
  await using standby = await openStore(pg, url);
  await store.claim({ holder: "server", leaseMs: 60_000 });
  const { batches } = marketBatches();
  const [early, late] = [batches.slice(0, 10).flat(), batches.slice(10).flat()];
  await store.apply(early);

  // The apply blocks on a lock held elsewhere, so the kill lands while it runs.
  const blocker = pg.admin(new URL(url).pathname.slice(1));
  const holding = blocker.begin(async (tx) => {
    await tx`LOCK TABLE requests IN ACCESS EXCLUSIVE MODE`;
    await new Promise((resolve) => setTimeout(resolve, 60_000));
  }).catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 100));
  const applying = store.apply(late).then(() => "stored", (error) => error);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await pg.kill();
  const outcome = await applying;
  assert.ok(outcome instanceof Error, `the apply during the kill ended with ${outcome}`);
  await blocker.end({ timeout: 0 }).catch(() => {});
  await holding;

  // Down: applies fail (clearly) rather than hang; a standby keeps waiting.
  await assert.rejects(
    store.apply(late),
    /Cannot use the PostgreSQL store postgres:\/\/127\.0\.0\.1/,
  );
  const takeover = standby.claim({ holder: "standby", leaseMs: 60_000, wait: true });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await pg.resume();
  // The shell tries again every batch not reported stored, in order.
  await store.apply(early);
  await store.apply(late);
  await store.apply(late);
  await store.release();
  assert.equal((await takeover).epoch, 2, "the standby took over once the lease was released");
  const [entries] = await query(pg, url, `SELECT count(*)::int AS n FROM ledger_entries`);
  assert.equal(entries?.n, 3);
  const dir = await Deno.makeTempDir({ prefix: "shop-kv-" });
  await using kv = await KvStore.open(dir);
  for (const batch of batches) await kv.apply(batch);
  assert.deepStrictEqual(await store.load(), await kv.load());
  assert.deepStrictEqual(await store.ledger(), await kv.ledger());
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "applies called together land in the order called; one behind a failure is not applied",
  ...PG,
}, async () => {
  await using pg = await startPostgres();
  await using store = await openStore(pg);
  const versions = Array.from(
    { length: 20 },
    (_, i) => request("R1", { state: "searching", contacted: i }),
  );
  await Promise.all(versions.map((version) => store.apply([save(version)])));
  const contacted = async () =>
    [...(await store.load()).requests!].find((r) => r.id === "R1")?.contacted;
  assert.equal(await contacted(), 19);

  await store.apply([save(request("H1"))]);
  const conflict = store.apply([save(request("H2"))]);
  const behind = store.apply([save(request("R1", { state: "searching", contacted: 99 }))]);
  await assert.rejects(conflict, /Cannot reserve/);
  await assert.rejects(behind, /Not applied: the commit before it failed/);
  assert.equal(await contacted(), 19);
  await store.apply([save(request("R1", { state: "searching", contacted: 99 }))]);
  assert.equal(await contacted(), 99);
});

Deno.test({
  name: "credentials come from PGPASSWORD or a file, never the URL; where names no secret",
  ...PG,
}, async (t) => {
  await using pg = await startPostgres();
  const url = await pg.database();

  await t.step("a password in the URL is refused, and not repeated", async () => {
    for (
      const bad of [
        url.replace("postgres@", `postgres:${pg.password}@`),
        `${url}?password=${pg.password}`,
      ]
    ) {
      const error = await PostgresStore.open(bad).then(() => undefined, (e) => e);
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /set PGPASSWORD or use a password file/);
      assert.ok(!error.message.includes(pg.password), error.message);
    }
  });

  await t.step("PGPASSWORD", async () => {
    const before = Deno.env.get("PGPASSWORD");
    Deno.env.set("PGPASSWORD", pg.password);
    try {
      await using store = await PostgresStore.open(url);
      assert.equal(
        store.where,
        `postgres://127.0.0.1:${pg.port}/${new URL(url).pathname.slice(1)}`,
      );
    } finally {
      if (before === undefined) Deno.env.delete("PGPASSWORD");
      else Deno.env.set("PGPASSWORD", before);
    }
  });

  await t.step("a password file; a wrong one fails with where, not the password", async () => {
    await using store = await openStore(pg, url);
    assert.ok(!store.where.includes(pg.password));
    const wrong = join(pg.dir, "wrong-password");
    await Deno.writeTextFile(wrong, "not-it\n");
    const error = await PostgresStore.open(url, { passwordFile: wrong }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof Error);
    assert.match(
      error.message,
      new RegExp(`Cannot use the PostgreSQL store postgres://127\\.0\\.0\\.1:${pg.port}/`),
    );
    assert.match(error.message, /password authentication failed/);
  });
});

Deno.test({ name: "TLS to the database: sslmode require and verify-full", ...PG }, async (t) => {
  await using pg = await startPostgres({ tls: true });
  const url = await pg.database();
  const tlsOf = async () =>
    (await query(
      pg,
      url,
      `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
       WHERE a.application_name = 'shop server'`,
    )).map((r) => r.ssl);

  await t.step("require: encrypted", async () => {
    await using store = await openStore(pg, `${url}?sslmode=require`);
    await store.load();
    assert.deepEqual(await tlsOf(), [true]);
    assert.match(store.where, /\?sslmode=require$/);
  });

  await t.step("verify-full with the CA in sslrootcert, by host name", async () => {
    const named = url.replace("127.0.0.1", "localhost");
    await using store = await openStore(
      pg,
      `${named}?sslmode=verify-full&sslrootcert=${encodeURIComponent(pg.caFile)}`,
    );
    await store.load();
    assert.deepEqual(await tlsOf(), [true]);
  });

  await t.step("verify-full against the system's CAs refuses the test CA", async () => {
    await assert.rejects(
      openStore(pg, `${url}?sslmode=verify-full`),
      /Cannot use the PostgreSQL store .*(certificate|verify)/,
    );
  });

  await t.step("PGSSLROOTCERT names the CA when the URL does not", async () => {
    Deno.env.set("PGSSLROOTCERT", pg.caFile);
    try {
      await using store = await openStore(pg, `${url}?sslmode=verify-ca`);
      await store.load();
    } finally {
      Deno.env.delete("PGSSLROOTCERT");
    }
  });
});

Deno.test({
  name:
    "a multi-host URL with target_session_attrs=read-write reaches the writable one, after a failover too",
  ...PG,
}, async (t) => {
  // A read-only database stands for a standby (the roles are the same on each).
  await using first = await startPostgres();
  await using second = await startPostgres({ password: first.password });
  const url = await first.database("market");
  await second.database("market");
  const readOnly = async (pg: TestPostgres, on: boolean) => {
    const admin = pg.admin("postgres");
    await admin.unsafe(`ALTER DATABASE market SET default_transaction_read_only = ${on}`);
    await admin.end();
  };
  await readOnly(second, true);
  const dead = (() => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listener.close();
    return (listener.addr as Deno.NetAddr).port;
  })();
  const hosts = `127.0.0.1:${dead},127.0.0.1:${second.port},127.0.0.1:${first.port}`;
  const count = async (pg: TestPostgres) =>
    (await query(pg, url, `SELECT count(*)::int AS n FROM requests`))[0]?.n;
  await using store = await PostgresStore.open(
    `postgres://postgres@${hosts}/market?target_session_attrs=read-write`,
    { passwordFile: first.passwordFile },
  );

  await t.step("past a dead host and a read-only one to the writable", async () => {
    await store.apply([save(request("R1", { state: "searching" }))]);
    assert.equal(store.where, `postgres://${hosts}/market?target_session_attrs=read-write`);
    assert.equal(await count(first), 1);
    const [absent] = await query(second, url, `SELECT to_regclass('requests') IS NULL AS absent`);
    assert.equal(absent?.absent, true);
  });

  await t.step(
    "the primary turns read-only, another is promoted: the next commit reaches it",
    async () => {
      // The promoted one has the schema, as a replica would.
      await readOnly(second, false);
      await (await openStore(second, `postgres://postgres@127.0.0.1:${second.port}/market`))
        [Symbol.asyncDispose]();
      // The old primary, demoted: every session read-only from now on.
      const admin = first.admin("market");
      await admin.unsafe(`ALTER SYSTEM SET default_transaction_read_only = on`);
      await admin.unsafe(`SELECT pg_reload_conf()`);
      await admin.end();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await assert.rejects(
        store.apply([save(request("R2", { state: "searching" }))]),
        /read-only transaction/,
      );
      await store.apply([save(request("R2", { state: "searching" }))]);
      assert.equal(await count(second), 1);
      assert.equal(await count(first), 1);
    },
  );
});
