/**
 * Logging for both roles with LogTape: a rotating file in the data
 * directory (`server.log`, `<name>.log`) and standard error at the level
 * the user chose. Standard output stays the program's own. Card numbers
 * are masked on the way to every sink.
 *
 * The server's file is an event log at info level (`fileLevel: "info"`):
 * one line per registration, search, decision, sale and refusal, with
 * counts, so that its five rotated 10 MiB files hold days of a busy
 * market. The wire log (one line per datagram sent and received) goes to
 * it only when asked for (`fileLevel: "debug"`, the default, or a console
 * at debug level); code on the per-datagram path checks
 * {@linkcode wireLogging} before it builds a record.
 *
 * @module
 */
import {
  configure,
  dispose,
  getConsoleSink,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
  withFilter,
} from "@logtape/logtape";
import { getFileSink } from "./file_sink.ts";
import { redactByField, type RedactionPattern } from "@logtape/redaction";

/** The levels a user can pick for the console. */
export type ConsoleLevel = "debug" | "info" | "warning" | "error";

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** The log file; rotated at 10 MiB, five old files kept. */
  readonly file: string;
  /** The lowest level shown on standard error. */
  readonly consoleLevel: ConsoleLevel;
  /**
   * Where console lines go instead of standard error: a line editor that
   * prints them above the line being typed.
   */
  readonly consoleWrite?: (line: string) => void;
  /**
   * The lowest level the file takes: `debug` (the default) keeps every
   * record, `info` makes it an event log. A console at debug level makes
   * it `debug` too.
   */
  readonly fileLevel?: "debug" | "info";
}

let wireLog = false;

/**
 * Whether the wire log (a debug line per datagram) is being written.
 * Per-datagram code checks it before building a record: a tagged template
 * allocates its strings and values even when the record is dropped.
 */
export function wireLogging(): boolean {
  return wireLog;
}

/** Masks all but the last four digits of a digit run. */
export function maskDigits(digits: string): string {
  const only = digits.replace(/\D/g, "");
  return only.length <= 4 ? "****" : `${"*".repeat(only.length - 4)}${only.slice(-4)}`;
}

/**
 * Any run of 12 to 19 digits, possibly split by single spaces or dashes,
 * is treated as a card number: better to mask an innocent number than to
 * let a mistyped card through because it fails the checksum.
 */
const CARD_NUMBER: RedactionPattern = {
  pattern: /(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)/g,
  replacement: maskDigits,
};

const SECRET_FIELDS = [/^(card|cardNumber|cc|pan|expiry|cvv|cvc)$/i];

/** An error as its first line: a log line never carries a stack trace. */
function errorLine(error: Error): string {
  const first = error.message.split("\n")[0]!.trim();
  return first ? `${error.name}: ${first}` : error.name;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return errorLine(value);
  return Deno.inspect(value, { compact: true, breakLength: Infinity, colors: false });
}

/** Properties that the message text does not already show. */
function renderExtraProperties(record: LogRecord): string {
  let extra: Record<string, unknown> | undefined;
  const template = typeof record.rawMessage === "string" ? record.rawMessage : "";
  for (const key in record.properties) {
    if (template.includes(`{${key}}`)) continue;
    const value = record.properties[key];
    (extra ??= {})[key] = value instanceof Error ? errorLine(value) : value;
  }
  return extra === undefined ? "" : ` ${renderValue(extra)}`;
}

const LEVELS: Record<LogLevel, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

/**
 * `2026-12-01T09:00:00.000Z INF shop.server: Registered alice at …`, the
 * card numbers in the message and properties masked. Written out rather
 * than built from LogTape's configurable text formatter: this runs once
 * per line of a log that takes thousands of lines a second under load.
 */
function formatter(record: LogRecord): string {
  const parts = record.message;
  let message = "";
  for (let i = 0; i < parts.length; i++) {
    message += i % 2 === 0 ? parts[i] as string : renderValue(parts[i]);
  }
  const text = (message + renderExtraProperties(record)).replace(
    CARD_NUMBER.pattern,
    CARD_NUMBER.replacement as (match: string) => string,
  );
  return `${new Date(record.timestamp).toISOString()} ${LEVELS[record.level]} ${
    record.category.join(".")
  }: ${text}\n`;
}

/**
 * Marks a sink as formatting each record before it returns, so that
 * LogTape passes records as they are instead of copying each one first
 * (its `sinkSnapshotPolicy`; `file_sink.ts` marks the file sink the same way).
 */
function immediate(sink: Sink): Sink {
  Object.defineProperty(sink, Symbol.for("LogTape.sinkSnapshotPolicy.immediate"), {
    value: true,
  });
  return sink;
}

function masked(sink: Sink): Sink {
  const redacted = redactByField(sink, {
    fieldPatterns: SECRET_FIELDS,
    action: (value) => maskDigits(String(value)),
  });
  // Most records (the market's lines) carry no properties to look at.
  const wrapped: Sink = (record) => {
    for (const _ in record.properties) return redacted(record);
    sink(record);
  };
  // Disposing the wrapper disposes the sink (LogTape flushes files so).
  for (const symbol of [Symbol.asyncDispose, Symbol.dispose] as const) {
    const dispose = (sink as unknown as Record<symbol, unknown>)[symbol];
    if (typeof dispose === "function") {
      Object.defineProperty(wrapped, symbol, { value: dispose.bind(sink) });
    }
  }
  return immediate(wrapped);
}

/**
 * Configures logging for this process. Call {@linkcode shutdownLogging}
 * before exit: the file sink writes in the background every 200 ms, so a
 * crash loses at most that much, and nothing syncs the file per message.
 * When the file cannot be written (a full disk) standard error gets one
 * line saying so, and one when it can again (see `file_sink.ts`).
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const write = options.consoleWrite;
  const file = getFileSink(options.file, {
    formatter,
    maxSize: 10 * 1024 * 1024,
    maxFiles: 5,
    bufferSize: 64 * 1024,
    flushInterval: 200,
    report: write ?? ((line) => console.error(line)),
  });
  const everyLevelToStderr: Record<LogLevel, "error"> = {
    trace: "error",
    debug: "error",
    info: "error",
    warning: "error",
    error: "error",
    fatal: "error",
  };
  const consoleSink = immediate(withFilter(
    write
      ? (record: LogRecord) => write(formatter(record).replace(/\n$/, ""))
      : getConsoleSink({ formatter, levelMap: everyLevelToStderr }),
    options.consoleLevel,
  ));
  wireLog = options.fileLevel !== "info" || options.consoleLevel === "debug";
  // Without the wire log, debug records are dropped before they are made.
  const fileLevel: LogLevel = wireLog ? "debug" : "info";
  await configure({
    reset: true,
    sinks: { file: masked(withFilter(file, fileLevel)), console: masked(consoleSink) },
    loggers: [
      { category: ["shop"], sinks: ["file", "console"], lowestLevel: wireLog ? "debug" : "info" },
      { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
    ],
  });
}

/** Flushes and closes the log sinks. */
export async function shutdownLogging(): Promise<void> {
  wireLog = false;
  await dispose();
}

/** A logger under the `shop` category. */
export function logger(...category: string[]): Logger {
  return getLogger(["shop", ...category]);
}
