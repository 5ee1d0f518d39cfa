/**
 * A real PostgreSQL 15 for the PostgreSQL store's tests: one instance on
 * 127.0.0.1 with a free port, in a fresh temporary directory, that can be
 * stopped, killed with SIGKILL and started again on the same data. Each
 * test takes a database of its own ({@linkcode TestPostgres.database}).
 *
 * `initdb` refuses to run as root, so as root every PostgreSQL command runs
 * as the `postgres` user. It stays apart from `tests/_postgres.ts` (the
 * e2e and bench starter) for what only the store's own tests need: TLS with
 * a fresh authority, a database per test, and a postmaster run as a child
 * rather than through `pg_ctl`, so that a kill -9 leaves no zombie holding
 * `postmaster.pid`. Folding the two together is left to do.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";

/** Where Debian's postgresql-15 package puts the server binaries. */
const PG_BIN = Deno.env.get("SHOP_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
const OS_USER = "postgres";
const INSTALL_HINT = "install it with `apt-get install -y postgresql`";

/** Why PostgreSQL cannot run here, or `undefined` when it can. */
export function postgresMissing(): string | undefined {
  for (const binary of ["initdb", "postgres"]) {
    try {
      Deno.statSync(join(PG_BIN, binary));
    } catch {
      return `No PostgreSQL at ${PG_BIN} (${binary} is missing); ${INSTALL_HINT}`;
    }
  }
  if (Deno.uid() === 0 && osUser() === undefined) {
    return `No "${OS_USER}" user to run PostgreSQL as; ${INSTALL_HINT}`;
  }
  return undefined;
}

/**
 * `Deno.test` options for a test that needs PostgreSQL: ignored with a
 * warning that says what to install when it is missing, except on CI
 * (`CI=true`), where the test runs and fails.
 */
export function requirePostgres(): { ignore: boolean } {
  const missing = postgresMissing();
  if (missing === undefined) return { ignore: false };
  if (Deno.env.get("CI") === "true") return { ignore: false };
  console.warn(`PostgreSQL store tests skipped: ${missing}`);
  return { ignore: true };
}

function osUser(): { uid: number; gid: number } | undefined {
  for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === OS_USER) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

async function own(path: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  const user = osUser()!;
  await Deno.chown(path, user.uid, user.gid);
}

/** Runs a PostgreSQL program (as the `postgres` user when root); throws with its output. */
async function run(program: string, args: string[]): Promise<void> {
  const [cmd, ...rest] = Deno.uid() === 0
    ? ["runuser", "-u", OS_USER, "--", join(PG_BIN, program), ...args]
    : [join(PG_BIN, program), ...args];
  const { code, stdout, stderr } = await new Deno.Command(cmd!, {
    args: rest,
    stdin: "null",
    env: { LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
  }).output();
  if (code !== 0) {
    const text = new TextDecoder().decode(stderr).trim() || new TextDecoder().decode(stdout).trim();
    throw new Error(`Command ${program} ${args.join(" ")} failed with exit code ${code}: ${text}`);
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function hex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Options of {@linkcode startPostgres}. */
export interface TestPostgresOptions {
  /** Serve TLS with a fresh CA: its certificate is {@linkcode TestPostgres.caFile}. */
  readonly tls?: boolean;
  /** The password (default: a fresh random one), to share it between instances. */
  readonly password?: string;
  /** More lines for postgresql.conf. */
  readonly settings?: readonly string[];
}

/** One PostgreSQL instance; hold it with `await using`. */
export class TestPostgres implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  /** The login user's password (the superuser `postgres` has the same). */
  readonly password: string;
  #databases = 0;

  private constructor(dir: string, port: number, password: string) {
    this.dir = dir;
    this.port = port;
    this.password = password;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** A file holding only the password. */
  get passwordFile(): string {
    return join(this.dir, "password");
  }

  /** The CA certificate that signed the server's (with `tls`). */
  get caFile(): string {
    return join(this.dir, "ca.pem");
  }

  /** Initialises a cluster in a temporary directory and starts it. */
  static async start(options: TestPostgresOptions = {}): Promise<TestPostgres> {
    // On CI a missing PostgreSQL fails the test rather than skipping it.
    const missing = postgresMissing();
    if (missing) throw new Error(missing);
    const dir = await Deno.makeTempDir({ prefix: "shop-pgstore-" });
    const pg = new TestPostgres(dir, freePort(), options.password ?? hex(16));
    try {
      await own(dir);
      await Deno.writeTextFile(pg.passwordFile, pg.password, { mode: 0o600 });
      await own(pg.passwordFile);
      await run("initdb", [
        "-D",
        pg.dataDir,
        "-U",
        "postgres",
        "-A",
        "scram-sha-256",
        "--pwfile",
        pg.passwordFile,
        "-E",
        "UTF8",
        "--locale",
        "C.UTF-8",
        "--no-instructions",
      ]);
      // Only a crash of the machine would lose what fsync = off leaves in the
      // page cache; a killed server loses nothing it acknowledged (so
      // synchronous_commit stays on).
      const settings = ["fsync = off", "full_page_writes = off"];
      if (options.tls) settings.push(...await pg.#certificates());
      settings.push(...options.settings ?? []);
      await Deno.writeTextFile(join(pg.dataDir, "postgresql.conf"), settings.join("\n") + "\n", {
        append: true,
      });
      await pg.resume();
    } catch (error) {
      await pg[Symbol.asyncDispose]();
      throw error;
    }
    return pg;
  }

  async #certificates(): Promise<string[]> {
    const openssl = async (...args: string[]) => {
      const { code, stderr } = await new Deno.Command("openssl", { args, cwd: this.dir }).output();
      if (code !== 0) {
        throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
      }
    };
    await openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=shop test CA",
    );
    await openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    );
    await Deno.writeTextFile(
      join(this.dir, "san.ext"),
      "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    await openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "san.ext",
    );
    for (const file of ["server.key", "server.pem"]) {
      await Deno.chmod(join(this.dir, file), 0o600);
      await own(join(this.dir, file));
    }
    return [
      "ssl = on",
      `ssl_cert_file = '${join(this.dir, "server.pem")}'`,
      `ssl_key_file = '${join(this.dir, "server.key")}'`,
    ];
  }

  /**
   * Starts the server on its data directory (again, after a stop or a
   * kill) as a child of this process, so that its exit is reaped at once
   * (a lingering zombie would hold the pid in `postmaster.pid`).
   */
  async resume(): Promise<void> {
    const args = [
      "-D",
      this.dataDir,
      "-p",
      String(this.port),
      "-k",
      this.dir,
      "-c",
      "listen_addresses=127.0.0.1",
    ];
    const program = join(PG_BIN, "postgres");
    const [cmd, ...rest] = Deno.uid() === 0
      ? [
        "setpriv",
        `--reuid=${OS_USER}`,
        `--regid=${OS_USER}`,
        "--init-groups",
        "--",
        program,
        ...args,
      ]
      : [program, ...args];
    const log = await Deno.open(join(this.dir, "postgres.log"), { create: true, append: true });
    const child = new Deno.Command(cmd!, {
      args: rest,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
    }).spawn();
    const logging = child.stderr.pipeTo(log.writable).catch(() => {});
    const status = child.status;
    this.#postmaster = { child, status, logging };
    const deadline = Date.now() + 30_000;
    for (;;) {
      const exited = await Promise.race([status, new Promise((r) => setTimeout(r, 25, undefined))]);
      if (exited) throw new Error(`PostgreSQL exited at start: ${await this.#logTail()}`);
      try {
        const lines = (await Deno.readTextFile(join(this.dataDir, "postmaster.pid"))).split("\n");
        if (Number(lines[0]) === child.pid && lines[7]?.trim() === "ready") return;
      } catch {
        // Not written yet.
      }
      if (Date.now() > deadline) {
        throw new Error(`PostgreSQL did not start: ${await this.#logTail()}`);
      }
    }
  }

  #postmaster:
    | { child: Deno.ChildProcess; status: Promise<Deno.CommandStatus>; logging: Promise<void> }
    | undefined;

  async #logTail(): Promise<string> {
    const text = await Deno.readTextFile(join(this.dir, "postgres.log")).catch(() => "");
    return text.trimEnd().split("\n").slice(-10).join("\n");
  }

  /** Stops the server (fast shutdown). */
  async stop(): Promise<void> {
    const postmaster = this.#postmaster;
    if (!postmaster) return;
    this.#postmaster = undefined;
    try {
      postmaster.child.kill("SIGINT");
    } catch {
      // It ended already.
    }
    await postmaster.status;
    await postmaster.logging;
  }

  /** Kills the server and its backends with SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const postmaster = this.#postmaster;
    if (!postmaster) return;
    this.#postmaster = undefined;
    const children = await childrenOf(postmaster.child.pid);
    for (const pid of [postmaster.child.pid, ...children]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await postmaster.status;
    await postmaster.logging;
    for (const pid of children) {
      for (let i = 0; i < 200 && await alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The URL of a fresh database (named, or `shop_N`), without the password. */
  async database(name = `shop_${++this.#databases}`): Promise<string> {
    const sql = this.admin();
    try {
      await sql.unsafe(`CREATE DATABASE ${name}`);
    } finally {
      await sql.end({ timeout: 1 });
    }
    return this.url(name);
  }

  /** `postgres://postgres@127.0.0.1:PORT/NAME`. */
  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A superuser client of the `postgres` database (or another); end it when done. */
  admin(database = "postgres"): postgres.Sql {
    return postgres({
      host: "127.0.0.1",
      port: this.port,
      database,
      user: "postgres",
      password: this.password,
      max: 1,
      onnotice: () => {},
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop().catch(() => this.kill());
    if (Deno.env.get("SHOP_KEEP_TEST_DATA")) console.error(`test data kept in ${this.dir}`);
    else await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Starts a PostgreSQL instance for a test file. */
export function startPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  return TestPostgres.start(options);
}

async function childrenOf(parent: number): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) found.push(pid);
    } catch {
      // Ended while we looked.
    }
  }
  return found;
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}
