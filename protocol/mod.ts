/**
 * The P2S2 wire protocol: message schemas and the pure text codec.
 *
 * @module
 */
export * from "./fields.ts";
export * from "./messages.ts";
export * from "./codec.ts";
export * from "./describe.ts";
export * from "./address.ts";
export * from "./payment.ts";
