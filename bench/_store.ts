/**
 * The stores the bench runs `shop server` on (issue 19): Deno KV in the
 * data directory (the default, nothing to set up) and PostgreSQL
 * (`--store postgres://…`, one PostgreSQL 15 for the whole run, started
 * by `_postgres_host.ts` with `startPostgres()` from `tests/_postgres.ts`,
 * and a fresh database for every server the bench starts afresh).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { readLines } from "../peer/lines.ts";
import postgres from "postgres";
import { postgresMissing } from "../tests/_postgres.ts";
import type { PostgresHostInfo } from "./_postgres_host.ts";
import { BenchError, progress, within } from "./_stats.ts";

/** The stores `--store` names. */
export const STORE_KINDS = ["kv", "postgres"] as const;
export type StoreKind = typeof STORE_KINDS[number];

/** How the tables and results name each store. */
export const STORE_LABELS: Record<StoreKind, string> = { kv: "Deno KV", postgres: "PostgreSQL" };

/** One store for one server (and its restarts): what to pass, and how big it is. */
export interface StoreInstance extends AsyncDisposable {
  readonly kind: StoreKind;
  /** More `shop server` options: none for KV, `--store URL` for PostgreSQL. */
  readonly serverArgs: readonly string[];
  /** More environment for `shop server`: the password (never on its command line). */
  readonly serverEnv: Readonly<Record<string, string>>;
  /**
   * What the store holds, in bytes: the KV files in the data directory
   * (`server.kv` and its WAL), or `pg_database_size` of the database.
   */
  storedBytes(dataDir: string): Promise<number>;
  /** PostgreSQL only: `pg_total_relation_size` of each table (indexes and TOAST included). */
  tableBytes(): Promise<Record<string, number> | undefined>;
}

/** A store kind the bench can start fresh instances of. */
export interface BenchStore extends AsyncDisposable {
  readonly kind: StoreKind;
  readonly label: string;
  /** What the results say about it (for PostgreSQL: version and settings). */
  readonly detail: Record<string, unknown>;
  /** A fresh, empty store. */
  fresh(): Promise<StoreInstance>;
}

/**
 * Parses `--store kv|postgres|both`.
 *
 * @throws {RangeError} For anything else.
 */
export function parseStores(value: string): StoreKind[] {
  if (value === "both") return [...STORE_KINDS];
  if ((STORE_KINDS as readonly string[]).includes(value)) return [value as StoreKind];
  throw new RangeError(`Unknown store "${value}": expected kv, postgres or both`);
}

/** Why PostgreSQL cannot run here, or `undefined` when it can. */
export function postgresUnavailable(): string | undefined {
  return postgresMissing();
}

/** Opens a store kind for the run: for PostgreSQL, starts the database. */
export async function openStore(kind: StoreKind): Promise<BenchStore> {
  return kind === "kv" ? new KvBenchStore() : await PostgresBenchStore.start();
}

class KvBenchStore implements BenchStore {
  readonly kind = "kv";
  readonly label = STORE_LABELS.kv;
  readonly detail = { where: "DIR/server.kv (the default)" };

