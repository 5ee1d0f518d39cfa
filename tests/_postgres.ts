/**
 * Real PostgreSQL for the tests of the PostgreSQL store (issue 19): one
 * instance on 127.0.0.1 with a free port, its own data directory in a fresh
 * temporary directory, a database and a user that logs in with a password
 * (SCRAM over TCP). The instance can be stopped, killed with SIGKILL and
 * started again on the same data.
 *
 * Debian's `postgresql` package provides the binaries. `initdb` refuses to
 * run as root, so when the tests run as root every PostgreSQL process runs
 * as the `postgres` user (through `setpriv`, which execs, so the process id
 * we hold is the postmaster's). The helpers below are shared with
 * `_patroni.ts`.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";

/** Where Debian's postgresql-15 package puts the server binaries. */
export const PG_BIN = Deno.env.get("SHOP_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

/** What to install when the binaries are missing. */
const INSTALL_HINT = "install it with `apt-get install -y postgresql` " +
  "(or set SHOP_PG_BIN to a directory holding initdb and postgres)";

/** The user that runs PostgreSQL when the tests run as root. */
const OS_USER = "postgres";

/** Bounds for every wait; guards against hanging, not speed assertions. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

/** Thrown when a test needs PostgreSQL (or Patroni) and this machine lacks it. */
export class ServiceMissing extends Error {
  override name = "ServiceMissing";
}

/** Why the PostgreSQL tests cannot run here, or `undefined` when they can. */
export function postgresMissing(): string | undefined {
  for (const binary of ["initdb", "postgres"]) {
    try {
      Deno.statSync(join(PG_BIN, binary));
    } catch {
      return `No PostgreSQL at ${PG_BIN} (${binary} is missing); ${INSTALL_HINT}`;
    }
  }
  if (Deno.uid() === 0 && osUser() === undefined) {
    return `No "${OS_USER}" user to run PostgreSQL as (the tests run as root); ${INSTALL_HINT}`;
  }
  return undefined;
}

/** Whether this machine can run the PostgreSQL tests. */
export function postgresAvailable(): Promise<boolean> {
  return Promise.resolve(postgresMissing() === undefined);
}

/**
 * `Deno.test` options for a test that needs a service: ignored, with a
 * warning that says what to install, when the service is missing; but on CI
 * (`CI=true`) a missing service must not pass unseen, so the test runs and
 * fails with the same message (`startPostgres` throws it).
 *
 * @param test The test's name, for the warning.
 * @param missing Why the service is missing, from {@linkcode postgresMissing}
 *   (the default) or `patroniMissing`.
 * @example
 * ```ts
 * Deno.test({ name: "store keeps a row", ...requirePostgres("store keeps a row") }, async () => {
 *   await using db = await startPostgres();
 * });
 * ```
 */
export function requirePostgres(
  test: string,
  missing: string | undefined = postgresMissing(),
): { ignore: boolean } {
  if (missing === undefined) return { ignore: false };
  if (Deno.env.get("CI") === "true") {
    console.error(`${test}: ${missing}; CI=true, so the test runs and fails`);
    return { ignore: false };
  }
  console.warn(`${test}: skipped: ${missing}`);
  return { ignore: true };
}

/** Throws {@linkcode ServiceMissing} when a service is missing. */
export function assertAvailable(missing: string | undefined): void {
  if (missing !== undefined) throw new ServiceMissing(missing);
}

/** The `postgres` user's ids, from /etc/passwd. */
function osUser(): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = Deno.readTextFileSync("/etc/passwd");
  } catch {
    return undefined;
  }
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === OS_USER) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * A fresh temporary directory that PostgreSQL's user owns (mode 0700, so
 * the Unix sockets inside are reachable by that user and root only).
 */
export async function serviceDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await chownToService(dir);
  return dir;
}

/** Gives a file or directory to PostgreSQL's user (when running as root). */
export async function chownToService(path: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  const user = osUser();
  if (!user) throw new ServiceMissing(`No "${OS_USER}" user; ${INSTALL_HINT}`);
  await Deno.chown(path, user.uid, user.gid);
}

/** Writes a file only PostgreSQL's user (and root) can read. */
export async function writeServiceFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await chownToService(path);
}

