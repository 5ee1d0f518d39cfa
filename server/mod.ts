/**
 * The marketplace server: its state machine, its shell and its command.
 *
 * @module
 */
export * from "./market.ts";
export * from "./server.ts";
export * from "./store/mod.ts";
export * from "./cli.ts";
