/**
 * What the server's socket has seen, for the dashboard: how many datagrams
 * came in, and when each address was last heard from (a message that
 * passed the guard). Cheap enough for the receive loop: a counter and one
 * map entry moved to the end, the map capped so forged source addresses
 * cannot grow it.
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";

/** Most addresses remembered; the least recently heard go first. */
export const HEARD_CAP = 4096;

/** Counts of the server's traffic (read-only outside the receive loop). */
export class Traffic {
  #datagrams = 0;
  readonly #heard = new Map<string, number>();

  /** Counts one datagram received. */
  datagram(): void {
    this.#datagrams++;
  }

  /** Notes a message from `from` that passed the guard, at `at`. */
  heard(from: Address, at: number): void {
    const key = `${from.hostname}:${from.port}`;
    this.#heard.delete(key);
    this.#heard.set(key, at);
    if (this.#heard.size > HEARD_CAP) this.#heard.delete(this.#heard.keys().next().value!);
  }

  /** Datagrams received since the server started. */
  get datagrams(): number {
    return this.#datagrams;
  }

  /** When `address` was last heard from since the server started, if it was. */
  lastHeard(address: Address): number | undefined {
    return this.#heard.get(`${address.hostname}:${address.port}`);
  }
}