/**
 * A command run as PostgreSQL's user when we are root (setpriv execs the
 * program, so the child's pid is the program's), with a clean environment.
 */
export function serviceCommand(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Deno.Command {
  const asUser = Deno.uid() === 0
    ? ["setpriv", `--reuid=${OS_USER}`, `--regid=${OS_USER}`, "--init-groups", "--", program]
    : [program];
  return new Deno.Command(asUser[0]!, {
    args: [...asUser.slice(1), ...args],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...options.env },
    cwd: options.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
}

/** Runs a short command as PostgreSQL's user; throws with its output when it fails. */
export async function runAsService(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<void> {
  const command = serviceCommand(program, args, options);
  const { code, stderr } = await command.output();
  if (code !== 0) {
    throw new Error(
      `Command ${program} ${args.join(" ")} failed with exit code ${code}: ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
}

/**
 * A long-running child whose standard error goes to a log file; the log's
 * tail goes into error messages.
 */
export class LoggedProcess {
  readonly #child: Deno.ChildProcess;
  readonly #logging: Promise<void>;
  #status: Deno.CommandStatus | undefined;
  readonly ended: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess, logging: Promise<void>, readonly log: string) {
    this.#child = child;
    this.#logging = logging;
    this.ended = child.status.then((status) => this.#status = status);
  }

  /** Spawns a command (with `stderr: "piped"`) and appends its standard error to `log`. */
  static async spawn(command: Deno.Command, log: string): Promise<LoggedProcess> {
    const file = await Deno.open(log, { create: true, append: true });
    const child = command.spawn();
    return new LoggedProcess(child, copy(child.stderr, file), log);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The exit status once the process has ended, else `undefined`. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Sends a signal (a no-op when the process has ended). */
  signal(signal: Deno.Signal): void {
    if (this.#status) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It ended meanwhile.
    }
  }

  /**
   * Waits for the process (and its log, which descendants holding the pipe
   * keep open until they end) within a bound.
   *
   * @returns Whether it ended in time.
   */
  async finish(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) =>
      timer = setTimeout(() => resolve(false), timeoutMs)
    );
    try {
      return await Promise.race([
        Promise.all([this.ended, this.#logging]).then(() => true),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last lines of the log, for an error message. */
  async tail(lines = 30): Promise<string> {
    try {
      const text = await Deno.readTextFile(this.log);
      return text.trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

/**
 * Copies a stream into a file chunk by chunk as it comes (`pipeTo` into
 * `file.writable` held the text back until the stream ended), then closes
 * the file.
 */
async function copy(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  try {
    for await (const chunk of stream) {
      for (let written = 0; written < chunk.length;) {
        written += await file.write(chunk.subarray(written));
      }
    }
  } catch {
    // The log is a help for reading failures; losing its end is no failure.
  } finally {
    file.close();
  }
}

/**
 * Free TCP ports on 127.0.0.1, all held at once while they are picked so
 * none is handed out twice.
 */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** The live processes whose working directory or arguments lie in `dir`. */
async function processesIn(dir: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      // A zombie has ended; only its parent's wait() is missing.
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const inside = (path: string) => path === dir || path.includes(`${dir}/`);
      const args = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
      let cwd = "";
      try {
        cwd = await Deno.readLink(`/proc/${pid}/cwd`);
      } catch {
        // Not ours to read, or gone.
      }
      if (inside(cwd) || args.some(inside)) found.push(pid);
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

/**
 * SIGKILLs every process that runs in `dir` or names it in its arguments
 * (PostgreSQL's backends run in their data directory; Patroni and etcd name
 * their configuration or data directory) and waits until they are gone.
 *
 * @returns How many processes were killed.
 */
export async function killProcessesIn(dir: string, timeoutMs = STOP_TIMEOUT_MS): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const killed = new Set<number>();
  while (true) {
    const pids = await processesIn(dir);
    if (pids.length === 0) return killed.size;
    if (Date.now() > deadline) {
      throw new Error(
        `Processes ${pids.join(", ")} in ${dir} outlived SIGKILL for ${timeoutMs} ms`,
      );
    }
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
        killed.add(pid);
      } catch {
        // Gone already.
      }
    }
    await delay(POLL_MS);
  }
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    function abort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Polls `probe` until it returns a value other than `undefined`.
 *
 * @throws {Error} After `timeoutMs`, saying what was awaited and, from
 *   `explain`, why it may not have happened.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: {
    timeoutMs: number;
    intervalMs?: number;
    signal?: AbortSignal;
    explain?: () => Promise<string>;
  },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  while (true) {
    options.signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last
        ? ` (last error: ${last instanceof Error ? last.message : String(last)})`
        : "";
      const more = options.explain ? `\n${await options.explain()}` : "";
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${what}${why}${more}`);
    }
    await delay(options.intervalMs ?? 100, options.signal);
  }
}

/** A random password of 32 hex digits (safe inside SQL quotes and URLs). */
export function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Options of {@linkcode startPostgres}. */
export interface PostgresOptions {
  /** The database to create (default `shop`). */
  database?: string;
  /** The user that owns it and logs in with a password (default `shop`). */
  user?: string;
  /** Extra server settings, passed as `-c name=value`. */
  parameters?: Record<string, string>;
  /** Bound on starting (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * One PostgreSQL 15 instance on 127.0.0.1. Credentials never appear in
 * {@linkcode url}: pass {@linkcode env} (`PGPASSWORD`) to the process that
 * connects, or point it at {@linkcode passwordFile}.
 */
export class PostgresInstance implements AsyncDisposable {
  #postmaster: LoggedProcess | undefined;

  private constructor(
    /** The temporary directory holding `data/`, the socket, the log and the password file. */
    readonly dir: string,
    readonly port: number,
    readonly database: string,
    readonly user: string,
    /** The user's password; not in the URL. */
    readonly password: string,
    /** The `postgres` superuser's password, for a test that needs more than the user may do. */
    readonly superuserPassword: string,
    readonly parameters: Record<string, string>,
  ) {}

  /** `postgres://user@127.0.0.1:port/database`, without the password. */
  get url(): string {
    return `postgres://${this.user}@127.0.0.1:${this.port}/${this.database}`;
  }

  /** The environment that gives a client the password (`PGPASSWORD`), never on its command line. */
  get env(): Record<string, string> {
    return { PGPASSWORD: this.password };
  }

  /** A file holding only the password (mode 0600), for a client that reads it from a file. */
  get passwordFile(): string {
    return join(this.dir, "password");
  }

  /** The data directory. */
  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** The server log (the postmaster's standard error, across restarts). */
  get log(): string {
    return join(this.dir, "postgres.log");
  }

  /** The postmaster's process id while it runs. */
  get pid(): number | undefined {
    return this.#postmaster?.status ? undefined : this.#postmaster?.pid;
  }

  /** Creates the data directory, starts the server and creates the user and database. */
  static async create(options: PostgresOptions = {}): Promise<PostgresInstance> {
    assertAvailable(postgresMissing());
    const dir = await serviceDir("shop-pg-");
    const [port] = freePorts(1);
    const instance = new PostgresInstance(
      dir,
      port!,
      options.database ?? "shop",
      options.user ?? "shop",
      randomPassword(),
      randomPassword(),
      options.parameters ?? {},
    );
    try {
      // The client's file, not the server's: it stays ours.
      await Deno.writeTextFile(instance.passwordFile, instance.password, { mode: 0o600 });
      const superuserFile = join(dir, "superuser-password");
      await writeServiceFile(superuserFile, instance.superuserPassword);
      await runAsService(join(PG_BIN, "initdb"), [
        "--pgdata",
        instance.dataDir,
        "--username",
        "postgres",
        "--pwfile",
        superuserFile,
        // Local connections only through the socket in our 0700 directory.
        "--auth-local",
        "trust",
        "--auth-host",
        "scram-sha-256",
        "--encoding",
        "UTF8",
        "--no-instructions",
      ], { cwd: dir });
      await Deno.remove(superuserFile);
      await instance.start(options);
      await instance.#createUser();
    } catch (error) {
      await instance[Symbol.asyncDispose]();
      throw error;
    }
    return instance;
  }

  async #createUser(): Promise<void> {
    const sql = postgres({
      host: "127.0.0.1",
      port: this.port,
      database: "postgres",
      user: "postgres",
      password: this.superuserPassword,
      max: 1,
      connect_timeout: 5,
      onnotice: () => {},
    });
    try {
      // Identifiers and hex passwords need no quoting beyond this.
      await sql.unsafe(`CREATE ROLE "${this.user}" LOGIN PASSWORD '${this.password}'`);
      await sql.unsafe(`CREATE DATABASE "${this.database}" OWNER "${this.user}"`);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  /**
   * Starts the server on the data directory (after {@linkcode stop} or
   * {@linkcode kill}; it runs crash recovery after a kill) and waits until
   * it accepts connections.
   */
  async start(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.pid !== undefined) throw new Error(`PostgreSQL in ${this.dir} is already running`);
    const settings = {
      listen_addresses: "127.0.0.1",
      port: String(this.port),
      unix_socket_directories: this.dir,
      ...this.parameters,
    };
    const postmaster = await LoggedProcess.spawn(
      serviceCommand(
        join(PG_BIN, "postgres"),
        [
          "-D",
          this.dataDir,
          ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
        ],
        { cwd: this.dir },
      ),
      this.log,
    );
    this.#postmaster = postmaster;
    await waitFor(`PostgreSQL in ${this.dir} to accept connections`, async () => {
      if (postmaster.status) {
        throw new Error(
          `PostgreSQL exited with code ${postmaster.status.code}:\n${await postmaster.tail()}`,
        );
      }
      return await this.#ready(postmaster.pid) ? true : undefined;
    }, {
      timeoutMs: options.timeoutMs ?? START_TIMEOUT_MS,
      intervalMs: POLL_MS,
      signal: options.signal,
      explain: () => postmaster.tail(),
    }).catch(async (error) => {
      await this.kill();
      throw error;
    });
  }

  /**
   * Whether the postmaster with this pid reports "ready" in postmaster.pid
   * (line 1 is its pid, line 8 its status).
   */
  async #ready(pid: number): Promise<boolean> {
    try {
      const lines = (await Deno.readTextFile(join(this.dataDir, "postmaster.pid"))).split("\n");
      return Number(lines[0]) === pid && lines[7]?.trim() === "ready";
    } catch {
      return false;
    }
  }

  /** Stops the server cleanly (fast shutdown: SIGINT), or kills it when that takes too long. */
  async stop(): Promise<void> {
    const postmaster = this.#postmaster;
    if (!postmaster) return;
    postmaster.signal("SIGINT");
    if (!await postmaster.finish(STOP_TIMEOUT_MS)) await this.kill();
    this.#postmaster = undefined;
  }

  /**
   * Kills the server as a crash would: SIGKILL to the postmaster, then to
   * every backend still running in the directory (they would notice the
   * postmaster's death and exit, but not at once, and a new postmaster
   * refuses to start while they hold the old shared memory).
   */
  async kill(): Promise<void> {
    this.#postmaster?.signal("SIGKILL");
    await killProcessesIn(this.dir);
    await this.#postmaster?.finish(STOP_TIMEOUT_MS);
    this.#postmaster = undefined;
  }

  /** Stops the server, kills any stray process of it, and removes the directory (kept with SHOP_KEEP_TEST_DATA). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      await killProcessesIn(this.dir);
      await removeDir(this.dir);
    }
  }
}

/** Removes a test's directory, or keeps it for reading when SHOP_KEEP_TEST_DATA is set. */
export async function removeDir(dir: string): Promise<void> {
  if (Deno.env.get("SHOP_KEEP_TEST_DATA")) {
    console.error(`test data kept in ${dir}`);
    return;
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/**
 * Starts a PostgreSQL instance on 127.0.0.1 with a free port, a database and
 * a password-authenticated user; hold it with `await using`.
 *
 * @throws {ServiceMissing} When PostgreSQL is not installed.
 * @example
 * ```ts
 * await using db = await startPostgres();
 * const sql = postgres(db.url, { password: db.password });
 * ```
 */
export function startPostgres(options: PostgresOptions = {}): Promise<PostgresInstance> {
  return PostgresInstance.create(options);
}
