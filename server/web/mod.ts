/**
 * The server's read-only dashboard (`shop server --web`).
 *
 * @module
 */
export * from "./dashboard.ts";
