/**
 * The simulated stores: each machine's records behind a store whose
 * commits fail, from the seed, as real ones do. A commit may fail before
 * writing anything (disk full, a lost connection), be slow (held up on the
 * virtual clock), or write and then fail (committed, but the answer was
 * lost: the ambiguous failure). And a run may have an outage: for a while
 * every commit of one machine fails, and its store cannot be read, long
 * enough, sometimes, for the shell's commit queue to give up.
 *
 * A store applies commits in the order they are handed to it, one at a
 * time, as `server/store/store.ts` promises of every store: a commit's
 * time starts once the one before it is done.
 *
 * @module
 */
import type { Action } from "./_effects.ts";
import type { Random } from "./random.ts";
import { RecordStore } from "./records.ts";

/** How unreliable the stores are: probabilities per commit (or per run), times in milliseconds. */
export interface StorageFaults {
  /** Probability that a commit fails before writing anything. */
  readonly failBefore: number;
  /** Probability that a commit writes everything and then fails. */
  readonly failAfter: number;
  /** Probability that a commit is held up by up to `maxSlow`. */
  readonly slow: number;
  /** The longest hold-up of a slow commit. */
  readonly maxSlow: number;
  /** The range of an ordinary commit's time. */
  readonly minLatency: number;
  readonly maxLatency: number;
  /** Probability that a run has an outage: one machine's every commit fails for a while. */
  readonly outage: number;
  /** The range of an outage's length. */
  readonly minOutage: number;
  readonly maxOutage: number;
}

/**
 * The defaults: a few faults of every kind in most runs, and an outage in
 * two runs of five, most of them longer than the shells' retry bound
 * (`RETRY_FOR_MS` in `_commits.ts`, 3 s); one in five outages finds commits
 * waiting long enough for the shell to give up and be restarted.
 */
export const DEFAULT_STORAGE_FAULTS: StorageFaults = {
  failBefore: 0.03,
  failAfter: 0.02,
  slow: 0.05,
  maxSlow: 1_500,
  minLatency: 0,
  maxLatency: 3,
  outage: 0.4,
  minOutage: 200,
  maxOutage: 7_000,
};

/** No storage faults: every commit is stored, at once. */
export const NO_STORAGE_FAULTS: StorageFaults = {
  failBefore: 0,
  failAfter: 0,
  slow: 0,
  maxSlow: 0,
  minLatency: 0,
  maxLatency: 0,
  outage: 0,
  minOutage: 0,
  maxOutage: 0,
};

/** What the stores did, for the run's report. */
export interface StorageStats {
  /** Commits handed to a store (batches with writes; their tries again too). */
  commits: number;
  failedBefore: number;
  slow: number;
  failedAfter: number;
  /** Outages that began. */
  outages: number;
  /** Commits refused during an outage. */
  refused: number;
  /** Times a shell stopped because its commit queue gave up (StoreUnavailable). */
  gaveUp: number;
  /** How many of those were the server's. */
  serverGaveUp: number;
  /** Starts that failed because the store could not be read. */
  failedStarts: number;
}

/** An empty {@linkcode StorageStats}. */
export function storageStats(): StorageStats {
  return {
    commits: 0,
    failedBefore: 0,
    slow: 0,
    failedAfter: 0,
    outages: 0,
    refused: 0,
    gaveUp: 0,
    serverGaveUp: 0,
    failedStarts: 0,
  };
}

/** A stretch of time in which one machine's store fails everything. */
export interface Outage {
  /** `"server"` or an agent's name. */
  readonly who: string;
  readonly from: number;
  readonly until: number;
}

/**
 * Draws a run's outages.
 *
 * @param machines Whose store may fail for a while: `"server"` and the agents that may crash.
 * @param start The run's start time.
 */
export function planOutages(
  random: Random,
  rates: StorageFaults,
  machines: readonly string[],
  start: number,
): Outage[] {
  if (!random.chance(rates.outage) || machines.length === 0) return [];
  // The server's store first: its failures are what the market's peers see.
  const who = machines.includes("server") && random.chance(0.6) ? "server" : random.pick(machines);
  const from = start + random.int(1_000, 25_000);
  return [{ who, from, until: from + random.int(rates.minOutage, rates.maxOutage) }];
}

/** What the simulated world gives a store. */
export interface StoreHost {
  now(): number;
  /** Runs `run` at virtual time `at`; `label` goes into the trace. */
  at(at: number, label: string, run: () => void): void;
}

type Fate = "stored" | "slow" | "before" | "after" | "refused";

