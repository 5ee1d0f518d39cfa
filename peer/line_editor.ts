/**
 * A line editor for a terminal in raw mode: a prompt, editing with the
 * arrow keys, Home/End, backspace and delete, a history on Up/Down, and
 * output from elsewhere (events, warnings) printed above the line being
 * typed without mangling it. Written here because prompt libraries
 * misbehave on piped standard input; a pipe is read by `readLines` with
 * none of this.
 *
 * The editor is a pure state machine over key strings ({@linkcode LineEditor.keys})
 * with the terminal behind a `write` function, so that it is tested
 * without a terminal.
 *
 * @module
 */
import { LOOKS_SECRET } from "./commands.ts";
import { displayWidth } from "./text_width.ts";

/** Options for {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /** Writes to the terminal (raw mode: `\r\n` ends a line). */
  readonly write: (text: string) => void;
  /** Writes to the terminal's standard error, for errors (`write` by default). */
  readonly writeError?: (text: string) => void;
  /** The prompt, like `alice> `. */
  readonly prompt: string;
  /** Most lines kept in the history. */
  readonly historySize?: number;
  /**
   * The terminal's width in columns, asked at every redraw (it may be
   * resized); 80 when unknown. A line longer than fits scrolls sideways.
   */
  readonly columns?: () => number;
}

/**
 * What a key did: a line entered, an abort (Ctrl-C on an empty line or at a
 * secret, Ctrl-D at a secret), or the end of input (Ctrl-D on an empty line).
 */
export type KeyResult =
  | { readonly kind: "line"; readonly text: string }
  | { readonly kind: "abort"; readonly key: "\x03" | "\x04" }
  | { readonly kind: "end" };

