/**
 * How the simulated shells store a machine's writes and when they act on
 * them: as the real shells do since issue 19, through the real
 * {@linkcode CommitQueue} on the virtual clock. Each handled event's writes
 * go to the queue as one batch, and the event's other effects (datagrams,
 * TCP legs, printed lines, logs) are carried out only once the push
 * resolves. A batch without writes is pushed too: its replies may rest on
 * a batch still being stored (a repeated REGISTER answered from the reply
 * cache). When the queue gives up ({@linkcode StoreUnavailable}) the shell
 * stops, and is restarted from its store.
 *
 * Two broken shells can be asked for, to show that the invariant
 * "everything acknowledged is stored" catches them (`simulator_test.ts`):
 * `reply-first` acts on an event before its writes are stored, and
 * `drop-failed` is the shell before issue 19: a failed commit is logged
 * and dropped while the machine goes on.
 *
 * @module
 */
import type { Clock } from "../shell/clock.ts";
import { CommitQueue, describeError, StoreUnavailable } from "../shell/commit_queue.ts";
import type { Action } from "./_effects.ts";
import type { ShellHost } from "./_shell.ts";
import type { SimulatedStore } from "./storage.ts";

/** How a shell commits: honestly, or one of the broken ways kept for the invariant's test. */
export type CommitMode = "honest" | "reply-first" | "drop-failed";

/**
 * The shells' retry bound and pauses: the real defaults (30 s, 50 ms up to
 * 2 s) scaled to the simulated market's timers, so that an outage can
 * outlast the bound within a run.
 */
export const RETRY_FOR_MS = 3_000;
const BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1_000;

interface Batch {
  readonly number: number;
  readonly actions: readonly Action[];
}

/** One machine's commit path, across its lives. */
export class ShellCommits {
  readonly #host: ShellHost;
  readonly #store: SimulatedStore;
  readonly #who: string;
  readonly #mode: CommitMode;
  #queue: CommitQueue<Batch> | undefined;
  #stop: ((error: StoreUnavailable) => void) | undefined;
  /** Bumped by every start and stop: what an earlier life awaited does nothing. */
  #life = 0;
  /** Batches numbered across lives, so a later batch always has a higher number. */
  #batches = 0;

  constructor(host: ShellHost, store: SimulatedStore, who: string, mode: CommitMode) {
    this.#host = host;
    this.#store = store;
    this.#who = who;
    this.#mode = mode;
  }

  /**
   * A new life of the machine: a queue of its own.
   *
   * @param stop Called once if the queue gives up.
   */
  open(stop: (error: StoreUnavailable) => void): void {
    const life = ++this.#life;
    const host = this.#host;
    const who = this.#who;
    // The queue's pauses are events on the virtual clock, dropped with its life.
    const clock: Clock = {
      now: () => host.now(),
      set: (callback, ms) => {
        host.later(ms, `${who} tries its commits again`, () => {
          if (life === this.#life) callback();
        });
        return undefined;
      },
      clear: () => {},
    };
    this.#stop = stop;
    this.#queue = new CommitQueue<Batch>({
      // A dead process starts no commit.
      apply: (batch) =>
        life === this.#life
          ? this.#store.commit(batch.actions, batch.number)
          : new Promise<void>(() => {}),
      retryFor: RETRY_FOR_MS,
      backoff: BACKOFF_MS,
      maxBackoff: MAX_BACKOFF_MS,
      clock,
      onStall: (error) => {
        if (life === this.#life) host.note(`${who}'s commits stall: ${describeError(error)}`);
      },
      onRecover: (ms, tries) => {
        if (life === this.#life) {
          host.note(`${who}'s commits are stored again after ${ms} ms and ${tries} tries`);
        }
      },
    });
  }

  /**
   * The machine stopped or died: its queue, and what waited in it, are
   * gone; the commits the store had are finished as drawn.
   */
  close(): void {
    this.#life++;
    this.#queue = undefined;
    this.#stop = undefined;
    this.#store.flush();
  }

  /**
   * Commits one event's writes (after every batch before them) and then
   * calls `release` with the batch's number, unless the life ended first.
   */
  push(actions: readonly Action[], release: (batch: number) => void): void {
    const queue = this.#queue;
    if (!queue) return;
    const life = this.#life;
    const batch: Batch = { number: ++this.#batches, actions };
    const alive = () => life === this.#life;
    const host = this.#host;
    const stopOn = (error: unknown) =>
      host.resume(() => {
        if (!alive() || !(error instanceof StoreUnavailable)) return;
        const stop = this.#stop!;
        this.close();
        stop(error);
      });
    switch (this.#mode) {
      case "honest":
        queue.push(batch).then(() => host.resume(() => alive() && release(batch.number)), stopOn);
        return;
      case "reply-first":
        queue.push(batch).catch(stopOn);
        release(batch.number);
        return;
      case "drop-failed":
        this.#store.commit(batch.actions, batch.number).then(
          () => host.resume(() => alive() && release(batch.number)),
          (error) =>
            host.resume(() => {
              if (alive()) host.note(`${this.#who} cannot store a batch: ${describeError(error)}`);
            }),
        );
        return;
    }
  }
}
