/**
 * A `shop` process on a real pseudo-terminal, for what only a terminal
 * shows: echo (and its absence at a secret), the line editor's redraws on
 * a narrow screen, Ctrl-C and Ctrl-D as keys. The terminal is a tmux pane
 * on a tmux server of its own (its own socket, in a temporary directory
 * removed at the end, so nothing else is touched): keys are typed into it, and the screen is read back as tmux
 * draws it, scrollback included, so a test sees what a person would.
 *
 * @module
 */
import { MAIN } from "./_shop.ts";

/** Whether tmux is there to give a process a terminal. */
export const hasTmux = await new Deno.Command("tmux", { args: ["-V"], stdout: "null" })
  .output().then((output) => output.success, () => false);

/** Keys by tmux's names (`C-c` is Ctrl-C), for {@linkcode Pty.press}. */
export type Key =
  | "Enter"
  | "C-c"
  | "C-d"
  | "C-u"
  | "Up"
  | "Down"
  | "Left"
  | "Right"
  | "Home"
  | "End"
  | "BSpace"
  | "DC";

/** Options for {@linkcode Pty.start}. */
export interface PtyOptions {
  /** The terminal's width (80 by default). */
  readonly columns?: number;
  /** The terminal's height (24 by default). */
  readonly rows?: number;
  /** How long {@linkcode Pty.waitFor} waits before it fails (15 s by default). */
  readonly timeoutMs?: number;
}

/** What the shell writes on the screen when the program ended, before its exit code. */
const EXITED = "[shop exited ";

/** How often the screen is read while waiting for something on it. */
const POLL_MS = 50;

/** A `shop` process in a tmux pane. */
export class Pty implements AsyncDisposable {
  /** The directory of this terminal's tmux socket, removed at the end. */
  readonly #dir: string;
  readonly #timeoutMs: number;

  private constructor(dir: string, timeoutMs: number) {
    this.#dir = dir;
    this.#timeoutMs = timeoutMs;
  }

  /** Starts `shop ARGS...` on a terminal of the given size, with NO_COLOR set. */
  static async start(args: readonly string[], options: PtyOptions = {}): Promise<Pty> {
    const dir = await Deno.makeTempDir({ prefix: "shop-pty-" });
    const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    const shop = ["env", "NO_COLOR=1", Deno.execPath(), "run", "--allow-all", MAIN, ...args]
      .map(quote).join(" ");
    // The exit code is written on the screen when the program ends.
    const command = `${shop}; echo "${EXITED}$?]"`;
    const pty = new Pty(dir, options.timeoutMs ?? 15_000);
    // The pane stays after the program ends, so that its exit code and
    // last screen can be read.
    await pty.#tmux(
      "-f",
      "/dev/null",
      "start-server",
      ";",
      "set-option",
      "-g",
      "remain-on-exit",
      "on",
      ";",
      "set-option",
      "-g",
      "history-limit",
      "5000",
      ";",
      "set-option",
      "-g",
      "status",
      "off",
      ";",
      "new-session",
      "-d",
      "-x",
      String(options.columns ?? 80),
      "-y",
      String(options.rows ?? 24),
      command,
    );
    return pty;
  }

  async #tmux(...args: string[]): Promise<string> {
    const socket = `${this.#dir}/tmux`;
    const output = await new Deno.Command("tmux", { args: ["-S", socket, ...args] }).output();
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(`tmux ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    return text;
  }

  /** The screen as drawn, the scrollback first, without trailing blank lines. */
  async screen(): Promise<string> {
    // -J joins the rows of a wrapped line, and keeps the spaces written at
    // the ends of lines (a prompt's own).
    return (await this.#tmux("capture-pane", "-p", "-J", "-S", "-")).replace(/(\n *)+$/, "");
  }

  /** Types text literally (no key names). */
  async type(text: string): Promise<void> {
    await this.#tmux("send-keys", "-l", "--", text);
  }

  /** Presses keys by name, in order. */
  async press(...keys: Key[]): Promise<void> {
    await this.#tmux("send-keys", ...keys);
  }

  /** The program's exit code once it ended, read off the screen. */
  async #dead(screen?: string): Promise<number | undefined> {
    const text = screen ?? await this.screen();
    const at = text.lastIndexOf(EXITED);
    return at < 0 ? undefined : Number.parseInt(text.slice(at + EXITED.length), 10);
  }

  /**
   * Waits until the screen matches, and returns it.
   *
   * @throws {Error} Showing the screen, when nothing matched in time or
   *   the program ended first.
   */
  async waitFor(pattern: string | RegExp): Promise<string> {
    const test = (text: string) =>
      typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    const deadline = Date.now() + this.#timeoutMs;
    while (true) {
      const screen = await this.screen();
      if (test(screen)) return screen;
      const code = await this.#dead(screen);
      if (code !== undefined || Date.now() > deadline) {
        throw new Error(
          `${code === undefined ? "Timed out" : `The program ended (exit ${code})`} before ${
            String(pattern)
          } was on the screen:\n${screen}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Waits for the program to end, and gives its exit code. */
  async exited(): Promise<number> {
    const deadline = Date.now() + this.#timeoutMs;
    while (true) {
      const code = await this.#dead();
      if (code !== undefined) return code;
      if (Date.now() > deadline) {
        throw new Error(`The program did not end:\n${await this.screen()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // This tmux server is this terminal's own: ending it ends the program.
    await this.#tmux("kill-server").catch(() => {});
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
