/**
 * The page's input lines, and their merge with standard input's into the
 * one stream a peer runs on. The page's actions become the very lines a
 * user would type, so the peer has one way in for both.
 *
 * @module
 */

/** Why a line batch was not fed, or `undefined` when it was. */
export type Submitted = string | undefined;

interface Batch {
  readonly lines: readonly string[];
  /** Checked when the batch's turn comes: a reason to drop it, or `undefined`. */
  readonly check?: () => string | undefined;
  /** Lines to feed before the batch's, decided when its turn comes. */
  readonly before?: () => readonly string[];
  readonly done: (result: Submitted) => void;
}

/** How long a submission waits for the peer to take its lines. */
const SUBMIT_TIMEOUT_MS = 10_000;

/**
 * A queue of line batches from the page. Each batch's lines come out one
 * after the other, and its check runs just before its first line does (a
 * question answered in the terminal meanwhile is no longer open).
 */
export class LineQueue implements AsyncIterable<string> {
  readonly #batches: Batch[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  /**
   * Queues lines and waits until the peer takes them.
   *
   * @returns `undefined` once the first line is taken, else why not.
   */
  submit(
    lines: readonly string[],
    check?: () => string | undefined,
    before?: () => readonly string[],
  ): Promise<Submitted> {
    if (this.#closed) return Promise.resolve("The peer is stopping");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const at = this.#batches.indexOf(batch);
        if (at >= 0) this.#batches.splice(at, 1);
        resolve("The peer is busy: try again");
      }, SUBMIT_TIMEOUT_MS);
      const batch: Batch = {
        lines,
        ...(check ? { check } : {}),
        ...(before ? { before } : {}),
        done: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      };
      this.#batches.push(batch);
      this.#wake?.();
    });
  }

  /** Ends the stream; waiting submissions are refused. */
  close(): void {
    this.#closed = true;
    for (const batch of this.#batches.splice(0)) batch.done("The peer is stopping");
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    while (true) {
      const batch = this.#batches.shift();
      if (!batch) {
        if (this.#closed) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const refused = batch.check?.();
      batch.done(refused);
      if (refused !== undefined) continue;
      for (const line of batch.before?.() ?? []) yield line;
      for (const line of batch.lines) yield line;
    }
  }
}

/** A source of {@linkcode mergeLines}. */
export interface LineSource {
  readonly lines: AsyncIterable<string>;
  /** Whether the merged stream ends when this source ends (standard input without `--web`). */
  readonly ends?: boolean;
}

/**
 * Merges line sources into one stream, in the order lines arrive. Earlier
 * sources win a tie, so a batch of the page's lines (a card, its expiry and
 * an address) is not split by a line typed at that moment when the page's
 * queue comes first. The stream ends when a source marked `ends` ends, or
 * when every source has.
 */
export async function* mergeLines(sources: readonly LineSource[]): AsyncGenerator<string> {
  const iterators = sources.map((source) => source.lines[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<string> }>>();
  const pull = (index: number) =>
    pending.set(index, iterators[index]!.next().then((result) => ({ index, result })));
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(
        [...pending.entries()].sort(([a], [b]) => a - b).map(([, promise]) => promise),
      );
      if (result.done) {
        pending.delete(index);
        if (sources[index]!.ends) return;
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    // Not awaited: a pending read of standard input may never settle.
    for (const iterator of iterators) iterator.return?.().catch(() => {});
  }
}

/**
 * One `quit` line at SIGINT or SIGTERM, so a peer serving a page stops as
 * after `quit` (standard input's end no longer stops it then). The signal
 * handlers are removed when the iteration ends or is returned.
 */
export function quitOnSignal(
  signals: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"],
): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<string> {
      let finished = false;
      let quit: () => void = () => {};
      const signalled = new Promise<void>((resolve) => (quit = resolve));
      for (const signal of signals) Deno.addSignalListener(signal, quit);
      const remove = () => {
        for (const signal of signals) Deno.removeSignalListener(signal, quit);
      };
      let ending: () => void = () => {};
      const ended = new Promise<void>((resolve) => (ending = resolve));
      return {
        async next(): Promise<IteratorResult<string>> {
          if (finished) return { done: true, value: undefined };
          await Promise.race([signalled, ended]);
          const wasFinished = finished;
          finished = true;
          remove();
          return wasFinished ? { done: true, value: undefined } : { done: false, value: "quit" };
        },
        return(): Promise<IteratorResult<string>> {
          finished = true;
          remove();
          ending();
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}
