/**
 * The buyer-and-seller peer: its state machine, its shell and its command.
 *
 * @module
 */
export * from "./agent.ts";
export * from "./commands.ts";
export * from "./peer.ts";
export * from "./store.ts";
export * from "./guard.ts";
export * from "./cli.ts";
export * from "./payment.ts";
