/**
 * Which of our peers are online: a peer whose messages the retransmitter
 * gave up on, or one that keeps itself known (extension `book`) and fell
 * silent, is offline until it is heard from again: its listings are hidden
 * and no search waits for it. One offline for longer than `forgetAfter`
 * is to be de-registered. In memory only: after a restart every peer is
 * online until shown otherwise.
 *
 * @module
 */

/** Liveness timing, in milliseconds; 0 turns a rule off. */
export interface LivenessOptions {
  /** Silence after which a peer that keeps itself known is offline. */
  readonly offlineAfter: number;
  /** How long a peer stays offline before it is de-registered. */
  readonly forgetAfter: number;
}

/** The defaults: a minute of silence (our peers say ALIVE every 20 s), an hour offline. */
export const DEFAULT_LIVENESS: LivenessOptions = {
  offlineAfter: 60_000,
  forgetAfter: 60 * 60_000,
};

/** What a sweep found. */
export interface Sweep {
  /** Peers silent for too long: now offline. */
  readonly offline: string[];
  /** Peers offline for too long: to de-register. */
  readonly forget: string[];
}

/** The liveness of our peers. */
export class Liveness {
  readonly #options: LivenessOptions;
  /** Peers that keep themselves known → when last heard. */
  readonly #heard = new Map<string, number>();
  /** Offline peers → since when. */
  readonly #offline = new Map<string, number>();
  #nextSweep: number | undefined;

  constructor(options: Partial<LivenessOptions> = {}) {
    this.#options = { ...DEFAULT_LIVENESS, ...options };
  }

  /** How many peers are offline. */
  get offlineCount(): number {
    return this.#offline.size;
  }

  /** Whether a peer is offline. */
  isOffline(name: string): boolean {
    return this.#offline.size > 0 && this.#offline.has(name);
  }

  /**
   * A peer was heard from.
   *
   * @param keepsAlive Whether it says ALIVE when idle, so its silence counts.
   * @returns Whether it was offline until now.
   */
  heard(name: string, at: number, keepsAlive: boolean): boolean {
    if (keepsAlive && this.#options.offlineAfter > 0) {
      this.#heard.set(name, at);
      this.#nextSweep ??= at + this.#interval();
    }
    return this.#offline.delete(name);
  }

  /**
   * A peer does not answer (the retransmitter gave up on it).
   *
   * @returns Whether it was online until now.
   */
  lost(name: string, at: number): boolean {
    if (this.#offline.has(name)) return false;
    this.#offline.set(name, at);
    if (this.#options.forgetAfter > 0) this.#nextSweep ??= at + this.#interval();
    return true;
  }

  /** A peer left: it is forgotten here too. */
  remove(name: string): void {
    this.#heard.delete(name);
    this.#offline.delete(name);
  }

  /** When the next sweep is due, if any peer is watched. */
  nextDeadline(): number | undefined {
    return this.#nextSweep;
  }

  /** The peers that went silent or stayed offline too long, by `at`. */
  sweep(at: number): Sweep {
    if (this.#nextSweep === undefined || at < this.#nextSweep) return { offline: [], forget: [] };
    const offline: string[] = [];
    const forget: string[] = [];
    const { offlineAfter, forgetAfter } = this.#options;
    if (offlineAfter > 0) {
      for (const [name, last] of this.#heard) {
        if (at - last >= offlineAfter && !this.#offline.has(name)) {
          this.#offline.set(name, at);
          offline.push(name);
        }
      }
    }
    if (forgetAfter > 0) {
      for (const [name, since] of this.#offline) {
        if (at - since >= forgetAfter) forget.push(name);
      }
    }
    const watching = (offlineAfter > 0 && this.#heard.size > 0) ||
      (forgetAfter > 0 && this.#offline.size > 0);
    this.#nextSweep = watching ? at + this.#interval() : undefined;
    return { offline, forget };
  }

  /** How often to sweep: a quarter of the shortest rule, at least a second. */
  #interval(): number {
    const rules = [this.#options.offlineAfter, this.#options.forgetAfter].filter((ms) => ms > 0);
    return Math.max(1_000, Math.min(...rules, 60_000) / 4);
  }
}
