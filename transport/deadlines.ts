/**
 * A queue of deadlines ordered by time (a binary min-heap), so the next
 * timer is found without scanning every open request.
 *
 * @module
 */

/** One deadline: a moment and the key of what is due then. */
export interface Deadline {
  readonly at: number;
  readonly key: string;
}

/**
 * Deadlines by time. Entries are never removed early: callers check, when
 * one comes due, that it is still current (lazy deletion).
 */
export class DeadlineQueue {
  readonly #heap: Deadline[] = [];

  /** How many entries are queued (current or stale). */
  get size(): number {
    return this.#heap.length;
  }

  /** Adds a deadline. */
  push(deadline: Deadline): void {
    const heap = this.#heap;
    heap.push(deadline);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  /** The earliest deadline, if any. */
  peek(): Deadline | undefined {
    return this.#heap[0];
  }

  /** Removes and returns the earliest deadline if it is due at `now`. */
  popDue(now: number): Deadline | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined || top.at > now) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      while (true) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left;
        if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
        i = smallest;
      }
    }
    return top;
  }
}
