/**
 * The server's durable state: the {@linkcode ServerStore} interface and its
 * backends, Deno KV (the default) and PostgreSQL.
 *
 * @module
 */
export * from "./store.ts";
export * from "./kv_store.ts";
