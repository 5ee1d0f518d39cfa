/**
 * The server's durable state in Deno KV: one file, `<data>/server.kv`,
 * owned by one server process. The machine's writes are applied in
 * atomic commits (`shell/kv_apply.ts`); on start the records are read back into a snapshot.
 *
 * @module
 */
import { join } from "node:path";
import { prepareDataDir } from "../shell/data_dir.ts";
import {
  createIdentity,
  type Identity,
  loadIdentity,
  type StoredIdentity,
} from "../security/identity.ts";
import type { SessionMark } from "./guard.ts";
import { applyWrites } from "../shell/kv_apply.ts";
import type { KeyedRecord, Write } from "../protocol/effects.ts";
import type {
  LedgerEntry,
  ListingRecord,
  Mutation,
  OfferRecord,
  RegisteredPeer,
  RequestRecord,
  Snapshot,
} from "./market.ts";

const IDENTITY = ["identity"];
/** The key prefix of the sessions' replay marks (see {@linkcode Guard.takeMarks}). */
const MARK = "mark";

/** The KV file of a server's data directory. */
export function serverKvPath(dataDir: string): string {
  return join(dataDir, "server.kv");
}

/** Whether a `--kv` value names a remote database (KV Connect) rather than a file. */
export function isRemote(kv: string): boolean {
  return /^https?:\/\//.test(kv);
}

/** The server's KV store. */
export class ServerStore implements AsyncDisposable {
  readonly #kv: Deno.Kv;

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /**
   * Opens (creating if needed) the store of a data directory.
   *
   * @param dataDir The directory that holds `server.kv`.
   */
  static async open(dataDir: string, kv?: string): Promise<ServerStore> {
    // The KV file holds the private key: private whatever the caller's umask.
    await prepareDataDir(dataDir);
    return new ServerStore(await Deno.openKv(kv ?? serverKvPath(dataDir)));
  }

  /**
   * Opens an existing store without creating anything.
   *
   * @throws {Deno.errors.NotFound} If the directory has no `server.kv`.
   */
  static async openExisting(dataDir: string, kv?: string): Promise<ServerStore> {
    if (kv && isRemote(kv)) return new ServerStore(await Deno.openKv(kv));
    const path = kv ?? serverKvPath(dataDir);
    await Deno.stat(path);
    return new ServerStore(await Deno.openKv(path));
  }

  /** Reads every stored record into a snapshot for a new machine. */
  async load(): Promise<Snapshot> {
    return {
      peers: await this.#all<RegisteredPeer>("peer"),
      requests: await this.#all<RequestRecord>("request"),
      offers: await this.#all<OfferRecord>("offer"),
      listings: await this.#all<ListingRecord>("listing"),
    };
  }

  /**
   * The server's identity key pair, made on first use (the first start, or
   * `shop server key` before it) and kept in KV; the private half never
   * leaves this store. A new pair is stored only if none is, in one atomic
   * commit, so a server and `shop server key` that race on a new store end
   * up with the same key.
   *
   * @returns The identity, and whether this call made it.
   */
  async identity(): Promise<{ identity: Identity; created: boolean }> {
    const stored = await this.#kv.get<StoredIdentity>(IDENTITY);
    if (stored.value) return { identity: await loadIdentity(stored.value), created: false };
    const made = await createIdentity();
    const result = await this.#kv.atomic().check({ key: IDENTITY, versionstamp: null })
      .set(IDENTITY, made.stored).commit();
    if (result.ok) return { identity: made.identity, created: true };
    // Another process stored one meanwhile: the stored one wins.
    const winner = await this.#kv.get<StoredIdentity>(IDENTITY);
    if (!winner.value) throw new Error("The server key changed while it was being read");
    return { identity: await loadIdentity(winner.value), created: false };
  }

  /** The sessions' replay marks stored before this start, by peer name. */
  async marks(): Promise<[string, SessionMark][]> {
    const marks: [string, SessionMark][] = [];
    for await (const entry of this.#kv.list<SessionMark>({ prefix: [MARK] })) {
      marks.push([String(entry.key[1]), entry.value]);
    }
    return marks;
  }

  /** Every ledger entry. */
  ledger(): Promise<LedgerEntry[]> {
    return this.#all<LedgerEntry>("ledger");
  }

  async #all<T>(kind: string): Promise<T[]> {
    const values: T[] = [];
    for await (const entry of this.#kv.list<T>({ prefix: [kind] }, { batchSize: 1000 })) {
      values.push(entry.value);
    }
    return values;
  }

  /**
   * Applies mutations in one atomic commit.
   *
   * @throws {Error} If the commit fails; nothing was written then.
   */
  apply(
    mutations: readonly Mutation[],
    marks: readonly (readonly [name: string, mark: SessionMark])[] = [],
  ): Promise<void> {
    const writes: Write<KeyedRecord>[] = [];
    for (const [name, mark] of marks) writes.push({ kind: "save", key: [MARK, name], value: mark });
    for (const mutation of mutations) {
      writes.push(mutation);
      // A departed peer's mark goes with it.
      if (mutation.kind === "delete" && mutation.key[0] === "peer") {
        writes.push({ kind: "delete", key: [MARK, mutation.key[1]] });
      }
    }
    return applyWrites(this.#kv, writes);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#kv.close();
    return Promise.resolve();
  }
}
