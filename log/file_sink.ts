/**
 * The log file: a LogTape sink that writes a rotating file in the
 * background and keeps working when the disk does not. LogTape's own file
 * sink reports every failed write with the error's stack trace through its
 * meta logger (twelve lines on standard error every flush while a disk is
 * full) and cannot say when writing works again; this one says each once,
 * in one line, and counts the lines it could not keep.
 *
 * Lines are buffered and written every `flushInterval`, or at once when the
 * buffer holds `bufferSize` bytes. A write that fails drops its lines (a
 * log is not a store: nothing waits for it) and the next one tries again,
 * so writing resumes by itself once there is room. The first line written
 * then says how many were dropped. Past `maxSize` the file is renamed
 * `PATH.1` (the older ones `PATH.2` … `PATH.N`) and a new one started, as
 * LogTape's rotating sink does.
 *
 * @module
 */
import type { LogRecord, Sink } from "@logtape/logtape";

/** Options for {@linkcode getFileSink}. */
export interface FileSinkOptions {
  /** One record as text, ending in a newline. */
  readonly formatter: (record: LogRecord) => string;
  /** The size past which the file is rotated (default 10 MiB). */
  readonly maxSize?: number;
  /** Old files kept, `PATH.1` the newest (default 5). */
  readonly maxFiles?: number;
  /** Buffered bytes that start a write at once (default 64 KiB). */
  readonly bufferSize?: number;
  /** Longest a line waits in the buffer, in milliseconds (default 200). */
  readonly flushInterval?: number;
  /**
   * Where the lines about writing failing and working again go: standard
   * error by default (not the log, which cannot hold them).
   */
  readonly report?: (line: string) => void;
}

/** A file sink; disposing it writes what is buffered and closes the file. */
export type FileSink = Sink & AsyncDisposable;

const utf8 = new TextEncoder();
const NEWLINE = 10;

/** An error in one line: its message without the stack. */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.trim() || String(error);
}

function lines(n: number): string {
  return `${n.toLocaleString("en-US")} log ${n === 1 ? "line was" : "lines were"}`;
}

class LogFile {
  readonly #path: string;
  readonly #formatter: (record: LogRecord) => string;
  readonly #maxSize: number;
  readonly #maxFiles: number;
  readonly #bufferSize: number;
  readonly #flushInterval: number;
  readonly #report: (line: string) => void;
  /** Undefined after a failed rotation: the next write opens it again. */
  #file: Deno.FsFile | undefined;
  #size: number;
  /** Formatted records waiting, and their length in UTF-16 units (close enough to bytes). */
  #buffer: string[] = [];
  #buffered = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  /** While writes fail: the first error, and the records dropped since. */
  #failing: string | undefined;
  #dropped = 0;
  /** A failed write left a line cut short: the next one starts on a new line. */
  #cut = false;
  #closed = false;

  constructor(path: string, options: FileSinkOptions) {
    this.#path = path;
    this.#formatter = options.formatter;
    this.#maxSize = options.maxSize ?? 10 * 1024 * 1024;
    this.#maxFiles = Math.max(1, options.maxFiles ?? 5);
    this.#bufferSize = options.bufferSize ?? 64 * 1024;
    this.#flushInterval = options.flushInterval ?? 200;
    this.#report = options.report ?? ((line) => console.error(line));
    // Opened now, so that a path that cannot be a log file fails at start.
    this.#file = Deno.openSync(path, { create: true, append: true });
    this.#size = this.#file.statSync().size;
  }

