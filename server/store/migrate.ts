/**
 * Moves a market from one store to another without loss (Deno KV to
 * PostgreSQL and back): every record, the ledger, the replay marks and the
 * server's key, then a check that the two hold the same.
 *
 * Both stores are claimed for the copy, so it refuses to run beside a
 * server on either (start it after). The copy is a series of commits, not
 * one: if it stops half way, run it again with `overwrite` (every write
 * is by key, and a ledger entry stored already is not stored twice).
 *
 * @module
 */
import { hostname } from "node:os";
import { isDeepStrictEqual } from "node:util";
import { type Identity, loadIdentity, type StoredIdentity } from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import { itemKey } from "../offer_book.ts";
import type { LedgerEntry, Mutation, Snapshot } from "../records.ts";
import type { ServerStore } from "./store.ts";

/** A store that can take a server key copied from another. */
export interface IdentityImporter {
  /**
   * Stores the key pair unless one is stored.
   *
   * @returns `"stored"`, or `"same"` if this pair was stored already.
   * @throws {Error} If another pair is stored.
   */
  importIdentity(stored: StoredIdentity): Promise<"stored" | "same">;
}

/** A store that can show its key pair without making one. */
export interface IdentityExporter {
  /** The stored key pair, or `undefined` if none is. */
  storedIdentity(): Promise<StoredIdentity | undefined>;
}

/** Options of {@linkcode copyStore}. */
export interface CopyOptions {
  /**
   * Copy into a store that holds records already, writing over them key by
   * key (nothing there is deleted); by default such a target is refused.
   */
  readonly overwrite?: boolean;
  /** Who copies, shown to a server that finds a store claimed (default: this host and pid). */
  readonly holder?: string;
  /** Records per commit (default 500; Deno KV takes at most 1000 writes in one). */
  readonly batchSize?: number;
  /** How long the claims on both stores last unless renewed (default 60 s; renewed per commit). */
  readonly leaseMs?: number;
  readonly signal?: AbortSignal;
}

/** How many of each were copied (or, from {@linkcode verifyCopy}, are in a store). */
export interface StoreCounts {
  peers: number;
  requests: number;
  offers: number;
  listings: number;
  ledger: number;
  marks: number;
  /** Whether the server's key is there (copied, or already the same). */
  identity: boolean;
}

/** What {@linkcode verifyCopy} found. */
export interface CopyCheck {
  /** Whether the target holds exactly what the source does. */
  readonly same: boolean;
  readonly from: StoreCounts;
  readonly to: StoreCounts;
  /** The differences, one line each (at most 20). */
  readonly differences: string[];
}

const MAX_DIFFERENCES = 20;

/** What a store holds, one and many. */
const NOUNS: Record<string, [string, string]> = {
  peers: ["peer", "peers"],
  requests: ["search", "searches"],
  offers: ["offer", "offers"],
  listings: ["listing", "listings"],
  ledger: ["ledger entry", "ledger entries"],
  marks: ["replay mark", "replay marks"],
};

/**
 * Copies every record, ledger entry, replay mark and the server key from
 * one store to another.
 *
 * @returns What was copied.
 * @throws {StoreBusy} If a server holds either store.
 * @throws {Error} If the target holds records and `overwrite` is not set,
 *   if it holds another server key, or if it cannot take a copied key.
 * @example
 * ```ts
 * await using from = await KvStore.openExisting("shop-data");
 * await using to = await PostgresStore.open("postgres://shop@db/shop");
 * await copyStore(from, to);
 * const check = await verifyCopy(from, to);
 * if (!check.same) console.error(check.differences.join("\n"));
 * ```
 */
export async function copyStore(
  from: ServerStore,
  to: ServerStore,
  options: CopyOptions = {},
): Promise<StoreCounts> {
  const holder = options.holder ?? `shop server migrate on ${hostname()} (pid ${Deno.pid})`;
  const leaseMs = options.leaseMs ?? 60_000;
  const batchSize = options.batchSize ?? 500;
  const signal = options.signal;
  if (!canImportIdentity(to)) {
    throw new TypeError(
      `Cannot copy into ${to.where}: that store cannot take the server key of another (it has no importIdentity)`,
    );
  }
  await from.claim({ holder, leaseMs });
  try {
    await to.claim({ holder, leaseMs });
    try {
      const [snapshot, ledger, marks] = await Promise.all([
        from.load(),
        from.ledger(),
        from.marks(),
      ]);
      if (!options.overwrite) await refuseUnlessEmpty(to);
      signal?.throwIfAborted();
      const key = await exportIdentity(from);
      await to.importIdentity(key);
      const records = snapshotMutations(snapshot);
      const ledgerSaves: Mutation[] = ledger.map((entry) => ({
        kind: "save",
        key: ["ledger", entry.tx],
        value: entry,
      }));
      for (const batch of chunks([...records.mutations, ...ledgerSaves], batchSize)) {
        signal?.throwIfAborted();
        await to.apply(batch);
        await Promise.all([from.renew(), to.renew()]);
      }
      for (const batch of chunks(marks, batchSize)) {
        signal?.throwIfAborted();
        await to.apply([], batch);
      }
      return { ...records.counts, ledger: ledger.length, marks: marks.length, identity: true };
    } finally {
      await to.release();
    }
  } finally {
    await from.release();
  }
}

/**
 * Compares two stores: the same records, ledger, marks and server key.
 * It only reads, except that a store that cannot show its key without
 * making one (Deno KV today) makes one if it has none.
 */
