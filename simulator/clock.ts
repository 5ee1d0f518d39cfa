/**
 * The simulated world's time: a virtual clock and the queue of what is
 * scheduled on it. Time moves only when the simulator takes the next event;
 * events at the same time run in the order they were scheduled, so a run is
 * a pure function of its seed.
 *
 * @module
 */

interface Entry<T> {
  readonly at: number;
  readonly seq: number;
  readonly event: T;
}

/** A virtual clock with a queue of timed events (a binary heap). */
export class EventQueue<T> {
  #now: number;
  #seq = 0;
  readonly #heap: Entry<T>[] = [];

  /** @param start The time the clock starts at (milliseconds since the epoch). */
  constructor(start: number) {
    this.#now = start;
  }

  /** The current virtual time. */
  get now(): number {
    return this.#now;
  }

  /** How many events wait. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `event` at time `at` (never before now: the past is done). */
  schedule(at: number, event: T): void {
    const entry = { at: Math.max(at, this.#now), seq: this.#seq++, event };
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Schedules `event` `delay` milliseconds from now. */
  after(delay: number, event: T): void {
    this.schedule(this.#now + delay, event);
  }

  /** When the next event is due, if any. */
  peek(): number | undefined {
    return this.#heap[0]?.at;
  }

  /** Takes the next event and moves the clock to its time. */
  pop(): { at: number; event: T } | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (!top) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
        if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least]!, heap[i]!];
        i = least;
      }
    }
    this.#now = top.at;
    return { at: top.at, event: top.event };
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