  take(record: LogRecord): void {
    if (this.#closed) return;
    const text = this.#formatter(record);
    this.#buffer.push(text);
    this.#buffered += text.length;
    if (this.#buffered >= this.#bufferSize) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#flushInterval);
  }

  /** Starts a write of the buffer, unless one is under way (it starts the next). */
  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#buffer.length === 0) return;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
      if (this.#buffer.length === 0 || this.#closed) return;
      if (this.#buffered >= this.#bufferSize) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#flushInterval);
    });
  }

  async #write(): Promise<void> {
    const records = this.#buffer.length;
    const text = this.#buffer.join("");
    this.#buffer = [];
    this.#buffered = 0;
    // After a cut line, a new line; after a gap, the line that tells of it.
    const prefix = (this.#cut ? "\n" : "") + (this.#failing === undefined ? "" : this.#gapLine());
    const skip = prefix === "" ? 0 : utf8.encode(prefix).length;
    const bytes = utf8.encode(prefix + text);
    let written = 0;
    try {
      if (this.#file === undefined) {
        this.#file = await Deno.open(this.#path, { create: true, append: true });
        this.#size = (await this.#file.stat()).size;
      }
      if (this.#size > 0 && this.#size + bytes.length > this.#maxSize) await this.#rotate();
      while (written < bytes.length) written += await this.#file!.write(bytes.subarray(written));
      await this.#file!.sync();
    } catch (error) {
      this.#size += written;
      if (written > 0) this.#cut = bytes[written - 1] !== NEWLINE;
      // The records written whole are those whose newline went out.
      const whole = written === bytes.length
        ? records
        : Math.min(records, countNewlines(bytes, skip, written));
      this.#failed(error, records - whole);
      return;
    }
    this.#size += bytes.length;
    this.#cut = false;
    if (this.#failing !== undefined) {
      this.#report(`shop: ${this.#path} is written again; ${lines(this.#dropped)} dropped`);
      this.#failing = undefined;
      this.#dropped = 0;
    }
  }

  #failed(error: unknown, dropped: number): void {
    this.#dropped += dropped;
    if (this.#failing !== undefined) return;
    this.#failing = oneLine(error);
    this.#report(
      `shop: cannot write ${this.#path}: ${this.#failing}; log lines are dropped until it can`,
    );
  }

  /** The line that opens the file's text again after a gap, in the log's own format. */
  #gapLine(): string {
    const text = `${lines(this.#dropped)} dropped before this one: ${this.#failing}`;
    return this.#formatter({
      category: ["shop", "log"],
      level: "warning",
      message: [text],
      rawMessage: text,
      timestamp: Date.now(),
      properties: {},
    });
  }

  async #rotate(): Promise<void> {
    this.#file?.close();
    this.#file = undefined;
    for (let i = this.#maxFiles - 1; i > 0; i--) {
      await Deno.rename(`${this.#path}.${i}`, `${this.#path}.${i + 1}`).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    await Deno.rename(this.#path, `${this.#path}.1`);
    this.#file = await Deno.open(this.#path, { create: true, append: true });
    this.#size = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    if (this.#buffer.length > 0) await this.#write();
    if (this.#failing !== undefined) {
      this.#report(
        `shop: ${this.#path} was still not written at exit; ${lines(this.#dropped)} dropped`,
      );
    }
    this.#file?.close();
    this.#file = undefined;
  }
}

/** The newlines in `bytes` from `start` to `end`. */
function countNewlines(bytes: Uint8Array, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) if (bytes[i] === NEWLINE) count++;
  return count;
}

/**
 * A rotating log file that survives a full disk.
 *
 * @param path The file; its directory must exist.
 * @returns The sink, to be disposed (LogTape's `dispose` does) before exit.
 * @throws {Deno.errors.PermissionDenied} Or another error, if the file cannot be opened.
 *
 * @example
 * ```ts
 * const file = getFileSink("shop-data/server.log", { formatter });
 * await configure({ sinks: { file }, loggers: [{ category: ["shop"], sinks: ["file"] }] });
 * ```
 */
export function getFileSink(path: string, options: FileSinkOptions): FileSink {
  const file = new LogFile(path, options);
  const sink = ((record: LogRecord) => file.take(record)) as FileSink;
  sink[Symbol.asyncDispose] = () => file.close();
  // Formats each record before it returns: LogTape need not copy records first.
  Object.defineProperty(sink, Symbol.for("LogTape.sinkSnapshotPolicy.immediate"), { value: true });
  return sink;
}
