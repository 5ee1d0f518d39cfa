/**
 * Logging for both roles.
 *
 * @module
 */
export * from "./setup.ts";
