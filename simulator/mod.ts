/**
 * The deterministic simulator: the real `Market` and `Agent`s on a virtual
 * clock, over a lossy in-memory network, with the TCP leg and crashes, all
 * from one seed.
 *
 * @module
 */
export * from "./simulation.ts";
export { Random } from "./random.ts";
export { DEFAULT_FAULTS, type FaultRates } from "./network.ts";
