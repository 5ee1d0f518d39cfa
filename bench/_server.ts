/**
 * A real `shop server` child process for the bench: started with
 * `Deno.execPath()` on `main.ts`, bound to 127.0.0.1, its output drained
 * (so a full pipe never stalls it), its memory read from `/proc`.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchError, within } from "./_stats.ts";

const FLOOR = fileURLToPath(new URL("./_floor.ts", import.meta.url));
const BENCH_CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
let plaintext: Promise<string[]> | undefined;
/** Datagrams per second per source address (the server takes at most 7 digits): all the bench's peers share 127.0.0.1, and no load here comes near it. */
const RATE_LIMIT = 1_000_000;
/** The project whose `shop server` is measured: this checkout unless {@linkcode setTarget} says. */
let ROOT = fileURLToPath(new URL("..", import.meta.url));
let MAIN = join(ROOT, "main.ts");
let CONFIG = join(ROOT, "deno.json");

/**
 * Measures the `shop server` of another checkout of the project (for
 * example a clean `git worktree` of a commit), so that edits in progress
 * in this one do not end up in the figures.
 */
export function setTarget(root: string): void {
  ROOT = resolve(root);
  MAIN = join(ROOT, "main.ts");
  CONFIG = join(ROOT, "deno.json");
  plaintext = undefined;
}

/** The root of the checkout being measured. */
export function target(): string {
  return ROOT;
}
/** The permissions of `deno task start`. */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
const TAIL_LINES = 40;

/** Options for {@linkcode ServerProcess.start}. */
export interface ServerStartOptions {
  /** The `--data` directory. */
  readonly dataDir: string;
  /** UDP port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** More `shop server` options, like `--offer-window 50ms`. */
  readonly args?: readonly string[];
  /** The store's options and environment (`_store.ts`); Deno KV in `dataDir` without. */
  readonly store?: {
    readonly serverArgs: readonly string[];
    readonly serverEnv: Readonly<Record<string, string>>;
  };
  /** Write a V8 CPU profile of the server into this directory when it exits. */
  readonly profileDir?: string;
  /** How long to wait for the listening line. */
  readonly timeoutMs?: number;
}

