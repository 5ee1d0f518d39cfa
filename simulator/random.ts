/**
 * A small seeded pseudo-random generator (splitmix32): the one source of
 * chance in the simulated world, so that a seed replays exactly.
 * `Math.random` is never used there.
 *
 * @module
 */

/** A deterministic stream of numbers from a 32-bit seed. */
export class Random {
  #state: number;

  /** @param seed Any integer; only its low 32 bits count. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    // splitmix32: add the golden-ratio increment, then mix the bits well
    // enough that consecutive seeds give unrelated streams.
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    if (max < min) throw new RangeError(`Cannot pick from [${min}, ${max}]: max is below min`);
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty array");
    return items[this.int(0, items.length - 1)]!;
  }

  /** A generator of its own, seeded from this one: streams that do not disturb each other. */
  fork(): Random {
    return new Random(this.next());
  }
}
