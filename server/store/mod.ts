/**
 * The server's durable state: the {@linkcode ServerStore} interface and its
 * backends, Deno KV (the default) and PostgreSQL, and the copy between
 * them. The PostgreSQL store itself is imported on demand
 * (`postgres_store.ts`, see `open.ts`), so a server on Deno KV never loads
 * its client.
 *
 * @module
 */
export * from "./store.ts";
export * from "./kv_store.ts";
export * from "./migrate.ts";
