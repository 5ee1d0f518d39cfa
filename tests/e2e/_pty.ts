/**
 * A `shop` process on a real pseudo-terminal, for what only a terminal
 * shows: echo (and its absence at a secret), the line editor's redraws,
 * Ctrl-C and Ctrl-D as keys. `script` (util-linux) makes the terminal; its
 * width is set with `stty` before the program starts. Keys are written to
 * the terminal as typed; the screen is every byte the program wrote.
 *
 * @module
 */
import { MAIN } from "./_shop.ts";

/** Whether `script` (util-linux) is there to give a process a terminal. */
export const hasScript = await new Deno.Command("script", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((output) => output.success, () => false);

/** The keys that are not text. */
export const KEY = {
  enter: "\r",
  ctrlC: "\x03",
  ctrlD: "\x04",
  ctrlU: "\x15",
  up: "\x1b[A",
  down: "\x1b[B",
} as const;

/** Options for {@linkcode Pty.start}. */
export interface PtyOptions {
  /** The terminal's width (80 by default). */
  readonly columns?: number;
  /** How long {@linkcode Pty.waitFor} waits before it fails (15 s by default). */
  readonly timeoutMs?: number;
}

/** A `shop` process on a pseudo-terminal. */
export class Pty implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  readonly #timeoutMs: number;
  /** Told whenever output comes, or the process's output ends. */
  #changed: () => void = () => {};
  #ended = false;
  /** Everything the program wrote to the terminal (standard output and error both). */
  screen = "";

  private constructor(child: Deno.ChildProcess, timeoutMs: number) {
    this.#child = child;
    this.#timeoutMs = timeoutMs;
    this.#writer = child.stdin.getWriter();
    const decoder = new TextDecoder();
    this.#reading = (async () => {
      for await (const chunk of child.stdout) {
        this.screen += decoder.decode(chunk, { stream: true });
        this.#changed();
      }
      this.#ended = true;
      this.#changed();
    })();
  }

  /** Starts `shop ARGS...` on a terminal of the given width (NO_COLOR set). */
  static start(args: readonly string[], options: PtyOptions = {}): Pty {
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    const command = [Deno.execPath(), "run", "--allow-all", MAIN, ...args].map(quote).join(" ");
    const child = new Deno.Command("script", {
      args: ["-qfec", `stty cols ${options.columns ?? 80} rows 40; exec ${command}`, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new Pty(child, options.timeoutMs ?? 15_000);
  }

  /** Where the screen ends now: a place to look for output after. */
  mark(): number {
    return this.screen.length;
  }

  /** Types text and keys, as one read of the terminal. */
  async type(keys: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(keys));
  }

  /**
   * Waits until the screen after `from` matches, and returns that part of
   * the screen.
   *
   * @throws {Error} Showing the screen, when nothing matched in time or the
   *   program ended first.
   */
  async waitFor(pattern: string | RegExp, from = 0): Promise<string> {
    const test = (text: string) =>
      typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    const deadline = Date.now() + this.#timeoutMs;
    while (!test(this.screen.slice(from))) {
      const left = deadline - Date.now();
      if (this.#ended || left <= 0) {
        throw new Error(
          `${this.#ended ? "The program ended" : "Timed out"} before ${
            String(pattern)
          } on the screen:\n${JSON.stringify(this.screen.slice(from))}`,
        );
      }
      let timer: number | undefined;
      await new Promise<void>((resolve) => {
        this.#changed = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.screen.slice(from);
  }

  /** Waits for the program to end, and gives its exit code. */
  async exited(): Promise<number> {
    const status = await this.#child.status;
    await this.#reading;
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It ended already.
    }
    await this.#child.status;
    await this.#reading;
  }
}
