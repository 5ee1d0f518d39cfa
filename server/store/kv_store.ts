/**
 * The server's durable state in Deno KV, the embedded default: one file,
 * `<data>/server.kv` (or a remote Deno KV). The machine's writes are
 * applied in atomic commits; on start the records are read back into a
 * snapshot.
 *
 * Fencing: `["owner", "epoch"]` changes only when a server claims the
 * store, and every commit checks its versionstamp, so a server that was
 * taken over from writes nothing more. `["owner", "lease"]` is renewed by
 * the holder; a standby claims the store once it has run out.
 *
 * @module
 */
import { join } from "node:path";
import { prepareDataDir } from "../../shell/data_dir.ts";
import {
  createIdentity,
  type Identity,
  loadIdentity,
  type StoredIdentity,
} from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import type {
  LedgerEntry,
  ListingRecord,
  Mutation,
  OfferRecord,
  RegisteredPeer,
  RequestRecord,
  Snapshot,
} from "../records.ts";
import { type ClaimOptions, Fenced, type Owner, type ServerStore, StoreBusy } from "./store.ts";
import { abortableSleep } from "./_sleep.ts";

const IDENTITY = ["identity"];
const EPOCH = ["owner", "epoch"];
const LEASE = ["owner", "lease"];
/** How often a waiting standby looks at the lease. */
const STANDBY_POLL_MS = 250;
/** Deno KV's most mutations and checks in one atomic commit. */
const MAX_OPERATIONS = 1000;
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
export class KvStore implements ServerStore {
  readonly #kv: Deno.Kv;
  readonly where: string;
  /** The epoch record's versionstamp when this store claimed it. */
  #claimed: { epoch: number; stamp: string; holder: string; leaseMs: number } | undefined;

  private constructor(kv: Deno.Kv, where: string) {
    this.#kv = kv;
    this.where = where;
  }

  /**
   * Opens (creating if needed) the store of a data directory.
   *
   * @param dataDir The directory that holds `server.kv`.
   */
  static async open(dataDir: string, kv?: string): Promise<KvStore> {
    // The KV file holds the private key: private whatever the caller's umask.
    await prepareDataDir(dataDir);
    const where = kv ?? serverKvPath(dataDir);
    return new KvStore(await Deno.openKv(where), where);
  }

  /**
   * Opens an existing store without creating anything.
   *
   * @throws {Deno.errors.NotFound} If the directory has no `server.kv`.
   */
  static async openExisting(dataDir: string, kv?: string): Promise<KvStore> {
    if (kv && isRemote(kv)) return new KvStore(await Deno.openKv(kv), kv);
    const path = kv ?? serverKvPath(dataDir);
    await Deno.stat(path);
    return new KvStore(await Deno.openKv(path), path);
  }

