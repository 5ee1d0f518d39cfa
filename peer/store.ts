/**
 * The peer's durable state in Deno KV: `<data>/<name>.kv`, owned by one
 * peer process. Records (see {@linkcode AgentRecord}): `["registration"]`,
 * `["settings"]`, `["item", lowerCaseName]`, `["request", rq]`,
 * `["negotiation", rq]` and `["history", tx]` (a completed sale or purchase,
 * by the RQ# of its transaction). The shell keeps `["ports"]`, and the
 * security material: `["identity"]` (this peer's key pair), `["server-key",
 * server]` (the key pinned for a server address) and `["session"]` (the MAC
 * keys of the last authenticated registration). Payment details are never
 * stored.
 *
 * @module
 */
import { join } from "node:path";
import { prepareDataDir } from "../shell/data_dir.ts";
import type { Write } from "../protocol/effects.ts";
import { applyWrites } from "../shell/kv_apply.ts";
import type { SessionKeys } from "../security/channel.ts";
import type { StoredIdentity } from "../security/identity.ts";
import type {
  AgentKey,
  AgentRecord,
  BuyRequest,
  HistoryEntry,
  InventoryItem,
  KeyInfo,
  NegotiationRecord,
  PeerSnapshot,
  RegistrationRecord,
  SettingsRecord,
} from "./agent.ts";

/** The KV file of a peer. */
export function peerKvPath(dataDir: string, name: string): string {
  return join(dataDir, `${name}.kv`);
}

/** A server key pinned on the first authenticated registration with it. */
export interface PinnedKey extends KeyInfo {
  readonly pinnedAt: number;
}

/** The MAC keys of an authenticated registration, so a restart keeps talking. */
export interface StoredSession {
  /** The server's address, `host:port`. */
  readonly server: string;
  /** The server key that signed the registration. */
  readonly serverKey: string;
  readonly keys: SessionKeys;
}

/** One write of {@linkcode PeerStore.apply}: a record to set, or a key to delete. */
export type PeerWrite = Write<AgentRecord>;

/** A peer's KV store. */
export class PeerStore implements AsyncDisposable {
  readonly #kv: Deno.Kv;

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Opens (creating if needed) the store of peer `name` in `dataDir`. */
  static async open(dataDir: string, name: string): Promise<PeerStore> {
    // The KV file holds the private key: private whatever the caller's umask.
    await prepareDataDir(dataDir);
    return new PeerStore(await Deno.openKv(peerKvPath(dataDir, name)));
  }

  /** Reads the stored state for a new agent. */
  async load(): Promise<PeerSnapshot> {
    const [registration, settings] = await this.#kv.getMany<[RegistrationRecord, SettingsRecord]>(
      [["registration"], ["settings"]],
    );
    return {
      registration: registration.value ?? undefined,
      settings: settings.value ?? undefined,
      items: await this.#all<InventoryItem>("item"),
      requests: await this.#all<BuyRequest>("request"),
      negotiations: await this.#all<NegotiationRecord>("negotiation"),
      history: await this.#all<HistoryEntry>("history"),
    };
  }

  async #all<T>(kind: string): Promise<T[]> {
    const values: T[] = [];
    for await (const entry of this.#kv.list<T>({ prefix: [kind] }, { batchSize: 1000 })) {
      values.push(entry.value);
    }
    return values;
  }

  /** The ports this peer last listened on, to come back on them. */
  async ports(): Promise<{ udp: number; tcp: number } | undefined> {
    return (await this.#kv.get<{ udp: number; tcp: number }>(["ports"])).value ?? undefined;
  }

  /** Remembers the ports this peer listens on. */
  async savePorts(ports: { udp: number; tcp: number }): Promise<void> {
    await this.#kv.set(["ports"], ports);
  }

  /** This peer's key pair, if made already. */
  async identity(): Promise<StoredIdentity | undefined> {
    return (await this.#kv.get<StoredIdentity>(["identity"])).value ?? undefined;
  }

  /**
   * Keeps a new key pair, unless one is stored already.
   *
   * @returns Whether it was stored (false: another is, and stays).
   */
  async saveIdentity(stored: StoredIdentity): Promise<boolean> {
    const result = await this.#kv.atomic().check({ key: ["identity"], versionstamp: null })
      .set(["identity"], stored).commit();
    return result.ok;
  }

  /** The key pinned for a server address. */
  async pinnedKey(server: string): Promise<PinnedKey | undefined> {
    return (await this.#kv.get<PinnedKey>(["server-key", server])).value ?? undefined;
  }

  /** The session of the last authenticated registration, if any. */
  async session(): Promise<StoredSession | undefined> {
    return (await this.#kv.get<StoredSession>(["session"])).value ?? undefined;
  }

  /**
   * Stores a new session, and pins its server key when given, in one
   * commit.
   */
  async saveSession(session: StoredSession, pin?: PinnedKey): Promise<void> {
    const op = this.#kv.atomic().set(["session"], session);
    if (pin) op.set(["server-key", session.server], pin);
    const result = await op.commit();
    if (!result.ok) throw new Error("The peer's KV commit failed");
  }

  /** Stores one record. */
  async save(key: AgentKey, value: AgentRecord["value"]): Promise<void> {
    await this.#kv.set(key, value);
  }

  /**
   * Applies writes in one atomic commit.
   *
   * @throws {Error} If the commit fails; nothing was written then.
   */
  async apply(writes: readonly PeerWrite[]): Promise<void> {
    await applyWrites(this.#kv, writes);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#kv.close();
    return Promise.resolve();
  }
}
