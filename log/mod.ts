/**
 * Logging for both roles.
 *
 * @module
 */
export * from "./setup.ts";
export * from "./file_sink.ts";
