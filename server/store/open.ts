/**
 * Opens the store the command line names: Deno KV in the data directory
 * (the default), another KV file or a KV Connect URL (`--kv`), or
 * PostgreSQL (`--store postgres://…`).
 *
 * @module
 */
import { KvStore } from "./kv_store.ts";
import type { ServerStore } from "./store.ts";
import { FAULTS_VARIABLE, parseFaults, withFaults } from "./faulty_store.ts";

/** Where the state is: the data directory, and the options that move it elsewhere. */
export interface StoreLocation {
  /** The data directory: its `server.kv` by default. */
  readonly dataDir: string;
  /** Another KV file, or a KV Connect URL. */
  readonly kv?: string;
  /** A PostgreSQL URL without a password. */
  readonly store?: string;
  /** A file holding the PostgreSQL password (else PGPASSWORD). */
  readonly storePasswordFile?: string;
}

/**
 * Opens (creating if needed) the store of a location, with the test fault
 * points when `SHOP_TEST_STORE_FAULTS` is set (`faulty_store.ts`).
 */
export async function openStore(location: StoreLocation): Promise<ServerStore> {
  const faults = Deno.env.get(FAULTS_VARIABLE);
  const store = await open(location);
  return faults ? withFaults(store, parseFaults(faults)) : store;
}

async function open(location: StoreLocation): Promise<ServerStore> {
  if (location.store !== undefined) {
    const { PostgresStore } = await import("./postgres_store.ts");
    return await PostgresStore.open(location.store, {
      ...(location.storePasswordFile ? { passwordFile: location.storePasswordFile } : {}),
    });
  }
  return await KvStore.open(location.dataDir, location.kv);
}