  fresh(): Promise<StoreInstance> {
    return Promise.resolve({
      kind: "kv",
      serverArgs: [],
      serverEnv: {},
      storedBytes: kvBytes,
      tableBytes: () => Promise.resolve(undefined),
      [Symbol.asyncDispose]: () => Promise.resolve(),
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

/** The size of `server.kv` and its `-wal` and `-shm` files in a data directory. */
async function kvBytes(dataDir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dataDir)) {
    if (entry.isFile && entry.name.startsWith("server.kv")) {
      total += (await Deno.stat(`${dataDir}/${entry.name}`)).size;
    }
  }
  return total;
}

const HOST = fileURLToPath(new URL("./_postgres_host.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/** PostgreSQL 15 in a child process (`_postgres_host.ts`), a database per fresh store. */
class PostgresBenchStore implements BenchStore {
  readonly kind = "postgres";
  readonly label = STORE_LABELS.postgres;
  detail: Record<string, unknown> = {};
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stderr: Promise<string>;
  readonly #stdout: AsyncIterator<string>;
  #info: PostgresHostInfo | undefined;
  #admin: postgres.Sql | undefined;
  #databases = 0;

  private constructor() {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--frozen", `--config=${CONFIG}`, "--allow-all", HOST],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#stderr = new Response(this.#child.stderr).text().catch(() => "");
    this.#stdout = readLines(this.#child.stdout)[Symbol.asyncIterator]();
  }

  static async start(): Promise<PostgresBenchStore> {
    const store = new PostgresBenchStore();
    try {
      const started = performance.now();
      const next = await within(store.#stdout.next(), START_TIMEOUT_MS, "PostgreSQL to start");
      const line = next.done ? undefined : next.value;
      if (line === undefined) {
        throw new BenchError(`The PostgreSQL host exited: ${(await store.#stderr).trim()}`);
      }
      const answer = JSON.parse(line) as { ready?: PostgresHostInfo; error?: string };
      if (!answer.ready) throw new BenchError(`Cannot start PostgreSQL: ${answer.error}`);
      store.#info = answer.ready;
      store.#admin = postgres({
        host: "127.0.0.1",
        port: answer.ready.port,
        database: "postgres",
        user: "postgres",
        password: answer.ready.superuserPassword,
        max: 1,
        connect_timeout: 10,
        onnotice: () => {},
      });
      const [row] = await store.#admin<{ version: string }[]>`SELECT version() AS version`;
      const settings = await store.#admin<{ name: string; setting: string }[]>`
        SELECT name, current_setting(name) AS setting FROM pg_settings
        WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_level',
                       'max_wal_size', 'full_page_writes')`;
      store.detail = {
        version: row?.version,
        port: answer.ready.port,
        settings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
        startMs: Math.round(performance.now() - started),
      };
      progress(
        `PostgreSQL: ${String(row?.version).split(" on ")[0]} on 127.0.0.1:${answer.ready.port} ` +
          `(started in ${store.detail.startMs} ms; a fresh database for each server)`,
      );
      return store;
    } catch (error) {
      await store[Symbol.asyncDispose]();
      throw error;
    }
  }

  async fresh(): Promise<StoreInstance> {
    const info = this.#info!;
    const admin = this.#admin!;
    const name = `bench_${++this.#databases}`;
    // Names made here and the user from the host: no quoting needed beyond this.
    await admin.unsafe(`CREATE DATABASE "${name}" OWNER "${info.user}"`);
    const inDatabase = postgres({
      host: "127.0.0.1",
      port: info.port,
      database: name,
      user: "postgres",
      password: info.superuserPassword,
      max: 1,
      connect_timeout: 10,
      onnotice: () => {},
    });
    return {
      kind: "postgres",
      serverArgs: ["--store", `postgres://${info.user}@127.0.0.1:${info.port}/${name}`],
      serverEnv: { PGPASSWORD: info.password },
      async storedBytes() {
        const [row] = await admin<{ bytes: string }[]>`
          SELECT pg_database_size(${name}::name) AS bytes`;
        return Number(row?.bytes);
      },
      async tableBytes() {
        const rows = await inDatabase<{ name: string; bytes: string }[]>`
          SELECT relname AS name, pg_total_relation_size(relid) AS bytes
          FROM pg_catalog.pg_statio_user_tables ORDER BY relname`;
        return Object.fromEntries(rows.map((row) => [row.name, Number(row.bytes)]));
      },
      async [Symbol.asyncDispose]() {
        await inDatabase.end({ timeout: 1 }).catch(() => {});
        // WITH (FORCE): a server killed by a failed scenario may leave a session.
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
      },
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#admin?.end({ timeout: 1 }).catch(() => {});
    // The end of its standard input tells the host to stop PostgreSQL and remove its files.
    await this.#stdin.close().catch(() => {});
    try {
      await within(this.#child.status, STOP_TIMEOUT_MS, "PostgreSQL to stop");
    } catch {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Gone.
      }
      await within(this.#child.status, STOP_TIMEOUT_MS, "the PostgreSQL host to exit on SIGTERM")
        .catch(() => progress(`PostgreSQL: the host did not stop; its files: ${this.#info?.dir}`));
    }
    await this.#stdout.return?.().catch(() => {});
    await this.#stderr;
  }
}
