/**
 * Pieces shared by the command lines of both roles.
 *
 * @module
 */
export * from "./value_parsers.ts";
export * from "./usage.ts";
