/**
 * The peer's durable state in Deno KV: `<data>/<name>.kv`, owned by one
 * peer process.
 *
 * @module
 */
import { join } from "node:path";
import type { PeerKey, PeerSnapshot, RegistrationRecord } from "./agent.ts";

/** The KV file of a peer. */
export function peerKvPath(dataDir: string, name: string): string {
  return join(dataDir, `${name}.kv`);
}

/** A peer's KV store. */
export class PeerStore implements AsyncDisposable {
  readonly #kv: Deno.Kv;

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Opens (creating if needed) the store of peer `name` in `dataDir`. */
  static async open(dataDir: string, name: string): Promise<PeerStore> {
    await Deno.mkdir(dataDir, { recursive: true });
    return new PeerStore(await Deno.openKv(peerKvPath(dataDir, name)));
  }

  /** Reads the stored state for a new agent. */
  async load(): Promise<PeerSnapshot> {
    const registration = await this.#kv.get<RegistrationRecord>(["registration"]);
    return { registration: registration.value ?? undefined };
  }

  /** Stores one record. */
  async save(key: PeerKey, value: RegistrationRecord): Promise<void> {
    await this.#kv.set(key, value);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#kv.close();
    return Promise.resolve();
  }
}
