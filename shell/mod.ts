/**
 * What the two shells (server and peer) share around their state machines:
 * the clock, the wake-up timer at the machine's next deadline, and the KV
 * apply of a machine's writes.
 *
 * @module
 */
export * from "./clock.ts";
export * from "./wakeup.ts";
export * from "./kv_apply.ts";
