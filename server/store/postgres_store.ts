/**
 * The server's durable state in PostgreSQL, for a market that must survive
 * losing its machine: synchronous replication and failover are the
 * database's (a multi-host URL with `target_session_attrs=read-write`
 * reaches the new primary). Real tables (`_postgres_schema.ts`), so an
 * operator can ask the database:
 *
 * ```sql
 * SELECT sum(fee) FROM ledger WHERE outcome = 'completed';
 * ```
 *
 * One connection carries every statement, and applies run one after the
 * other in the order they were called: the shell pipelines commits and
 * relies on that order. An apply called while the one before it was still
 * running fails, without writing, if that one failed, so a later batch
 * never lands before an earlier one that is tried again (the commit queue
 * then applies both again, in order).
 *
 * Each transaction is one simple-protocol message (several statements,
 * which PostgreSQL runs as one transaction): nothing of it can be left
 * behind on a connection that breaks half way, or run outside the
 * transaction on the next one. It also keeps clear of postgres.js's
 * reserved connections (`sql.begin`), whose next write after the
 * database dies throws from a timer and ends the process
 * (porsager/postgres#1208). postgres.js connects again on the next
 * statement after the connection breaks; after a failover that left it on
 * a read-only server, the store opens a new connection.
 *
 * Credentials come from PGUSER and PGPASSWORD, or a password file, never
 * from the URL (a command line is visible to every user of the machine).
 *
 * @module
 */
import postgres from "postgres";
import {
  createIdentity,
  type Identity,
  loadIdentity,
  type StoredIdentity,
} from "../../security/identity.ts";
import type { SessionMark } from "../guard.ts";
import type { LedgerEntry, Mutation, Snapshot } from "../records.ts";
import { parseStoreUrl, readPasswordFile } from "./_postgres_url.ts";
import {
  type BatchPlan,
  ledgerEntry,
  type LedgerRow,
  listingRecord,
  type ListingRow,
  offerRecord,
  type OfferRow,
  peerRecord,
  type PeerRow,
  planBatch,
  requestRecord,
  type RequestRow,
  reservationConflict,
} from "./_postgres_rows.ts";
import { dollarQuote, migrationScript, NEWER_SCHEMA, SCHEMA_VERSION } from "./_postgres_schema.ts";
import { type ClaimOptions, Fenced, type Owner, type ServerStore, StoreBusy } from "./store.ts";
import { abortableSleep } from "./_sleep.ts";

/** How often a waiting standby looks at the lease. */
const STANDBY_POLL_MS = 250;
/** Seconds to wait for a connection unless the URL says (`connect_timeout`). */
const CONNECT_TIMEOUT_S = 10;
/** The SQLSTATE `shop_fence` raises when the epoch moved. */
const FENCED = "SHF01";
/** SQLSTATE: a write on a read-only server (a standby, after a failover). */
const READ_ONLY = "25006";

/** Options of {@linkcode PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** A file whose first line is the password (else PGPASSWORD, as postgres.js reads it). */
  readonly passwordFile?: string;
}

type Sql = postgres.Sql;
type Rows = Record<string, unknown>[];

/** One apply, in the order of calls. */
interface Turn {
  /** Resolves (never rejects) once the apply has settled. */
  done: Promise<void>;
  settled: boolean;
  failure?: unknown;
}

/** The server's PostgreSQL store. */
export class PostgresStore implements ServerStore {
  readonly where: string;
  readonly #connect: () => Sql;
  #sql: Sql;
  #claimed: { epoch: number; holder: string; leaseMs: number } | undefined;
  #last: Turn | undefined;

  /** Where the password came from, for the message when it is refused. */
  #passwordFrom = "PGPASSWORD";

  private constructor(connect: () => Sql, where: string) {
    this.#connect = connect;
    this.#sql = connect();
    this.where = where;
  }

