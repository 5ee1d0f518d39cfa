/**
 * Placeholder until the PostgreSQL store lands (issue 19).
 *
 * @module
 */
import type { ServerStore } from "./store.ts";

/** The PostgreSQL store. */
export class PostgresStore {
  /** Not yet. */
  static open(_url: string, _options: { passwordFile?: string }): Promise<ServerStore> {
    return Promise.reject(new Error("The PostgreSQL store is not built yet"));
  }
}