/** One key press: a character, a control character or an escape sequence. */
// deno-lint-ignore no-control-regex -- terminal keys are control characters
const KEY = /^(\x1b\[[0-9;]*[\x40-\x7e]|\x1bO.|\x1b.|[\s\S])/u;

/** A line editor on a raw-mode terminal. */
export class LineEditor {
  readonly #write: (text: string) => void;
  readonly #writeError: (text: string) => void;
  readonly #prompt: string;
  readonly #historySize: number;
  readonly #history: string[] = [];
  /** Where Up/Down is in the history: `#history.length` is the line being typed. */
  #recall = 0;
  /** The line typed before Up was pressed, given back by Down. */
  #draft = "";
  /** The line, as code points, and the cursor's index in it. */
  #chars: string[] = [];
  #cursor = 0;
  /** Input not echoed and not kept (a card number, its expiry). */
  #secret = false;
  /** Input answers a question (y/N, an address): not kept in the history. */
  #answering = false;
  /** The index of the first character shown, when the line is wider than the terminal. */
  #scroll = 0;
  readonly #columns: () => number;
  /** The prompt's width on screen, without its escape sequences. */
  readonly #promptWidth: number;
  /** Text of an escape sequence split across reads. */
  #pending = "";

  constructor(options: LineEditorOptions) {
    this.#write = options.write;
    this.#writeError = options.writeError ?? options.write;
    this.#prompt = options.prompt;
    this.#historySize = options.historySize ?? 500;
    this.#columns = options.columns ?? (() => 80);
    // deno-lint-ignore no-control-regex -- the prompt's colour codes take no column
    this.#promptWidth = displayWidth(options.prompt.replaceAll(/\x1b\[[0-9;]*m/g, ""));
  }

  /** The lines entered so far, oldest first (never a secret one). */
  get history(): readonly string[] {
    return this.#history;
  }

  /** The line being typed. */
  get line(): string {
    return this.#chars.join("");
  }

  /** Whether what is typed next is hidden (no echo) and left out of the history. */
  set secret(secret: boolean) {
    if (secret === this.#secret) return;
    this.#secret = secret;
    this.#redraw();
  }

  /**
   * Whether what is typed next answers a question (y/N, the address): such
   * a line is shown but left out of the history, which holds commands only.
   */
  set answering(answering: boolean) {
    this.#answering = answering;
  }

  /** Draws the prompt and the line: at the start, and after each line entered. */
  start(): void {
    this.#redraw();
  }

  /**
   * Prints text above the line being typed, then draws that line again;
   * with `error`, the text goes to standard error.
   */
  print(text: string, { error = false }: { readonly error?: boolean } = {}): void {
    const lines = `${text.replaceAll(/\r?\n/g, "\r\n")}\r\n`;
    if (error) {
      this.#write("\r\x1b[K");
      this.#writeError(lines);
    } else this.#write(`\r\x1b[K${lines}`);
    this.#redraw();
  }

  /** Leaves the line: clears it, for output after the editor is done. */
  finish(): void {
    this.#write("\r\x1b[K");
  }

  /**
   * Reads typed text (one key or many, as a read gives them) and returns
   * what it finished: lines entered, aborts, or the end of input.
   */
  keys(text: string): KeyResult[] {
    const results: KeyResult[] = [];
    let rest = this.#pending + text;
    this.#pending = "";
    while (rest !== "") {
      // An escape sequence cut off at the end of a read waits for the rest.
      // deno-lint-ignore no-control-regex -- an unfinished escape sequence
      if (/^\x1b(\[[0-9;]*|O)?$/.test(rest) && rest.length < 8) {
        this.#pending = rest;
        break;
      }
      const key = rest.match(KEY)![0];
      rest = rest.slice(key.length);
      const result = this.#key(key);
      if (result) results.push(result);
      if (result?.kind === "end") break;
    }
    return results;
  }

  #key(key: string): KeyResult | undefined {
    switch (key) {
      case "\r":
      case "\n":
        return this.#enter();
      case "\x03": { // Ctrl-C
        if (this.#chars.length > 0 && !this.#secret) {
          // As in a shell: the line is dropped, a new prompt is shown.
          this.#write("^C\r\n");
          this.#clear();
          this.#redraw();
          return undefined;
        }
        // On an empty line (or at a secret): the question on screen is
        // declined; the reader says how to leave when none is.
        this.#clear();
        this.#write(this.#secret ? "\r\n" : "^C\r\n");
        this.#redraw();
        return { kind: "abort", key };
      }
      case "\x04": { // Ctrl-D
        if (this.#secret) {
          this.#clear();
          this.#write("\r\n");
          this.#redraw();
          return { kind: "abort", key };
        }
        if (this.#chars.length > 0) return this.#edit(() => this.#delete());
        this.#write("\r\n");
        return { kind: "end" };
      }
      case "\x7f":
      case "\b":
        return this.#edit(() => {
          if (this.#cursor === 0) return;
          this.#chars.splice(--this.#cursor, 1);
        });
      case "\x1b[3~":
        return this.#edit(() => this.#delete());
      case "\x1b[D":
      case "\x1bOD":
      case "\x02": // Ctrl-B
        return this.#edit(() => (this.#cursor = Math.max(0, this.#cursor - 1)));
      case "\x1b[C":
      case "\x1bOC":
      case "\x06": // Ctrl-F
        return this.#edit(() => (this.#cursor = Math.min(this.#chars.length, this.#cursor + 1)));
      case "\x1b[H":
      case "\x1bOH":
      case "\x1b[1~":
      case "\x1b[7~":
      case "\x01": // Ctrl-A
        return this.#edit(() => (this.#cursor = 0));
      case "\x1b[F":
      case "\x1bOF":
      case "\x1b[4~":
      case "\x1b[8~":
      case "\x05": // Ctrl-E
        return this.#edit(() => (this.#cursor = this.#chars.length));
      case "\x15": // Ctrl-U: the line up to the cursor
        return this.#edit(() => {
          this.#chars.splice(0, this.#cursor);
          this.#cursor = 0;
        });
      case "\x0b": // Ctrl-K: the line from the cursor
        return this.#edit(() => void this.#chars.splice(this.#cursor));
      case "\x1b[A":
      case "\x1bOA":
      case "\x10": // Ctrl-P
        return this.#edit(() => this.#recallLine(-1));
      case "\x1b[B":
      case "\x1bOB":
      case "\x0e": // Ctrl-N
        return this.#edit(() => this.#recallLine(+1));
      case "\x0c": // Ctrl-L
        this.#write("\x1b[H\x1b[2J");
        this.#redraw();
        return undefined;
      case "\t":
        return this.#edit(() => this.#insert(" "));
    }
    // Other escape sequences and control characters do nothing.
    // deno-lint-ignore no-control-regex -- the control characters left
    if (key.startsWith("\x1b") || /^[\x00-\x1f\x7f]$/.test(key)) return undefined;
    return this.#edit(() => this.#insert(key));
  }

  #insert(char: string): void {
    this.#chars.splice(this.#cursor++, 0, char);
  }

  #delete(): void {
    this.#chars.splice(this.#cursor, 1);
  }

  #edit(change: () => void): undefined {
    change();
    this.#redraw();
    return undefined;
  }

  #recallLine(step: number): void {
    if (this.#secret) return;
    const to = this.#recall + step;
    if (to < 0 || to > this.#history.length) return;
    if (this.#recall === this.#history.length) this.#draft = this.line;
    this.#recall = to;
    this.#chars = [...(to === this.#history.length ? this.#draft : this.#history[to]!)];
    this.#cursor = this.#chars.length;
  }

  #enter(): KeyResult {
    const text = this.line;
    if (!this.#secret) {
      // The line stays on screen as typed; a secret one was never shown.
      this.#redraw(true);
      // Only commands are kept: never an answer, nor digits that may be a
      // card number typed at the wrong moment.
      const keep = !this.#answering && text.trim() !== "" && !LOOKS_SECRET.test(text.trim());
      if (keep && this.#history.at(-1) !== text) {
        this.#history.push(text);
        if (this.#history.length > this.#historySize) this.#history.shift();
      }
    }
    this.#write("\r\n");
    this.#clear();
    this.#redraw();
    return { kind: "line", text };
  }

  #clear(): void {
    this.#chars = [];
    this.#cursor = 0;
    this.#scroll = 0;
    this.#recall = this.#history.length;
    this.#draft = "";
  }

  /**
   * Draws the prompt and the line, with the cursor where it is in the line.
   * A line wider than the terminal scrolls sideways, so that it stays on
   * one row: redrawn from the row's start, it never repeats the prompt.
   */
  #redraw(atEnd = false): void {
    if (this.#secret) {
      // Nothing typed shows: the prompt says so, or keys seem to go nowhere.
      this.#write(`\r\x1b[K${this.#prompt}(hidden) `);
      return;
    }
    const columns = this.#columns();
    // One column is left free for the cursor at the end of the line.
    const room = Math.max(8, (columns > 0 ? columns : 80) - this.#promptWidth - 1);
    const cursor = atEnd ? this.#chars.length : this.#cursor;
    // Columns up to each character: at[i] is the width of the first i.
    const at = [0];
    for (const char of this.#chars) at.push(at.at(-1)! + displayWidth(char));
    const width = (from: number, to: number) => at[to]! - at[from]!;
    if (cursor < this.#scroll) this.#scroll = cursor;
    while (width(this.#scroll, cursor) > room) this.#scroll++;
    if (width(0, this.#chars.length) <= room) this.#scroll = 0;
    let end = this.#scroll;
    while (end < this.#chars.length && width(this.#scroll, end + 1) <= room) end++;
    const shown = this.#chars.slice(this.#scroll, end).join("");
    const back = width(cursor, Math.max(cursor, end));
    this.#write(`\r\x1b[K${this.#prompt}${shown}${back > 0 ? `\x1b[${back}D` : ""}`);
  }
}

/**
 * Yields the lines typed on a raw-mode terminal through an editor; Ctrl-C
 * on an empty line, and Ctrl-C or Ctrl-D during a secret, come out as lines
 * of that one character (the reader's "abort"), and Ctrl-D on an empty line
 * ends input.
 */
export async function* editedLines(
  stream: ReadableStream<Uint8Array>,
  editor: LineEditor,
): AsyncGenerator<string> {
  editor.start();
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    for (const result of editor.keys(chunk)) {
      if (result.kind === "end") return;
      yield result.kind === "line" ? result.text : result.key;
    }
  }
}