interface Pending {
  readonly writes: readonly Action[];
  readonly batch: number;
  readonly fate: Fate;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  done: boolean;
}

/** One machine's store: its records, and commits that take time and fail. */
export class SimulatedStore {
  /** What is stored: what a restart is built from and the invariants look at. */
  readonly records = new RecordStore();
  readonly #who: string;
  readonly #host: StoreHost;
  readonly #random: Random;
  readonly #rates: StorageFaults;
  readonly #stats: StorageStats;
  readonly #outages: readonly Outage[];
  /** Commits handed over and not yet done, oldest first. */
  readonly #pending: Pending[] = [];
  /** When the last commit handed over is done: the next starts then. */
  #busyUntil = 0;

  constructor(
    who: string,
    parts: {
      host: StoreHost;
      random: Random;
      rates: StorageFaults;
      stats: StorageStats;
      outages: readonly Outage[];
    },
  ) {
    this.#who = who;
    this.#host = parts.host;
    this.#random = parts.random;
    this.#rates = parts.rates;
    this.#stats = parts.stats;
    this.#outages = parts.outages.filter((outage) => outage.who === who);
    for (const outage of this.#outages) {
      parts.host.at(
        outage.from,
        `${who}'s store goes down until +${outage.until - outage.from}`,
        () => {
          this.#stats.outages++;
        },
      );
    }
  }

  /** Whether the store answers now (an outage refuses reads too). */
  get available(): boolean {
    return !this.#inOutage(this.#host.now());
  }

  /**
   * Commits one batch's writes, atomically, after the commits handed over
   * before it.
   *
   * @param batch The shell's number of the batch, kept with each record it writes.
   * @returns A promise that resolves once stored, and rejects if the
   *   commit failed (before writing, or after: then it is stored).
   */
  commit(writes: readonly Action[], batch: number): Promise<void> {
    // Nothing to write: nothing to fail (the KV apply returns at once too).
    if (!writes.some((action) => action.kind === "write")) return Promise.resolve();
    const now = this.#host.now();
    this.#stats.commits++;
    const fate = this.#draw(now);
    let latency = this.#random.int(this.#rates.minLatency, this.#rates.maxLatency);
    if (fate === "slow") latency += this.#random.int(1, this.#rates.maxSlow);
    const at = Math.max(this.#busyUntil, now + latency);
    this.#busyUntil = at;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const pending: Pending = { writes, batch, fate, resolve, reject, done: false };
    this.#pending.push(pending);
    this.#host.at(
      at,
      `${this.#who} commit ${batch} ${DESCRIBE[fate]}`,
      () => this.#finish(pending),
    );
    return promise;
  }

  /**
   * The machine died: the commits it had handed over finish now, each as
   * it was drawn (the store had them), so that none lands after a restart
   * has read the store.
   */
  flush(): void {
    for (const pending of this.#pending.slice()) this.#finish(pending);
    this.#busyUntil = this.#host.now();
  }

  #draw(now: number): Fate {
    if (this.#inOutage(now)) {
      this.#stats.refused++;
      return "refused";
    }
    const rates = this.#rates;
    const roll = this.#random.float();
    if (roll < rates.failBefore) {
      this.#stats.failedBefore++;
      return "before";
    }
    if (roll < rates.failBefore + rates.failAfter) {
      this.#stats.failedAfter++;
      return "after";
    }
    if (roll < rates.failBefore + rates.failAfter + rates.slow) {
      this.#stats.slow++;
      return "slow";
    }
    return "stored";
  }

  #finish(pending: Pending): void {
    if (pending.done) return;
    pending.done = true;
    this.#pending.splice(this.#pending.indexOf(pending), 1);
    const { fate } = pending;
    if (fate === "stored" || fate === "slow" || fate === "after") {
      this.records.apply(pending.writes, pending.batch);
    }
    if (fate === "stored" || fate === "slow") pending.resolve();
    else pending.reject(new Error(ERRORS[fate]));
  }

  #inOutage(at: number): boolean {
    return this.#outages.some((outage) => at >= outage.from && at < outage.until);
  }
}

const DESCRIBE: Record<Fate, string> = {
  stored: "stored",
  slow: "stored (slow)",
  before: "failed before writing",
  after: "written, then failed",
  refused: "refused (outage)",
};

const ERRORS: Record<Exclude<Fate, "stored" | "slow">, string> = {
  before: "No space left on device (os error 28)",
  after: "Connection lost after COMMIT: the outcome is unknown",
  refused: "The store is unavailable",
};
