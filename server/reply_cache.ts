/**
 * The replies to recent datagrams, so that a repeat (a retransmission, a
 * duplicate on the network) is answered as the first one was and changes
 * nothing.
 *
 * Bounded two ways: entries older than the TTL are dropped (no
 * retransmission goes on that long), and beyond the cap the oldest go. The
 * order of insertion is kept in a queue, so each insert drops what is due
 * from its head instead of walking the map.
 *
 * @module
 */

/** Limits of a {@linkcode ReplyCache}. */
export interface ReplyCacheOptions {
  /** Most entries kept. */
  readonly cap: number;
  /** How long an entry answers repeats, in milliseconds. */
  readonly ttl: number;
}

interface Entry<T> {
  readonly at: number;
  readonly replies: readonly T[];
}

/** The queue's consumed head is cut off once it is this long and half the queue. */
const COMPACT_AFTER = 4096;

/**
 * Replies by request key (`host:port TYPE rq`).
 *
 * @example
 * ```ts
 * const cache = new ReplyCache<string>({ cap: 1000, ttl: 60_000 });
 * cache.remember("127.0.0.1:6000 REGISTER r1", ["REGISTERED r1"], 0);
 * cache.get("127.0.0.1:6000 REGISTER r1", 1_000); // ["REGISTERED r1"]
 * cache.get("127.0.0.1:6000 REGISTER r1", 61_000); // undefined
 * ```
 */
export class ReplyCache<T> {
  readonly #options: ReplyCacheOptions;
  readonly #entries = new Map<string, Entry<T>>();
  /** The keys in the order they were stored, with when. */
  readonly #order: [key: string, at: number][] = [];
  #head = 0;

  constructor(options: ReplyCacheOptions) {
    this.#options = options;
  }

  /** How many entries are kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** The replies stored for `key`, unless they are older than the TTL at `now`. */
  get(key: string, now: number): readonly T[] | undefined {
    const entry = this.#entries.get(key);
    return entry && now - entry.at <= this.#options.ttl ? entry.replies : undefined;
  }

  /**
   * Stores the replies to `key` made at `at` (replacing older ones), and
   * drops what expired by then and the oldest beyond the cap.
   */
  remember(key: string, replies: readonly T[], at: number): void {
    this.#entries.set(key, { at, replies });
    const order = this.#order;
    order.push([key, at]);
    // Oldest first: drop what expired, the oldest beyond the cap, and queue
    // entries a newer one for the same key replaced.
    while (this.#head < order.length) {
      const [oldest, storedAt] = order[this.#head]!;
      const current = this.#entries.get(oldest)?.at === storedAt;
      const expired = at - storedAt > this.#options.ttl;
      if (current && !expired && this.#entries.size <= this.#options.cap) break;
      if (current) this.#entries.delete(oldest);
      this.#head++;
    }
    if (this.#head > COMPACT_AFTER && this.#head * 2 > order.length) {
      order.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
