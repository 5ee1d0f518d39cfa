/**
 * Runs `shop server` and `shop peer` as real child processes on 127.0.0.1,
 * reads their output line by line, and cleans up after them. The demo and
 * the end-to-end tests both drive the program this way.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { readLines } from "../peer/lines.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const DEFAULT_WAIT_MS = 15_000;
/** The permissions `deno task start` gives the program; children get no more. */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

/** A child process whose output lines are collected as they come. */
export class ShopProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  #waiters = new Set<() => void>();
  readonly #reading: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  constructor(
    args: string[],
    options: { stdin?: boolean; env?: Readonly<Record<string, string>> } = {},
  ) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, MAIN, ...args],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    this.#stdin = options.stdin ? this.#child.stdin.getWriter() : undefined;
    this.#reading = Promise.all([
      this.#collect(this.#child.stdout, this.lines),
      this.#collect(this.#child.stderr, this.stderr),
    ]).then(() => {});
  }

  async #collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    for await (const line of readLines(stream)) {
      into.push(line);
      for (const wake of this.#waiters) wake();
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Waits for an output line that matches, returning it.
   *
   * @throws {Error} After `timeoutMs` (a guard against hanging, not a speed
   *   assertion), with the output so far.
   */
  async waitFor(
    match: RegExp | ((line: string) => boolean),
    { timeoutMs = DEFAULT_WAIT_MS, from = 0, stderr = false }: {
      timeoutMs?: number;
      from?: number;
      /** Read standard error (the console log) instead of standard output. */
      stderr?: boolean;
    } = {},
  ): Promise<string> {
    const test = typeof match === "function" ? match : (line: string) => match.test(line);
    const deadline = Date.now() + timeoutMs;
    const lines = stderr ? this.stderr : this.lines;
    let seen = from;
    while (true) {
      for (; seen < lines.length; seen++) {
        if (test(lines[seen]!)) return lines[seen]!;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#status) {
        throw new Error(
          `No output line matched ${String(match)}; stdout:\n${this.lines.join("\n")}\nstderr:\n${
            this.stderr.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 200));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
      this.#waiters.clear();
    }
  }

  /** Writes lines to the process's standard input. */
  async send(...lines: string[]): Promise<void> {
    if (!this.#stdin) throw new TypeError("This process was started without stdin");
    await this.#stdin.write(new TextEncoder().encode(lines.map((line) => `${line}\n`).join("")));
  }

  /** Closes standard input (the end of input a peer treats as quit). */
  async closeInput(): Promise<void> {
    await this.#stdin?.close();
  }

  /** Sends a signal and waits for the process to end. */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (!this.#status) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
    }
    return await this.finished();
  }

  /** Waits for the process to end by itself. */
  async finished(): Promise<Deno.CommandStatus> {
    this.#status ??= await this.#child.status;
    await this.#reading;
    return this.#status;
  }

  /** Called with every process once it has ended (the tests audit their output). */
  static onEnded: ((process: ShopProcess) => void) | undefined;

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.#stdin?.close();
    } catch {
      // Already closed.
    }
    await this.kill("SIGKILL");
    ShopProcess.onEnded?.(this);
  }
}

/** A `shop server` on 127.0.0.1 with a free port. */
export class ServerProcess extends ShopProcess {
  port = 0;

  /**
   * The environment servers are started with (a PostgreSQL password, say),
   * for the tests of one file; empty by default.
   */
  static env: Readonly<Record<string, string>> = {};

  /** Starts a server and waits until it listens. */
  static async start(dataDir: string, ...extra: string[]): Promise<ServerProcess> {
    const server = new ServerProcess([
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data",
      dataDir,
      ...extra,
    ], { env: ServerProcess.env });
    const line = await server.waitFor(/listening on 127\.0\.0\.1:\d+/);
    server.port = Number(line.match(/127\.0\.0\.1:(\d+)/)![1]);
    return server;
  }

  /** Restarts on the same data directory (and port, which is still free). */
  static async restart(previous: ServerProcess, dataDir: string, ...extra: string[]) {
    const server = new ServerProcess([
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      String(previous.port),
      "--data",
      dataDir,
      ...extra,
    ], { env: ServerProcess.env });
    await server.waitFor(/listening on 127\.0\.0\.1:\d+/);
    server.port = previous.port;
    return server;
  }
}

/** A `shop peer --json` driven through its standard input. */
export class PeerProcess extends ShopProcess {
  /** Starts a peer and waits until it is ready. */
  static async start(
    name: string,
    serverPort: number,
    dataDir: string,
    ...extra: string[]
  ): Promise<PeerProcess> {
    const peer = new PeerProcess([
      "peer",
      "--name",
      name,
      "--server",
      `127.0.0.1:${serverPort}`,
      "--host",
      "127.0.0.1",
      "--data",
      dataDir,
      "--json",
      ...extra,
    ], { stdin: true });
    await peer.waitEvent("ready");
    return peer;
  }

  /** Waits for the next JSON event of this type (after `from` lines). */
  async waitEvent(
    event: string,
    options: {
      timeoutMs?: number;
      from?: number;
      where?: (fields: Record<string, unknown>) => boolean;
    } = {},
  ): Promise<Record<string, unknown>> {
    const line = await this.waitFor((text) => {
      if (!text.startsWith("{")) return false;
      const parsed = JSON.parse(text) as Record<string, unknown>;
      return parsed.event === event && (options.where?.(parsed) ?? true);
    }, options);
    return JSON.parse(line) as Record<string, unknown>;
  }

  /** Sends a command and waits for the event it should cause. */
  async command(line: string, event: string): Promise<Record<string, unknown>> {
    const from = this.lines.length;
    await this.send(line);
    return await this.waitEvent(event, { from });
  }
}
