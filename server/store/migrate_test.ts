/**
 * Moving a market between stores: Deno KV to PostgreSQL and back, checked
 * record for record; refusals (a store in use, a target with records or
 * another key); a difference found.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Identity, StoredIdentity } from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import type { LedgerEntry, Mutation, Snapshot } from "../records.ts";
import { KvStore } from "./kv_store.ts";
import { copyStore, type IdentityImporter, verifyCopy } from "./migrate.ts";
import { PostgresStore } from "./postgres_store.ts";
import { type ClaimOptions, type Owner, type ServerStore, StoreBusy } from "./store.ts";
import { requirePostgres, startPostgres, type TestPostgres } from "./_test_postgres.ts";
import { marketBatches } from "./_test_market.ts";

/**
 * A KvStore that takes a copied key, as `KvStore.importIdentity` would
 * (proposed): the pair under `["identity"]` unless one is there.
 */
class KvWithImport implements ServerStore, IdentityImporter {
  readonly #store: KvStore;
  readonly #path: string;

  private constructor(store: KvStore, path: string) {
    this.#store = store;
    this.#path = path;
  }

  static async open(dir: string): Promise<KvWithImport> {
    return new KvWithImport(await KvStore.open(dir), join(dir, "server.kv"));
  }

  get where(): string {
    return this.#store.where;
  }
  claim(options: ClaimOptions): Promise<Owner> {
    return this.#store.claim(options);
  }
  renew(): Promise<void> {
    return this.#store.renew();
  }
  release(): Promise<void> {
    return this.#store.release();
  }
  load(): Promise<Snapshot> {
    return this.#store.load();
  }
  identity(): Promise<{ identity: Identity; created: boolean }> {
    return this.#store.identity();
  }
  marks(): Promise<[string, SessionMark][]> {
    return this.#store.marks();
  }
  ledger(): Promise<LedgerEntry[]> {
    return this.#store.ledger();
  }
  apply(
    mutations: readonly Mutation[],
    marks?: readonly (readonly [name: string, mark: SessionMark])[],
  ): Promise<void> {
    return this.#store.apply(mutations, marks);
  }

  async importIdentity(stored: StoredIdentity): Promise<"stored" | "same"> {
    const kv = await Deno.openKv(this.#path);
    try {
      const result = await kv.atomic().check({ key: ["identity"], versionstamp: null })
        .set(["identity"], stored).commit();
      if (result.ok) return "stored";
      const present = await kv.get<StoredIdentity>(["identity"]);
      if (present.value?.publicJwk.x === stored.publicJwk.x) return "same";
      throw new Error(`Cannot copy the server key into ${this.where}: it has another`);
    } finally {
      kv.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#store[Symbol.asyncDispose]();
  }
}

async function filledKv(dir: string): Promise<KvWithImport> {
  const kv = await KvWithImport.open(dir);
  const { batches, marks } = marketBatches();
  for (const batch of batches) await kv.apply(batch);
  await kv.apply([], marks);
  await kv.identity();
  return kv;
}

async function openPg(pg: TestPostgres): Promise<PostgresStore> {
  return await PostgresStore.open(await pg.database(), { passwordFile: pg.passwordFile });
}

Deno.test({
  name: "a market moves from Deno KV to PostgreSQL and back without loss",
  ...requirePostgres(),
}, async (t) => {
  await using pg = await startPostgres();
  const dir = await Deno.makeTempDir({ prefix: "shop-migrate-" });
  await using source = await filledKv(join(dir, "a"));
  await using middle = await openPg(pg);
  await using back = await KvWithImport.open(join(dir, "b"));

  await t.step("to PostgreSQL: every record, the ledger, the marks and the key", async () => {
    const copied = await copyStore(source, middle);
    const expected = await source.load();
    assert.deepEqual(copied, {
      peers: [...expected.peers].length,
      requests: [...expected.requests!].length,
      offers: [...expected.offers!].length,
      listings: [...expected.listings!].length,
      ledger: 3,
      marks: 2,
      identity: true,
    });
    const check = await verifyCopy(source, middle);
    assert.deepEqual(check.differences, []);
    assert.equal(check.same, true);
    assert.equal(
      (await middle.identity()).identity.publicText,
      (await source.identity()).identity.publicText,
    );
  });

  await t.step("and back to a new Deno KV: what the first held, exactly", async () => {
    await copyStore(middle, back);
    assert.equal((await verifyCopy(middle, back)).same, true);
    assert.deepStrictEqual(await back.load(), await source.load());
    assert.deepStrictEqual(await back.ledger(), await source.ledger());
    assert.deepStrictEqual(await back.marks(), await source.marks());
    assert.equal(
      (await back.identity()).identity.publicText,
      (await source.identity()).identity.publicText,
    );
  });

  await t.step("the copy released both stores: a server claims them at once", async () => {
    await source.claim({ holder: "server", leaseMs: 1_000 });
    await middle.claim({ holder: "server", leaseMs: 1_000 });
    await source.release();
    await middle.release();
  });

  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "a copy refuses a store in use, a target with records or another key",
  ...requirePostgres(),
}, async (t) => {
  await using pg = await startPostgres();
  const dir = await Deno.makeTempDir({ prefix: "shop-migrate-" });
  await using source = await filledKv(join(dir, "a"));
  await using target = await openPg(pg);

  await t.step("a server holds the source", async () => {
    await source.claim({ holder: "the running server", leaseMs: 60_000 });
    await assert.rejects(copyStore(source, target), StoreBusy);
    await source.release();
  });

  await t.step("the target holds records: refused, unless overwrite", async () => {
    const [first] = marketBatches().batches;
    await target.apply(first!);
    await assert.rejects(
      copyStore(source, target),
      /Cannot copy into postgres:\/\/.*: it holds 1 peer; copy into an empty store, or overwrite it/,
    );
    await copyStore(source, target, { overwrite: true });
    assert.equal((await verifyCopy(source, target)).same, true);
  });

  await t.step("a difference is found and named", async () => {
    const [peer] = [...(await target.load()).peers];
    assert.ok(peer);
    await target.apply([{
      kind: "save",
      key: ["peer", peer.name],
      value: { ...peer, tcpPort: 1 },
    }]);
    await target.apply([{ kind: "delete", key: ["request", "S1"] }]);
    const check = await verifyCopy(source, target);
    assert.equal(check.same, false);
    assert.equal(check.to.requests, check.from.requests - 1);
    assert.ok(check.differences.some((line) => line.startsWith(`peers ["${peer.name}"]: differs`)));
    assert.ok(check.differences.includes(`requests ["S1"]: missing from ${target.where}`));
  });

  await t.step("a target with another server key", async () => {
    await using other = await KvWithImport.open(join(dir, "c"));
    await other.identity();
    await assert.rejects(
      copyStore(target, other),
      /Cannot copy the server key into .*: it has another/,
    );
    assert.deepEqual([...(await other.load()).peers], [], "nothing copied");
  });

  await Deno.remove(dir, { recursive: true });
});
