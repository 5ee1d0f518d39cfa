/**
 * Honest commits: a machine's batches of writes are stored in the order
 * they were made, and each batch is reported stored only once it and every
 * batch before it are. A shell sends a batch's replies only then, so no
 * datagram, page or log line claims what a store did not keep.
 *
 * A commit that fails is tried again, with the commits behind it waiting
 * (their replies too), with pauses that double up to a cap. A store's
 * writes are whole records set or deleted by key, so trying one again is
 * harmless when the failure was ambiguous (the commit went through but its
 * answer was lost); the commits that had started after the failed one are
 * applied again behind it, so a later value of a key is never overwritten
 * by an earlier one. Past the bound (`retryFor`) the queue gives up: every
 * waiting batch stays unreported, and the shell stops, to be restarted
 * from what is stored.
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";

/** Options for a {@linkcode CommitQueue}. */
export interface CommitQueueOptions<B> {
  /** Stores one batch in one atomic commit; throws if it may not have. */
  readonly apply: (batch: B) => Promise<void>;
  /** Commits started before the ones before them are stored (pipelining; default 2). */
  readonly inFlight?: number;
  /** How long the store may keep failing before the queue gives up (default 30 s). */
  readonly retryFor?: number;
  /** The first pause before trying again (default 50 ms); it doubles up to `maxBackoff`. */
  readonly backoff?: number;
  /** The longest pause between tries (default 2 s). */
  readonly maxBackoff?: number;
  /** Called once when commits start failing (not on every try). */
  readonly onStall?: (error: unknown) => void;
  /** Called once when commits succeed again, with how long they failed and the tries. */
  readonly onRecover?: (stalledMs: number, tries: number) => void;
  /**
   * Whether an error may pass by trying again (default: every error). One
   * that cannot (another server took the store) ends the queue at once.
   */
  readonly retryable?: (error: unknown) => boolean;
  /** The clock pauses are timed on. */
  readonly clock?: Clock;
}

/** The store kept failing past the bound; nothing behind the failure was reported. */
export class StoreUnavailable extends Error {
  /** How long the store failed, in milliseconds. */
  readonly stalledMs: number;

  constructor(stalledMs: number, cause: unknown) {
    super(
      `The store failed every commit for ${(stalledMs / 1000).toFixed(1)} s: ${
        describeError(cause)
      }`,
      { cause },
    );
    this.name = "StoreUnavailable";
    this.stalledMs = stalledMs;
  }
}

/** A store error in one line: its message, never its stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const text = error.message.split("\n")[0]!.trim();
    return text || error.name;
  }
  return String(error).split("\n")[0]!;
}

/** A commit that neither succeeded nor failed within the time it had. */
class Hung extends Error {
  constructor(ms: number) {
    super(`A commit did not finish within ${(ms / 1000).toFixed(1)} s`);
    this.name = "Hung";
  }
}

interface Entry<B> {
  readonly batch: B;
  /** The commit's own attempt under way, if any. */
  attempt?: Promise<unknown>;
  /** Whether the last attempt was stored (and nothing before it failed since). */
  stored: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Commits in order, reported in order, tried again on failure.
 *
 * @example
 * ```ts
 * const queue = new CommitQueue({ apply: (writes) => store.apply(writes) });
 * await queue.push(writes); // stored, and so is everything pushed before
 * sendReplies();
 * ```
 */
export class CommitQueue<B> {
  readonly #options: Required<Omit<CommitQueueOptions<B>, "onStall" | "onRecover" | "retryable">>;
  readonly #retryable: (error: unknown) => boolean;
  readonly #onStall: ((error: unknown) => void) | undefined;
  readonly #onRecover: ((stalledMs: number, tries: number) => void) | undefined;
  /** Batches not yet reported stored, oldest first. */
  readonly #entries: Entry<B>[] = [];
  /** Whether a failure is being recovered from: no new commit starts meanwhile. */
  #recovering = false;
  #failure: Error | undefined;
  #idle: (() => void)[] = [];

  constructor(options: CommitQueueOptions<B>) {
    this.#options = {
      apply: options.apply,
      inFlight: options.inFlight ?? 2,
      retryFor: options.retryFor ?? 30_000,
      backoff: options.backoff ?? 50,
      maxBackoff: options.maxBackoff ?? 2_000,
      clock: options.clock ?? systemClock,
    };
    this.#onStall = options.onStall;
    this.#onRecover = options.onRecover;
    this.#retryable = options.retryable ?? (() => true);
  }

  /** Batches pushed and not yet reported stored. */
  get pending(): number {
    return this.#entries.length;
  }

