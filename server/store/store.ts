/**
 * Where the server keeps its durable state: the {@linkcode ServerStore}
 * interface, and {@linkcode openStore}, which picks the backend from the
 * command line. Deno KV (`kv_store.ts`) is the embedded default: one file
 * in the data directory, nothing to set up. PostgreSQL
 * (`postgres_store.ts`) is for a market that must survive losing its
 * machine: synchronous replication and failover are the database's.
 *
 * Every store keeps the same promises, on which the shell's honest
 * commits rest (`shell/commit_queue.ts`):
 *
 * - `apply` is atomic (all of a batch or none), applied in the order it is
 *   called, and harmless to repeat: a batch applied twice leaves what
 *   applying it once does (records are set or deleted by key; the ledger
 *   keeps one entry per transaction).
 * - Only one server writes: {@linkcode ServerStore.claim} takes the store
 *   with a new epoch, and every later `apply` checks that epoch in the same
 *   transaction, so a server that another has taken over from can write
 *   nothing more ({@linkcode Fenced}).
 *
 * @module
 */
import type { Identity } from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import type { LedgerEntry, Mutation, Snapshot } from "../records.ts";

/** Who holds a store, as its owner record says. */
export interface Owner {
  /** Grows by one with every claim. */
  readonly epoch: number;
  /** Who claimed it: host name and process id. */
  readonly holder: string;
  /** Until when (ms since the epoch) the holder's lease runs, unless renewed. */
  readonly until: number;
}

/** Options for {@linkcode ServerStore.claim}. */
export interface ClaimOptions {
  /** Who claims: host name and process id, shown to a standby. */
  readonly holder: string;
  /** How long the lease runs unless renewed (the holder renews it well before). */
  readonly leaseMs: number;
  /**
   * Wait while another holder's lease runs (a standby), rather than fail
   * with {@linkcode StoreBusy}.
   */
  readonly wait?: boolean;
  /**
   * Whether a holder whose lease still runs is known to be gone (a process
   * of this host that no longer exists): its claim is taken at once.
   */
  readonly gone?: (owner: Owner) => boolean;
  /** Ends the wait. */
  readonly signal?: AbortSignal;
  /** Called once when the wait starts, with the holder waited for. */
  readonly onWaiting?: (owner: Owner) => void;
}

/** Another server took the store: this one must write nothing more. */
export class Fenced extends Error {
  constructor(mine: number, owner: Owner | undefined, options?: ErrorOptions) {
    super(
      owner
        ? `Another server (${owner.holder}, epoch ${owner.epoch}) took over the store from this one (epoch ${mine})`
        : `The store's owner record is gone: this server (epoch ${mine}) no longer holds it`,
      options,
    );
    this.name = "Fenced";
  }
}

/** Another server holds a live lease on the store. */
export class StoreBusy extends Error {
  readonly owner: Owner;

  constructor(owner: Owner, options?: ErrorOptions) {
    super(
      `Another server (${owner.holder}) is using this store; start this one with --standby to take over when it stops`,
      options,
    );
    this.name = "StoreBusy";
    this.owner = owner;
  }
}

/** A server's durable state. */
export interface ServerStore extends AsyncDisposable {
  /** Where the state is, for messages: a path or a URL without credentials. */
  readonly where: string;

  /**
   * Takes the store as its one writer, with a new epoch; later applies
   * check it. Waits while another lease runs when `wait` is set.
   *
   * @throws {StoreBusy} If another holder's lease runs and `wait` is not set.
   */
  claim(options: ClaimOptions): Promise<Owner>;

  /**
   * Extends the lease.
   *
   * @throws {Fenced} If another server has claimed the store since.
   */
  renew(): Promise<void>;

  /** Ends the lease, so that a standby takes over at once. */
  release(): Promise<void>;

  /** Reads every stored record into a snapshot for a new machine. */
  load(): Promise<Snapshot>;

  /**
   * The server's identity key pair, made and stored on first use; two
   * callers racing on a new store end up with the same one.
   */
  identity(): Promise<{ identity: Identity; created: boolean }>;

  /** The sessions' replay marks stored before this start, by peer name. */
  marks(): Promise<[string, SessionMark][]>;

  /** Every ledger entry. */
  ledger(): Promise<LedgerEntry[]>;

  /**
   * Applies a batch in one atomic transaction, checking the claim's epoch
   * (when claimed). A departed peer's mark goes with its record.
   *
   * @throws {Fenced} If another server has claimed the store.
   * @throws {Error} If the commit failed or its outcome is unknown.
   */
  apply(
    mutations: readonly Mutation[],
    marks?: readonly (readonly [name: string, mark: SessionMark])[],
  ): Promise<void>;
}

/** Whether a `--store` or `--kv` value names a PostgreSQL database. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}