export async function verifyCopy(from: ServerStore, to: ServerStore): Promise<CopyCheck> {
  const [a, b] = await Promise.all([contents(from), contents(to)]);
  const differences: string[] = [];
  const note = (line: string) => {
    if (differences.length < MAX_DIFFERENCES) differences.push(line);
  };
  for (const kind of ["peers", "requests", "offers", "listings", "ledger", "marks"] as const) {
    const left = a.records[kind];
    const right = b.records[kind];
    for (const [key, value] of left) {
      if (!right.has(key)) note(`${kind} ${key}: missing from ${to.where}`);
      else if (!isDeepStrictEqual(value, right.get(key))) {
        note(
          `${kind} ${key}: differs: ${show(value)} in ${from.where}, ${
            show(right.get(key))
          } in ${to.where}`,
        );
      }
    }
    for (const key of right.keys()) {
      if (!left.has(key)) note(`${kind} ${key}: only in ${to.where}`);
    }
  }
  if (a.key !== b.key) {
    note(`server key: ${a.key ?? "none"} in ${from.where}, ${b.key ?? "none"} in ${to.where}`);
  }
  return {
    same: differences.length === 0 && a.key !== undefined && a.key === b.key,
    from: a.counts,
    to: b.counts,
    differences,
  };
}

/** Whether a store can take a copied server key. */
export function canImportIdentity(store: ServerStore): store is ServerStore & IdentityImporter {
  return typeof (store as Partial<IdentityImporter>).importIdentity === "function";
}

function canExportIdentity(store: ServerStore): store is ServerStore & IdentityExporter {
  return typeof (store as Partial<IdentityExporter>).storedIdentity === "function";
}

/** The source's key pair as stored (one made now if it has none yet: a store never started). */
async function exportIdentity(store: ServerStore): Promise<StoredIdentity> {
  const stored = canExportIdentity(store) ? await store.storedIdentity() : undefined;
  if (stored) return stored;
  return await storedForm((await store.identity()).identity);
}

/** A loaded identity as its stored JWK pair (the keys are extractable). */
async function storedForm(identity: Identity): Promise<StoredIdentity> {
  return {
    publicJwk: await crypto.subtle.exportKey("jwk", identity.publicKey),
    privateJwk: await crypto.subtle.exportKey("jwk", identity.privateKey),
  };
}

async function refuseUnlessEmpty(store: ServerStore): Promise<void> {
  // Not the key: a store that cannot show it without making one would make one.
  const { counts } = await contents(store, { key: false });
  const held = Object.entries(counts)
    .filter(([kind, count]) => kind !== "identity" && count !== 0)
    .map(([kind, count]) => `${count} ${NOUNS[kind]![count === 1 ? 0 : 1]}`);
  if (held.length > 0) {
    throw new Error(
      `Cannot copy into ${store.where}: it holds ${
        held.join(", ")
      }; copy into an empty store, or overwrite it key by key`,
    );
  }
}

/** The saves that rebuild a snapshot, and how many of each. */
function snapshotMutations(snapshot: Snapshot) {
  const mutations: Mutation[] = [];
  const counts = { peers: 0, requests: 0, offers: 0, listings: 0 };
  for (const value of snapshot.peers) {
    mutations.push({ kind: "save", key: ["peer", value.name], value });
    counts.peers++;
  }
  for (const value of snapshot.requests ?? []) {
    mutations.push({ kind: "save", key: ["request", value.id], value });
    counts.requests++;
  }
  for (const value of snapshot.offers ?? []) {
    mutations.push({ kind: "save", key: ["offer", value.request, value.seller], value });
    counts.offers++;
  }
  for (const value of snapshot.listings ?? []) {
    mutations.push({ kind: "save", key: ["listing", value.seller, itemKey(value.item)], value });
    counts.listings++;
  }
  return { mutations, counts };
}

interface Contents {
  readonly records: Record<
    "peers" | "requests" | "offers" | "listings" | "ledger" | "marks",
    Map<string, unknown>
  >;
  readonly counts: StoreCounts;
  /** The public key, if one is stored (or, for a store that cannot tell, made). */
  readonly key: string | undefined;
}

async function contents(store: ServerStore, options = { key: true }): Promise<Contents> {
  const [snapshot, ledger, marks] = await Promise.all([
    store.load(),
    store.ledger(),
    store.marks(),
  ]);
  const byKey = <T>(values: Iterable<T> | undefined, key: (value: T) => string[]) =>
    new Map([...values ?? []].map((value) => [JSON.stringify(key(value)), value as unknown]));
  const records = {
    peers: byKey(snapshot.peers, (p) => [p.name]),
    requests: byKey(snapshot.requests, (r) => [r.id]),
    offers: byKey(snapshot.offers, (o) => [o.request, o.seller]),
    listings: byKey(snapshot.listings, (l) => [l.seller, itemKey(l.item)]),
    ledger: byKey<LedgerEntry>(ledger, (e) => [e.tx]),
    marks: byKey<[string, SessionMark]>(marks, ([name]) => [name]),
  };
  let key: string | undefined;
  if (!options.key) key = undefined;
  else if (canExportIdentity(store)) {
    const stored = await store.storedIdentity();
    key = stored ? (await loadIdentity(stored)).publicText : undefined;
  } else {
    key = (await store.identity()).identity.publicText;
  }
  const counts: StoreCounts = {
    peers: records.peers.size,
    requests: records.requests.size,
    offers: records.offers.size,
    listings: records.listings.size,
    ledger: records.ledger.size,
    marks: records.marks.size,
    identity: key !== undefined,
  };
  return { records, counts, key };
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