  /** Whether commits are failing and being tried again. */
  get stalled(): boolean {
    return this.#recovering;
  }

  /** The error the queue gave up with, if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Queues a batch.
   *
   * @returns A promise that resolves once this batch and every one pushed
   *   before it are stored, and rejects with {@linkcode StoreUnavailable}
   *   if the queue gives up first (or with the error itself when it is
   *   not retryable).
   */
  push(batch: B): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    // Settled either way by the caller; no unhandled rejection meanwhile.
    promise.catch(() => {});
    this.#entries.push({ batch, stored: false, resolve, reject });
    this.#pump();
    return promise;
  }

  /** Resolves when every batch pushed so far is stored (at once when none waits). */
  settled(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#entries.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Starts the commits that may start: in order, at most `inFlight` at once. */
  #pump(): void {
    if (this.#recovering || this.#failure) return;
    let running = 0;
    for (const entry of this.#entries) {
      if (entry.stored) continue;
      if (entry.attempt) {
        running++;
        continue;
      }
      if (running >= this.#options.inFlight) break;
      running++;
      this.#start(entry);
    }
  }

  #start(entry: Entry<B>): void {
    const startedAt = this.#options.clock.now();
    const attempt = this.#apply(entry.batch);
    entry.attempt = attempt;
    attempt.then(
      () => {
        if (entry.attempt !== attempt) return;
        entry.attempt = undefined;
        entry.stored = true;
        this.#report();
        this.#pump();
      },
      (error) => {
        if (entry.attempt !== attempt) return;
        entry.attempt = undefined;
        // The bound counts from when the failed commit was started.
        if (!this.#recovering) void this.#recover(error, startedAt);
      },
    );
  }

  /**
   * The store's apply, with a synchronous throw turned into a rejection,
   * and an attempt that never ends (a database cut off without a word)
   * counted as failed after the bound: the queue then gives up rather than
   * wait forever. The attempt is not cancelled (a cancelled commit may
   * still be made); the shell stops.
   */
  async #apply(batch: B, within = this.#options.retryFor): Promise<void> {
    const { clock } = this.#options;
    let timer: unknown;
    const hung = new Promise<never>((_, reject) => {
      timer = clock.set(
        () => reject(new Hung(within)),
        within,
      );
    });
    try {
      await Promise.race([this.#options.apply(batch), hung]);
    } finally {
      clock.clear(timer);
    }
  }

  /** Reports, oldest first, every batch stored with nothing unstored before it. */
  #report(): void {
    while (this.#entries[0]?.stored) this.#entries.shift()!.resolve();
    if (this.#entries.length === 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * Applies again, in order and one at a time, every batch not yet
   * reported (the failed one and those behind it, stored or not), until
   * they all are or the bound is passed.
   */
  async #recover(first: unknown, since: number): Promise<void> {
    this.#recovering = true;
    const { clock } = this.#options;
    if (!this.#retryable(first)) {
      this.#giveUp(first instanceof Error ? first : new Error(String(first)));
      return;
    }
    this.#onStall?.(first);
    // The attempts still under way settle first, so nothing runs beside the retries.
    await Promise.allSettled(this.#entries.map((entry) => entry.attempt));
    let error: unknown = first;
    let pause = this.#options.backoff;
    let tries = 0;
    for (;;) {
      const waited = clock.now() - since;
      if (waited >= this.#options.retryFor) {
        this.#giveUp(new StoreUnavailable(waited, error));
        return;
      }
      await sleep(clock, Math.min(pause, this.#options.retryFor - waited));
      pause = Math.min(pause * 2, this.#options.maxBackoff);
      tries++;
      const retry = this.#entries.slice();
      try {
        for (const entry of retry) {
          entry.stored = false;
          // No try outlasts the bound: the queue gives up on time.
          const left = this.#options.retryFor - (clock.now() - since);
          if (left <= 0) throw new Hung(0);
          await this.#apply(entry.batch, left);
          entry.stored = true;
        }
      } catch (failed) {
        if (!this.#retryable(failed)) {
          this.#giveUp(failed instanceof Error ? failed : new Error(String(failed)));
          return;
        }
        // A try cut short by the bound says less than the store's last error.
        if (!(failed instanceof Hung) || !(error instanceof Error) || error instanceof Hung) {
          error = failed;
        }
        continue;
      }
      this.#recovering = false;
      this.#onRecover?.(clock.now() - since, tries);
      this.#report();
      this.#pump();
      return;
    }
  }

  #giveUp(failure: Error): void {
    this.#failure = failure;
    this.#recovering = false;
    for (const entry of this.#entries.splice(0)) entry.reject(failure);
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.set(resolve, ms));
}
