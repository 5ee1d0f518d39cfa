/**
 * How many TCP connections the server holds open to each peer at once.
 *
 * A peer serves a bounded number of connections from the server (16 for
 * ours; see `peer/peer.ts`) and closes the rest, which would fail their
 * purchases. So a transaction waits for a slot with each of its two
 * parties, taken together (never one while waiting for the other, so no two
 * transactions can each hold what the other waits for), and a delivery of
 * Shipping_Info takes one with its party.
 *
 * @module
 */

/** The default of {@linkcode ConnectionSlots}' slots per peer: half of what our peer serves. */
export const SLOTS_PER_PEER = 8;

interface Waiter {
  readonly names: readonly string[];
  readonly grant: () => void;
}

/** Counting semaphores keyed by peer name, taken several at once. */
export class ConnectionSlots {
  readonly #perPeer: number;
  readonly #used = new Map<string, number>();
  readonly #waiting: Waiter[] = [];

  constructor(perPeer = SLOTS_PER_PEER) {
    this.#perPeer = perPeer;
  }

  /** Connections open (or about to be) to this peer. */
  inUse(name: string): number {
    return this.#used.get(name) ?? 0;
  }

  /** Takers waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes one slot with each named peer, all at once, waiting while any of
   * them has none free. Waiters are served first come, first served, except
   * that one whose peers are free goes ahead of one still blocked.
   *
   * @returns A function that gives the slots back (calling it again does nothing).
   * @throws The signal's reason when it aborts while waiting.
   */
  async take(names: readonly string[], signal?: AbortSignal): Promise<() => void> {
    const distinct = [...new Set(names)];
    signal?.throwIfAborted();
    if (this.#waiting.length > 0 || !this.#free(distinct)) {
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          names: distinct,
          grant: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          const index = this.#waiting.indexOf(waiter);
          if (index >= 0) this.#waiting.splice(index, 1);
          reject(signal!.reason);
          // Someone behind it may fit now.
          this.#serve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#waiting.push(waiter);
        this.#serve();
      });
    } else {
      this.#occupy(distinct);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const name of distinct) {
        const used = (this.#used.get(name) ?? 1) - 1;
        if (used > 0) this.#used.set(name, used);
        else this.#used.delete(name);
      }
      this.#serve();
    };
  }

  #free(names: readonly string[]): boolean {
    return names.every((name) => (this.#used.get(name) ?? 0) < this.#perPeer);
  }

  #occupy(names: readonly string[]): void {
    for (const name of names) this.#used.set(name, (this.#used.get(name) ?? 0) + 1);
  }

  /** Grants, in order, every waiter whose peers all have a free slot. */
  #serve(): void {
    for (let i = 0; i < this.#waiting.length;) {
      const waiter = this.#waiting[i]!;
      if (!this.#free(waiter.names)) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      this.#occupy(waiter.names);
      waiter.grant();
    }
  }
}
