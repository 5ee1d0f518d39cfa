/**
 * The deterministic simulator: the real `Market` and `Agent`s on a virtual
 * clock, over a lossy in-memory network, with the TCP leg, crashes, and
 * stores whose commits fail (committed through the real `CommitQueue`),
 * all from one seed.
 *
 * @module
 */
export * from "./simulation.ts";
export { Random } from "./random.ts";
export { DEFAULT_FAULTS, type FaultRates } from "./network.ts";
export {
  DEFAULT_STORAGE_FAULTS,
  NO_STORAGE_FAULTS,
  type StorageFaults,
  type StorageStats,
} from "./storage.ts";
export type { CommitMode } from "./_commits.ts";