  async claim(options: ClaimOptions): Promise<Owner> {
    let told = false;
    for (;;) {
      options.signal?.throwIfAborted();
      const [epoch, lease] = await this.#kv.getMany<[Owner, Owner]>([EPOCH, LEASE]);
      const now = Date.now();
      const current = lease.value;
      if (
        current && current.until > now && current.epoch === epoch.value?.epoch &&
        !options.gone?.(current)
      ) {
        if (!options.wait) throw new StoreBusy(current);
        if (!told) options.onWaiting?.(current);
        told = true;
        await abortableSleep(Math.min(STANDBY_POLL_MS, current.until - now + 1), options.signal);
        continue;
      }
      const owner: Owner = {
        epoch: (epoch.value?.epoch ?? 0) + 1,
        holder: options.holder,
        until: now + options.leaseMs,
      };
      const result = await this.#kv.atomic()
        .check(epoch).check(lease)
        .set(EPOCH, owner).set(LEASE, owner)
        .commit();
      if (!result.ok) continue; // another standby moved first: look again
      this.#claimed = {
        epoch: owner.epoch,
        stamp: result.versionstamp,
        holder: options.holder,
        leaseMs: options.leaseMs,
      };
      return owner;
    }
  }

  async renew(): Promise<void> {
    const claimed = this.#claimed;
    if (!claimed) return;
    const until = Date.now() + claimed.leaseMs;
    const result = await this.#kv.atomic()
      .check({ key: EPOCH, versionstamp: claimed.stamp })
      .set(LEASE, { epoch: claimed.epoch, holder: claimed.holder, until } satisfies Owner)
      .commit();
    if (!result.ok) throw await this.#fenced();
  }

  async release(): Promise<void> {
    const claimed = this.#claimed;
    if (!claimed) return;
    this.#claimed = undefined;
    await this.#kv.atomic()
      .check({ key: EPOCH, versionstamp: claimed.stamp })
      .set(LEASE, { epoch: claimed.epoch, holder: claimed.holder, until: 0 } satisfies Owner)
      .commit();
  }

  /** The error for a commit refused by the epoch check: fenced, or (rarely) a plain rejection. */
  async #fenced(): Promise<Error> {
    const claimed = this.#claimed!;
    const epoch = await this.#kv.get<Owner>(EPOCH);
    if (epoch.versionstamp === claimed.stamp) return new Error("The KV commit was rejected");
    return new Fenced(claimed.epoch, epoch.value ?? undefined);
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

  /** The stored key pair, or `undefined` if none is (nothing is made). */
  async storedIdentity(): Promise<StoredIdentity | undefined> {
    return (await this.#kv.get<StoredIdentity>(IDENTITY)).value ?? undefined;
  }

  /**
   * Stores a key pair copied from another store, unless one is stored.
   *
   * @returns `"stored"`, or `"same"` if this pair was stored already.
   * @throws {Error} If another pair is stored: peers know the server by it.
   */
  async importIdentity(stored: StoredIdentity): Promise<"stored" | "same"> {
    const result = await this.#kv.atomic().check({ key: IDENTITY, versionstamp: null })
      .set(IDENTITY, stored).commit();
    if (result.ok) return "stored";
    const present = await this.storedIdentity();
    if (
      present &&
      (await loadIdentity(present)).publicText === (await loadIdentity(stored)).publicText
    ) return "same";
    throw new Error(
      `Cannot copy the server key into ${this.where}: it has another, which peers may know the server by`,
    );
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
  async apply(
    mutations: readonly Mutation[],
    marks: readonly (readonly [name: string, mark: SessionMark])[] = [],
  ): Promise<void> {
    if (mutations.length === 0 && marks.length === 0) return;
    let deletes = 0;
    for (const mutation of mutations) {
      if (mutation.kind === "delete" && mutation.key[0] === "peer") deletes++;
    }
    let rest = marks;
    // Marks only refuse replays: stored ahead in commits of their own when
    // they would not fit beside the mutations, which stay one commit.
    while (rest.length > 0 && rest.length + mutations.length + deletes > MAX_OPERATIONS) {
      await this.#commit([], rest.slice(0, MAX_OPERATIONS));
      rest = rest.slice(MAX_OPERATIONS);
    }
    await this.#commit(mutations, rest);
  }

  async #commit(
    mutations: readonly Mutation[],
    marks: readonly (readonly [name: string, mark: SessionMark])[],
  ): Promise<void> {
    const op = this.#kv.atomic();
    const claimed = this.#claimed;
    if (claimed) op.check({ key: EPOCH, versionstamp: claimed.stamp });
    for (const [name, mark] of marks) op.set([MARK, name], mark);
    for (const mutation of mutations) {
      if (mutation.kind === "save") op.set(mutation.key, mutation.value);
      else op.delete(mutation.key);
      // A departed peer's mark goes with it.
      if (mutation.kind === "delete" && mutation.key[0] === "peer") {
        op.delete([MARK, mutation.key[1]]);
      }
    }
    const result = await op.commit();
    if (!result.ok) throw claimed ? await this.#fenced() : new Error("The KV commit was rejected");
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#kv.close();
    return Promise.resolve();
  }
}
