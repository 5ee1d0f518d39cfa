/**
 * Logging for both roles with LogTape: a rotating file in the data
 * directory (`server.log`, `<name>.log`) that takes every record, and
 * standard error at the level the user chose. Standard output stays the
 * program's own. Card numbers are masked on the way to every sink.
 *
 * @module
 */
import {
  configure,
  dispose,
  getConsoleSink,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
  withFilter,
} from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import { redactByField, redactByPattern, type RedactionPattern } from "@logtape/redaction";

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

function renderValue(value: unknown): string {
  return typeof value === "string"
    ? value
    : Deno.inspect(value, { compact: true, breakLength: Infinity, colors: false });
}

/** Properties that the message text does not already show. */
function renderExtraProperties(record: LogRecord): string {
  const template = typeof record.rawMessage === "string" ? record.rawMessage : "";
  const extra = Object.entries(record.properties).filter(([key]) => !template.includes(`{${key}}`));
  if (extra.length === 0) return "";
  return ` ${renderValue(Object.fromEntries(extra))}`;
}

const formatter = redactByPattern(
  getTextFormatter({
    timestamp: "rfc3339",
    level: "ABBR",
    category: ".",
    value: renderValue,
    format: (values) =>
      `${values.timestamp} ${values.level} ${values.category}: ${values.message}${
        renderExtraProperties(values.record)
      }`,
  }),
  [CARD_NUMBER],
);

function masked(sink: Sink): Sink {
  return redactByField(sink, {
    fieldPatterns: SECRET_FIELDS,
    action: (value) => maskDigits(String(value)),
  });
}

/**
 * Configures logging for this process. Call {@linkcode shutdownLogging}
 * before exit: the file sink writes in the background every 200 ms, so a
 * crash loses at most that much, and nothing syncs the file per message.
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const file = getRotatingFileSink(options.file, {
    formatter,
    maxSize: 10 * 1024 * 1024,
    maxFiles: 5,
    bufferSize: 64 * 1024,
    flushInterval: 200,
    nonBlocking: true,
  });
  const everyLevelToStderr: Record<LogLevel, "error"> = {
    trace: "error",
    debug: "error",
    info: "error",
    warning: "error",
    error: "error",
    fatal: "error",
  };
  const write = options.consoleWrite;
  const console = withFilter(
    write
      ? (record: LogRecord) => write(formatter(record).replace(/\n$/, ""))
      : getConsoleSink({ formatter, levelMap: everyLevelToStderr }),
    options.consoleLevel,
  );
  await configure({
    reset: true,
    sinks: { file: masked(file), console: masked(console) },
    loggers: [
      { category: ["shop"], sinks: ["file", "console"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
    ],
  });
}

/** Flushes and closes the log sinks. */
export async function shutdownLogging(): Promise<void> {
  await dispose();
}

/** A logger under the `shop` category. */
export function logger(...category: string[]): Logger {
  return getLogger(["shop", ...category]);
}