  /**
   * Connects and brings the schema up to date (creating the tables on a
   * new database); nothing else is written.
   *
   * @param url `postgres://[USER@]HOST[:PORT][,HOST2[:PORT2]…]/DATABASE[?sslmode=…&sslrootcert=FILE&target_session_attrs=read-write]`;
   *   the user comes from the URL or PGUSER, the password from PGPASSWORD
   *   or `passwordFile`.
   * @throws {TypeError} If the URL holds a password, or names files that cannot be read.
   * @throws {Error} If the database cannot be reached, or its schema is newer than this code.
   * @example
   * ```ts
   * // PGPASSWORD=… in the environment
   * await using store = await PostgresStore.open(
   *   "postgres://shop@db1,db2/shop?target_session_attrs=read-write&sslmode=verify-full",
   * );
   * ```
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const store = await PostgresStore.#open(url, options);
    try {
      await store.#migrate();
    } catch (error) {
      await store[Symbol.asyncDispose]();
      throw error;
    }
    return store;
  }

  /**
   * Connects to a store a server has set up, changing nothing (for
   * `shop server ledger` and `key`).
   *
   * @throws {Deno.errors.NotFound} If the database has no shop tables.
   * @throws {Error} If its schema is not this code's.
   */
  static async openExisting(
    url: string,
    options: PostgresStoreOptions = {},
  ): Promise<PostgresStore> {
    const store = await PostgresStore.#open(url, options);
    try {
      const [table] = await store.#query(
        `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
      );
      const version = table?.present
        ? (await store.#query(`SELECT max(version) AS version FROM schema_migrations`))[0]
          ?.version as number | null | undefined
        : undefined;
      if (version === null || version === undefined) {
        throw new Deno.errors.NotFound(
          `No shop store in ${store.where}: start a server on it first (it creates the tables)`,
        );
      }
      if (version !== SCHEMA_VERSION) {
        throw new Error(
          `The store in ${store.where} has schema version ${version}, this shop uses ${SCHEMA_VERSION}: start a server of this version on it to migrate it`,
        );
      }
    } catch (error) {
      await store[Symbol.asyncDispose]();
      throw error;
    }
    return store;
  }

  static async #open(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const parsed = parseStoreUrl(url);
    const password = options.passwordFile === undefined
      ? undefined
      : await readPasswordFile(options.passwordFile);
    const connect = () =>
      postgres(parsed.url, {
        // One connection: statements reach the database in the order they are made.
        max: 1,
        ssl: parsed.ssl,
        ...(parsed.params.has("connect_timeout") ? {} : { connect_timeout: CONNECT_TIMEOUT_S }),
        ...(password === undefined ? {} : { password }),
        onnotice: () => {},
        // Reconnect soon after a failover (postgres.js's own pauses grow to 20 s):
        // 50 ms, doubling, at most a second.
        backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
        connection: {
          application_name: parsed.params.get("application_name") ?? "shop server",
        },
      });
    const store = new PostgresStore(connect, parsed.where);
    store.#passwordFrom = options.passwordFile !== undefined
      ? `the file ${options.passwordFile}`
      : Deno.env.get("PGPASSWORD") !== undefined
      ? "PGPASSWORD"
      : "nowhere (set PGPASSWORD or give --store-password-file)";
    return store;
  }

  /**
   * Runs one message of SQL (several statements run as one transaction).
   *
   * @returns The rows of its last statement.
   */
  async #query(text: string): Promise<Rows> {
    let results: unknown;
    try {
      results = await this.#sql.unsafe(text);
    } catch (error) {
      throw this.#failure(error);
    }
    const all = results as unknown[];
    // Several statements: one result each; one statement: its rows.
    return (all.length > 0 && Array.isArray(all[0]) ? all.at(-1) : all) as Rows;
  }

  /** The rows of each statement of a message of several. */
  async #queryAll(text: string): Promise<Rows[]> {
    try {
      return await this.#sql.unsafe(text) as unknown as Rows[];
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /** A database error as this store reports it, saying where the store is. */
  #failure(error: unknown): Error {
    const code = (error as { code?: unknown }).code;
    if (code === READ_ONLY) {
      // A failover left this connection on a standby: the next one finds the primary.
      const old = this.#sql;
      this.#sql = this.#connect();
      void old.end({ timeout: 1 }).catch(() => {});
    }
    const message = inWords(error, this.#passwordFrom);
    return new Error(`Cannot use the PostgreSQL store ${this.where}: ${message}`, {
      cause: error,
    });
  }

  /** Applies the migrations not yet applied: one transaction under an advisory lock. */
  async #migrate(): Promise<void> {
    try {
      await this.#query(migrationScript());
    } catch (error) {
      if ((error as Error).cause && codeOf(error) === NEWER_SCHEMA) {
        throw new Error(
          `The store in ${this.where} has ${
            ((error as Error).cause as Error).message
          }: run a newer shop`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** The schema versions applied, with when (for operators and tests). */
  async migrations(): Promise<{ version: number; name: string; appliedAt: Date }[]> {
    const rows = await this.#query(
      `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`,
    );
    return rows.map((row) => ({
      version: row.version as number,
      name: row.name as string,
      appliedAt: row.applied_at as Date,
    }));
  }

  // The owner

  /**
   * Takes the store with a new epoch when no lease runs (by the database's
   * clock). A standby (`wait`) keeps looking through a database outage.
   */
  async claim(options: ClaimOptions): Promise<Owner> {
    let told = false;
    for (;;) {
      options.signal?.throwIfAborted();
      let current: { owner: Owner; remaining: number } | undefined;
      try {
        const [taken] = await this.#query(`
          UPDATE owner
          SET epoch = epoch + 1, holder = ${dollarQuote(options.holder)},
            lease_until = now() + ${int(options.leaseMs)} * interval '1 millisecond'
          WHERE lease_until <= now()
          RETURNING epoch::float8 AS epoch, holder, shop_ms(lease_until)::float8 AS until`);
        if (taken) {
          const owner = ownerOf(taken);
          this.#claimed = { epoch: owner.epoch, holder: owner.holder, leaseMs: options.leaseMs };
          return owner;
        }
        current = await this.#owner();
      } catch (error) {
        if (!options.wait || !isTransient(error)) throw error;
        await abortableSleep(STANDBY_POLL_MS, options.signal);
        continue;
      }
      if (!current) throw this.#ownerMissing();
      if (current.remaining <= 0) continue; // it ran out meanwhile
      if (options.gone?.(current.owner)) {
        // Its holder has ended (killed, on this host): taken at once, if
        // nobody took it meanwhile.
        const [taken] = await this.#query(`
          UPDATE owner
          SET epoch = epoch + 1, holder = ${dollarQuote(options.holder)},
            lease_until = now() + ${int(options.leaseMs)} * interval '1 millisecond'
          WHERE epoch = ${int(current.owner.epoch)}
          RETURNING epoch::float8 AS epoch, holder, shop_ms(lease_until)::float8 AS until`);
        if (taken) {
          const owner = ownerOf(taken);
          this.#claimed = { epoch: owner.epoch, holder: owner.holder, leaseMs: options.leaseMs };
          return owner;
        }
        continue;
      }
      if (!options.wait) throw new StoreBusy(current.owner);
      if (!told) options.onWaiting?.(current.owner);
      told = true;
      await abortableSleep(Math.min(STANDBY_POLL_MS, current.remaining + 1), options.signal);
    }
  }

  async renew(): Promise<void> {
    const claimed = this.#claimed;
    if (!claimed) return;
    const renewed = await this.#query(`
      UPDATE owner SET lease_until = now() + ${int(claimed.leaseMs)} * interval '1 millisecond'
      WHERE epoch = ${int(claimed.epoch)}
      RETURNING epoch`);
    if (renewed.length === 0) throw new Fenced(claimed.epoch, (await this.#owner())?.owner);
  }

  async release(): Promise<void> {
    const claimed = this.#claimed;
    if (!claimed) return;
    this.#claimed = undefined;
    await this.#query(`UPDATE owner SET lease_until = 'epoch' WHERE epoch = ${int(claimed.epoch)}`);
  }

  /** The owner row, and how long (ms, by the database's clock) its lease still runs. */
  async #owner(): Promise<{ owner: Owner; remaining: number } | undefined> {
    const [row] = await this.#query(`
      SELECT epoch::float8 AS epoch, holder, shop_ms(lease_until)::float8 AS until,
        (extract(epoch FROM lease_until - now()) * 1000)::float8 AS remaining
      FROM owner`);
    return row ? { owner: ownerOf(row), remaining: row.remaining as number } : undefined;
  }

  #ownerMissing(): Error {
    return new Error(
      `The owner row of the store in ${this.where} is missing: restore it with an epoch above any used before (INSERT INTO owner (epoch, holder, lease_until) VALUES (1000, '', 'epoch'))`,
    );
  }

  // Reading

  /** Reads every stored record into a snapshot: all tables as of one moment. */
  async load(): Promise<Snapshot> {
    const [, peers, requests, offers, listings] = await this.#queryAll(`
      SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY;
      SELECT name, ip, udp_port, tcp_port, source_host, source_port,
        shop_ms(registered_at)::float8 AS registered_at, key, key_fingerprint, more
      FROM peers ORDER BY name COLLATE "C";
      SELECT id, buyer, buyer_rq, item, description, max_price::float8 AS max_price, state,
        shop_ms(created_at)::float8 AS created_at, shop_ms(updated_at)::float8 AS updated_at,
        shop_ms(deadline)::float8 AS deadline, contacted, seller, price::float8 AS price, tx,
        reason, more
      FROM requests ORDER BY id COLLATE "C";
      SELECT request, seller, price::float8 AS price, shop_ms(at)::float8 AS at, more
      FROM offers ORDER BY request COLLATE "C", seller COLLATE "C";
      SELECT seller, item_key, item, price::float8 AS price, quantity, description,
        seq::float8 AS seq, shop_ms(at)::float8 AS at, more
      FROM listings ORDER BY seller COLLATE "C", item_key COLLATE "C";`);
    return {
      peers: (peers as unknown as PeerRow[]).map(peerRecord),
      requests: (requests as unknown as RequestRow[]).map(requestRecord),
      offers: (offers as unknown as OfferRow[]).map(offerRecord),
      listings: (listings as unknown as ListingRow[]).map(listingRecord),
    };
  }

  /** Every ledger entry: the latest revision of each transaction's, by transaction. */
  async ledger(): Promise<LedgerEntry[]> {
    const rows = await this.#query(`
      SELECT tx, request, buyer_rq, item, price::float8 AS price, fee::float8 AS fee,
        seller_credit::float8 AS seller_credit, buyer, seller, buyer_card, seller_card, outcome,
        reason, shop_ms(at)::float8 AS at, more
      FROM ledger ORDER BY tx COLLATE "C"`);
    return (rows as unknown as LedgerRow[]).map(ledgerEntry);
  }

  /** The sessions' replay marks stored before this start, by peer name. */
  async marks(): Promise<[string, SessionMark][]> {
    const rows = await this.#query(`SELECT name, mark FROM marks ORDER BY name COLLATE "C"`);
    return rows.map((row) => [row.name as string, row.mark as SessionMark]);
  }

  /**
   * The server's identity key pair, made and stored on first use; two
   * callers racing on a new store end up with the same one.
   */
  async identity(): Promise<{ identity: Identity; created: boolean }> {
    const stored = await this.storedIdentity();
    if (stored) return { identity: await loadIdentity(stored), created: false };
    const made = await createIdentity();
    if (await this.#insertIdentity(made.stored)) return { identity: made.identity, created: true };
    // Another process stored one meanwhile: the stored one wins.
    const winner = await this.storedIdentity();
    if (!winner) throw new Error("The server key changed while it was being read");
    return { identity: await loadIdentity(winner), created: false };
  }

  /** The stored key pair, or `undefined` before the first start (nothing is made). */
  async storedIdentity(): Promise<StoredIdentity | undefined> {
    const [row] = await this.#query(`SELECT public_jwk, private_jwk FROM identity`);
    return row
      ? { publicJwk: row.public_jwk as JsonWebKey, privateJwk: row.private_jwk as JsonWebKey }
      : undefined;
  }

  /**
   * Stores a key pair copied from another store, unless one is stored.
   *
   * @returns `"stored"`, or `"same"` if this very pair was stored already.
   * @throws {Error} If a different pair is stored: peers know the server by it.
   */
  async importIdentity(stored: StoredIdentity): Promise<"stored" | "same"> {
    if (await this.#insertIdentity(stored)) return "stored";
    const present = await this.storedIdentity();
    const [mine, theirs] = await Promise.all([loadIdentity(present!), loadIdentity(stored)]);
    if (mine.publicText === theirs.publicText) return "same";
    throw new Error(
      `Cannot copy the server key into ${this.where}: it has another (${
        mine.publicText.slice(0, 12)
      }…), which peers may know the server by`,
    );
  }

  async #insertIdentity(stored: StoredIdentity): Promise<boolean> {
    const inserted = await this.#query(`
      INSERT INTO identity (public_jwk, private_jwk)
      VALUES (${jsonb(stored.publicJwk)}, ${jsonb(stored.privateJwk)})
      ON CONFLICT DO NOTHING
      RETURNING 1 AS one`);
    return inserted.length > 0;
  }

  // Writing

  /**
   * Applies a batch in one transaction that first checks the claim's epoch
   * (when claimed); the last write to a key wins. Repeating a batch
   * changes nothing more.
   *
   * @throws {Fenced} If another server has claimed the store.
   * @throws {RangeError} If a value does not fit its column (nothing is written).
   * @throws {Error} If a search would hold an item another holds, if the
   *   apply called before this one failed, or if the commit failed or its
   *   outcome is unknown.
   */
  apply(
    mutations: readonly Mutation[],
    marks: readonly (readonly [name: string, mark: SessionMark])[] = [],
  ): Promise<void> {
    const before = this.#last;
    const turn: Turn = { done: Promise.resolve(), settled: false };
    const run = (async () => {
      try {
        if (before && !before.settled) {
          await before.done;
          if (before.failure !== undefined) {
            if (before.failure instanceof Fenced) throw before.failure;
            throw new Error("Not applied: the commit before it failed", { cause: before.failure });
          }
        }
        if (mutations.length === 0 && marks.length === 0) return;
        await this.#commit(await planBatch(mutations, marks));
      } catch (error) {
        turn.failure = error;
        throw error;
      } finally {
        turn.settled = true;
      }
    })();
    turn.done = run.then(() => {}, () => {});
    this.#last = turn;
    return run;
  }

  async #commit(plan: BatchPlan): Promise<void> {
    const claimed = this.#claimed;
    const statements = [
      ...(claimed ? [`SELECT shop_fence(${int(claimed.epoch)})`] : []),
      ...writeStatements(plan),
    ];
    try {
      await this.#query(statements.join(";\n"));
    } catch (error) {
      const code = codeOf(error);
      if (code === FENCED && claimed) throw new Fenced(claimed.epoch, (await this.#owner())?.owner);
      if (code === "23505" && constraintOf(error) === "reservations_pkey") {
        throw await this.#conflict(plan, error);
      }
      throw error;
    }
  }

  /** Which of a batch's reservations another search holds, as the error to throw. */
  async #conflict(plan: BatchPlan, error: unknown): Promise<Error> {
    const held = await this.#query(`
      SELECT r.seller, r.item_key, r.request
      FROM reservations r
      JOIN jsonb_to_recordset(${jsonb(plan.reservations)}) AS x(seller text, item_key text)
        USING (seller, item_key)`);
    const released = new Set(plan.released);
    for (const row of held) {
      if (released.has(row.request as string)) continue;
      const wanted = plan.reservations.find((r) =>
        r.seller === row.seller && r.item_key === row.item_key
      );
      if (wanted) return reservationConflict(wanted, row.request as string);
    }
    return error as Error;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#sql.end({ timeout: 5 });
  }
}

/** The statements of a batch's writes, in the order they run. */
function writeStatements(plan: BatchPlan): string[] {
  const out: string[] = [];
  const { peers, requests, offers, listings, marks } = plan;
  const keys = (values: readonly string[]) =>
    `(SELECT value FROM jsonb_array_elements_text(${jsonb(values)}))`;
  if (peers.deletes.length > 0) out.push(`DELETE FROM peers WHERE name IN ${keys(peers.deletes)}`);
  if (peers.saves.length > 0) {
    out.push(`
      INSERT INTO peers (name, ip, udp_port, tcp_port, source_host, source_port, registered_at,
        key, key_fingerprint, more)
      SELECT name, ip, udp_port, tcp_port, source_host, source_port, shop_ts(registered_at),
        key, key_fingerprint, more
      FROM jsonb_to_recordset(${jsonb(peers.saves)}) AS x(name text, ip text,
        udp_port integer, tcp_port integer, source_host text, source_port integer,
        registered_at bigint, key text, key_fingerprint text, more jsonb)
      ON CONFLICT (name) DO UPDATE SET ip = excluded.ip, udp_port = excluded.udp_port,
        tcp_port = excluded.tcp_port, source_host = excluded.source_host,
        source_port = excluded.source_port, registered_at = excluded.registered_at,
        key = excluded.key, key_fingerprint = excluded.key_fingerprint, more = excluded.more`);
  }
  // Marks: those of the batch first, then a departed peer's goes with it (as in KV).
  if (marks.saves.length > 0) {
    out.push(`
      INSERT INTO marks (name, mark)
      SELECT name, mark FROM jsonb_to_recordset(${jsonb(marks.saves)}) AS x(name text, mark jsonb)
      ON CONFLICT (name) DO UPDATE SET mark = excluded.mark`);
  }
  if (marks.deletes.length > 0) out.push(`DELETE FROM marks WHERE name IN ${keys(marks.deletes)}`);
  // Every search written gives up its reservation; those that hold one take it anew.
  if (plan.released.length > 0) {
    out.push(`DELETE FROM reservations WHERE request IN ${keys(plan.released)}`);
  }
  if (requests.deletes.length > 0) {
    out.push(`DELETE FROM requests WHERE id IN ${keys(requests.deletes)}`);
  }
  if (requests.saves.length > 0) {
    out.push(`
      INSERT INTO requests (id, buyer, buyer_rq, item, description, max_price, state, created_at,
        updated_at, deadline, contacted, seller, price, tx, reason, more)
      SELECT id, buyer, buyer_rq, item, description, max_price, state, shop_ts(created_at),
        shop_ts(updated_at), shop_ts(deadline), contacted, seller, price, tx, reason, more
      FROM jsonb_to_recordset(${jsonb(requests.saves)}) AS x(id text, buyer text,
        buyer_rq text, item text, description text, max_price numeric, state text,
        created_at bigint, updated_at bigint, deadline bigint, contacted integer, seller text,
        price numeric, tx text, reason text, more jsonb)
      ON CONFLICT (id) DO UPDATE SET buyer = excluded.buyer, buyer_rq = excluded.buyer_rq,
        item = excluded.item, description = excluded.description,
        max_price = excluded.max_price, state = excluded.state,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        deadline = excluded.deadline, contacted = excluded.contacted,
        seller = excluded.seller, price = excluded.price, tx = excluded.tx,
        reason = excluded.reason, more = excluded.more`);
  }
  // A second holder of an item breaks the primary key: the whole batch fails.
  if (plan.reservations.length > 0) {
    out.push(`
      INSERT INTO reservations (seller, item_key, request)
      SELECT seller, item_key, request
      FROM jsonb_to_recordset(${jsonb(plan.reservations)})
        AS x(seller text, item_key text, request text)`);
  }
  if (offers.deletes.length > 0) {
    const rows = offers.deletes.map(([request, seller]) => ({ request, seller }));
    out.push(`
      DELETE FROM offers o
      USING jsonb_to_recordset(${jsonb(rows)}) AS x(request text, seller text)
      WHERE o.request = x.request AND o.seller = x.seller`);
  }
  if (offers.saves.length > 0) {
    out.push(`
      INSERT INTO offers (request, seller, price, at, more)
      SELECT request, seller, price, shop_ts(at), more
      FROM jsonb_to_recordset(${jsonb(offers.saves)})
        AS x(request text, seller text, price numeric, at bigint, more jsonb)
      ON CONFLICT (request, seller) DO UPDATE SET price = excluded.price, at = excluded.at,
        more = excluded.more`);
  }
  if (listings.deletes.length > 0) {
    const rows = listings.deletes.map(([seller, item_key]) => ({ seller, item_key }));
    out.push(`
      DELETE FROM listings l
      USING jsonb_to_recordset(${jsonb(rows)}) AS x(seller text, item_key text)
      WHERE l.seller = x.seller AND l.item_key = x.item_key`);
  }
  if (listings.saves.length > 0) {
    out.push(`
      INSERT INTO listings (seller, item_key, item, price, quantity, description, seq, at, more)
      SELECT seller, item_key, item, price, quantity, description, seq, shop_ts(at), more
      FROM jsonb_to_recordset(${jsonb(listings.saves)}) AS x(seller text, item_key text,
        item text, price numeric, quantity integer, description text, seq bigint, at bigint,
        more jsonb)
      ON CONFLICT (seller, item_key) DO UPDATE SET item = excluded.item,
        price = excluded.price, quantity = excluded.quantity,
        description = excluded.description, seq = excluded.seq, at = excluded.at,
        more = excluded.more`);
  }
  // The ledger: a new revision only where the entry differs from the latest.
  if (plan.ledger.length > 0) {
    out.push(`
      INSERT INTO ledger_entries (tx, revision, request, buyer_rq, item, price, fee,
        seller_credit, buyer, seller, buyer_card, seller_card, outcome, reason, at, more)
      SELECT x.tx, coalesce(l.revision, 0) + 1, x.request, x.buyer_rq, x.item, x.price, x.fee,
        x.seller_credit, x.buyer, x.seller, x.buyer_card, x.seller_card, x.outcome, x.reason,
        shop_ts(x.at), x.more
      FROM jsonb_to_recordset(${jsonb(plan.ledger)}) AS x(tx text, request text,
        buyer_rq text, item text, price numeric, fee numeric, seller_credit numeric,
        buyer text, seller text, buyer_card text, seller_card text, outcome text, reason text,
        at bigint, more jsonb)
      LEFT JOIN LATERAL (
        SELECT * FROM ledger_entries e WHERE e.tx = x.tx ORDER BY e.revision DESC LIMIT 1
      ) l ON true
      WHERE l.tx IS NULL
        OR (l.request, l.buyer_rq, l.item, l.price, l.fee, l.seller_credit, l.buyer, l.seller,
          l.buyer_card, l.seller_card, l.outcome, l.reason, l.at, l.more)
        IS DISTINCT FROM (x.request, x.buyer_rq, x.item, x.price, x.fee, x.seller_credit,
          x.buyer, x.seller, x.buyer_card, x.seller_card, x.outcome, x.reason, shop_ts(x.at),
          x.more)`);
  }
  return out;
}

/** A value as a jsonb literal (dollar-quoted: nothing in it can end the literal). */
function jsonb(value: unknown): string {
  return `${dollarQuote(JSON.stringify(value))}::jsonb`;
}

/** A whole number for SQL text. */
function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`Expected a whole number, not ${value}`);
  return String(value);
}

function ownerOf(row: Record<string, unknown>): Owner {
  return { epoch: row.epoch as number, holder: row.holder as string, until: row.until as number };
}

/** The SQLSTATE of a database error, or of the one an error of this store wraps. */
function codeOf(error: unknown): unknown {
  const inner = (error as { cause?: unknown }).cause ?? error;
  return (inner as { code?: unknown }).code;
}

function constraintOf(error: unknown): unknown {
  const inner = (error as { cause?: unknown }).cause ?? error;
  return (inner as { constraint_name?: unknown }).constraint_name;
}

/**
 * Whether an error may pass by trying again: the connection broke or could
 * not be made, or the server is starting, stopping or read-only (a
 * failover in progress).
 */
function isTransient(error: unknown): boolean {
  const code = codeOf(error);
  if (typeof code !== "string") return false;
  return /^(CONNECT|CONNECTION_|E[A-Z]+$)/.test(code) || code.startsWith("08") ||
    code === "57P01" || code === "57P02" || code === "57P03" || code === READ_ONLY;
}

/**
 * A connection error in words: what the client says, and what it means for
 * the one starting the server.
 */
function inWords(error: unknown, passwordFrom: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const at = /(\d{1,3}(?:\.\d{1,3}){3}|[\w.-]+):(\d+)/.exec(message)?.[0];
  if (code === "ECONNREFUSED") {
    return `nothing answers at ${at ?? "that address"} (is PostgreSQL running there?)`;
  }
  if (code === "ENOTFOUND") {
    const host = /ENOTFOUND (\S+)/.exec(message)?.[1];
    return `the host ${host ?? "in the URL"} does not resolve`;
  }
  if (code === "28P01") return `${message} (the password came from ${passwordFrom})`;
  return message;
}