/** A running `shop server`. */
export class ServerProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #tail: string[] = [];
  readonly #drained: Promise<void>;
  #status: Deno.CommandStatus | undefined;
  #listening: ((port: number) => void) | undefined;
  /** The UDP port it serves on, once listening. */
  port = 0;
  /** `performance.now()` when it was spawned. */
  readonly spawnedAt: number;

  private constructor(args: readonly string[], env: Readonly<Record<string, string>> = {}) {
    this.spawnedAt = performance.now();
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn();
    this.#drained = Promise.all([this.#drain(this.#child.stdout), this.#drain(this.#child.stderr)])
      .then(() => {});
    this.#child.status.then((status) => (this.#status = status));
  }

  /**
   * Starts a server and waits until it prints its listening line.
   *
   * @throws {BenchError} If it exits or stays silent for `timeoutMs`.
   */
  static async start(options: ServerStartOptions): Promise<ServerProcess> {
    const profile = options.profileDir
      ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`]
      : [];
    return await ServerProcess.#spawn(
      [
        "run",
        "--frozen",
        `--config=${CONFIG}`,
        ...PERMISSIONS,
        ...profile,
        MAIN,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        String(options.port ?? 0),
        "--data",
        options.dataDir,
        // The console would print a line per registration; the log file
        // still gets every record, as in production.
        "--log-level",
        "warning",
        ...await serverFlags(),
        ...(options.store?.serverArgs ?? []),
        ...(options.args ?? []),
      ],
      { timeoutMs: options.timeoutMs, env: options.store?.serverEnv },
    );
  }

  /**
   * Starts the floor: a stand-in for the server that only answers and
   * sends datagrams (`_floor.ts`), to measure what the harness and Deno's
   * UDP can do at all on this machine.
   *
   * @param portsFile JSON array of the ports that a fan-out sends to.
   */
  static async startFloor(portsFile?: string): Promise<ServerProcess> {
    return await ServerProcess.#spawn([
      "run",
      "--frozen",
      `--config=${BENCH_CONFIG}`,
      "--allow-net=127.0.0.1",
      "--allow-read",
      FLOOR,
      ...(portsFile ? [portsFile] : []),
    ]);
  }

  static async #spawn(
    args: readonly string[],
    { timeoutMs = 60_000, env }: {
      timeoutMs?: number | undefined;
      env?: Readonly<Record<string, string>> | undefined;
    } = {},
  ): Promise<ServerProcess> {
    const server = new ServerProcess(args, env);
    try {
      server.port = await within(
        new Promise<number>((resolve, reject) => {
          server.#listening = resolve;
          server.#child.status.then((status) =>
            reject(new BenchError(`shop server exited with ${status.code}: ${server.tail()}`))
          );
        }),
        timeoutMs,
        "shop server to listen",
      );
      return server;
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (this.#listening) {
          const match = LISTENING.exec(line);
          if (match) {
            this.#listening(Number(match[1]));
            this.#listening = undefined;
          }
        }
        this.#tail.push(line);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      }
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The last lines it wrote, for error messages. */
  tail(): string {
    return this.#tail.join("\n");
  }

  /**
   * Adds what the server said, and whether it is still running, to an
   * error of the work done against it.
   */
  explain(error: unknown): BenchError {
    const message = error instanceof Error ? error.message : String(error);
    const state = this.#status
      ? `the server had exited with code ${this.#status.code}${
        this.#status.signal ? ` (${this.#status.signal})` : ""
      }`
      : "the server was still running";
    const tail = this.tail();
    return new BenchError(`${message}; ${state}${tail ? `; its last output:\n${tail}` : ""}`, {
      cause: error,
    });
  }

  /** Its resident memory in bytes (`VmRSS`), or of `field` (`VmHWM`, …). */
  async memory(field = "VmRSS"): Promise<number> {
    // Deno reads /proc only with --allow-all; cat needs just --allow-run.
    const out = await new Deno.Command("cat", {
      args: [`/proc/${this.pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const status = new TextDecoder().decode(out.stdout);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new BenchError(`No ${field} in /proc/${this.pid}/status`);
    return Number(match[1]) * 1024;
  }

  /**
   * Sends a signal and waits for the exit (SIGKILL after `timeoutMs`).
   *
   * @returns The exit code and how long the exit took.
   */
  async stop(
    signal: Deno.Signal = "SIGTERM",
    timeoutMs = 30_000,
  ): Promise<{ code: number; ms: number }> {
    const start = performance.now();
    if (!this.#status) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
    }
    let status: Deno.CommandStatus;
    try {
      status = await within(this.#child.status, timeoutMs, `shop server to exit on ${signal}`);
    } catch (error) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await this.#child.status;
      await this.#drained;
      throw error;
    }
    await this.#drained;
    return { code: status.code, ms: performance.now() - start };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) await this.stop("SIGKILL").catch(() => {});
  }
}

/**
 * `--allow-plaintext` when this `shop server` has it: the bench plays
 * classic peers and our peers' protocol without keys, which a server with
 * authentication admits only with that flag. `--rate-limit` far above any
 * load when it has that: every bench peer sends from 127.0.0.1, and the
 * limit is per host; likewise no cap on the names one host holds. Read
 * from `shop server --help` so that the
 * bench runs against servers with and without them.
 */
function serverFlags(): Promise<string[]> {
  plaintext ??= (async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--frozen", `--config=${CONFIG}`, ...PERMISSIONS, MAIN, "server", "--help"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const help = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return [
      ...(help.includes("--allow-plaintext") ? ["--allow-plaintext"] : []),
      ...(help.includes("--rate-limit") ? ["--rate-limit", String(RATE_LIMIT)] : []),
      // A whole market on one IP: no cap on names per host.
      ...(help.includes("--names-per-host") ? ["--names-per-host", "0"] : []),
      ...(help.includes("--classic-names-per-host") ? ["--classic-names-per-host", "0"] : []),
    ];
  })();
  return plaintext;
}

/** A fresh temporary directory, removed when disposed. */
export async function tempDir(prefix = "shop-bench-"): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** The total size in bytes of the files in a directory (not recursive). */
export async function directorySize(path: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile) total += (await Deno.stat(`${path}/${entry.name}`)).size;
  }
  return total;
}
