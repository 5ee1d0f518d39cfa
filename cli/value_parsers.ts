/**
 * Value parsers for the command line: a small adapter from zod schemas to
 * optique value parsers (the published `@optique/zod` targets an older core),
 * and the parsers for durations and `HOST:PORT` built on it.
 *
 * @module
 */
import { type Message, message, text } from "@optique/core/message";
import type { NonEmptyString } from "@optique/core/nonempty";
import type { ValueParser } from "@optique/core/valueparser";
import { z } from "zod";
import { MAX_NAME_LENGTH, Name } from "../protocol/fields.ts";

/** Options for {@linkcode fromZod}. */
export interface FromZodOptions<T> {
  /** How the value is named in help, like `PORT`. */
  readonly metavar: NonEmptyString;
  /** Any valid value, used by optique when it needs a stand-in. */
  readonly placeholder: T;
  /** Writes a value back as the user would type it (for defaults in help). */
  readonly format?: (value: T) => string;
  /** The only values there are, offered by shell completion and listed in help. */
  readonly choices?: readonly T[];
}

/**
 * Adapts a zod schema that takes the option's text to an optique value
 * parser. The first issue's message becomes the error the user sees.
 *
 * @example
 * ```ts
 * const port = fromZod(z.coerce.number().int().min(0), { metavar: "PORT", placeholder: 0 });
 * ```
 */
export function fromZod<T>(
  schema: z.ZodType<T, string>,
  options: FromZodOptions<T>,
): ValueParser<"sync", T> {
  const format = options.format ?? ((value: T) => String(value));
  return {
    mode: "sync",
    metavar: options.metavar,
    placeholder: options.placeholder,
    parse(input) {
      const result = schema.safeParse(input);
      if (result.success) return { success: true, value: result.data };
      const why = result.error.issues[0]?.message ?? "invalid value";
      return {
        success: false,
        error: message`Cannot use ${input}: ${text(why)}`,
      };
    },
    format,
    ...(options.choices === undefined ? {} : {
      choices: options.choices,
      *suggest(prefix: string) {
        for (const choice of options.choices!) {
          const shown = format(choice);
          if (shown.startsWith(prefix)) yield { kind: "literal" as const, text: shown };
        }
      },
    }),
  };
}

/**
 * How a default is shown in help: as typed (`5000`), where optique would
 * quote it (`"5000"`) on a terminal without colours.
 *
 * @example
 * ```ts
 * option("--port", port()).withDefault(5000, shownAs("5000"));
 * ```
 */
export function shownAs(typed: string): { readonly message: Message } {
  return { message: message`${text(typed)}` };
}

const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** A duration written `500ms`, `10s`, `5m` or `1h`, as milliseconds. */
export const Duration = z.string().regex(
  /^[0-9]+(\.[0-9]+)?(ms|s|m|h)$/,
  "expected a duration like 500ms, 10s or 5m",
).transform((textValue) => {
  const [, amount, unit] = textValue.match(/^([0-9.]+)(ms|s|m|h)$/)!;
  return Math.round(
    Number(amount) * DURATION_UNITS[unit as keyof typeof DURATION_UNITS],
  );
});

/** Writes milliseconds back in the largest whole unit: `300000` → `5m`. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** A duration option value in milliseconds. */
export function duration(): ValueParser<"sync", number> {
  return fromZod(Duration, {
    metavar: "DURATION",
    placeholder: 1_000,
    format: formatDuration,
  });
}

/** A TCP or UDP port; 0 asks the system for a free one. */
export const PortNumber = z.string().regex(/^[0-9]{1,5}$/, "expected a port number 0-65535")
  .transform(Number).pipe(
    z.int().max(65535, "expected a port number 0-65535"),
  );

/** A port option value. */
export function port(): ValueParser<"sync", number> {
  return fromZod(PortNumber, { metavar: "PORT", placeholder: 0 });
}

/** A host and port pair. */
export interface HostPort {
  readonly hostname: string;
  readonly port: number;
}

/** `HOST:PORT`, with IPv6 hosts in brackets: `[::1]:5000`. */
export const HostPortText = z.string().regex(
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/,
  "expected HOST:PORT like 127.0.0.1:5000",
).transform((value, ctx): HostPort => {
  const at = value.lastIndexOf(":");
  const hostname = value.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const portValue = Number(value.slice(at + 1));
  if (portValue < 1 || portValue > 65535) {
    ctx.addIssue({ code: "custom", message: "port must be 1 to 65535" });
    return z.NEVER;
  }
  return { hostname, port: portValue };
});

/** A `HOST:PORT` option value. */
export function hostPort(): ValueParser<"sync", HostPort> {
  return fromZod(HostPortText, {
    metavar: "HOST:PORT",
    placeholder: { hostname: "127.0.0.1", port: 5000 },
    format: (value) =>
      value.hostname.includes(":")
        ? `[${value.hostname}]:${value.port}`
        : `${value.hostname}:${value.port}`,
  });
}

/** The log levels a user may choose. */
export const LogLevel = z.enum(["debug", "info", "warning", "error"], {
  error: "expected debug, info, warning or error",
});

/** A log level option value. */
export function logLevel(): ValueParser<"sync", z.infer<typeof LogLevel>> {
  return fromZod(LogLevel, { metavar: "LEVEL", placeholder: "info", choices: LogLevel.options });
}

/** The characters a name may have, as the wire's `Name` field allows them. */
const NAME_CHARACTER = /[A-Za-z0-9_-]/;

/**
 * A peer name, checked against the protocol's {@linkcode Name} field with a
 * reason a person can act on: names are file names and wire tokens, so
 * only ASCII letters, digits, `_` and `-` (`José` is refused for its `é`).
 */
export function peerName(): ValueParser<"sync", string> {
  return {
    mode: "sync",
    metavar: "NAME",
    placeholder: "alice",
    parse(input) {
      const why = nameProblem(input);
      if (why === undefined) return { success: true, value: input };
      return { success: false, error: message`Cannot use name ${input}: ${text(why)}` };
    },
    format: (value) => value,
  };
}

/** Why a name cannot be used, or `undefined` when it can. */
export function nameProblem(input: string): string | undefined {
  if (input === "") return "a name needs at least one character";
  const length = [...input].length;
  if (length > MAX_NAME_LENGTH) {
    return `at most ${MAX_NAME_LENGTH} characters, not ${length}`;
  }
  const bad = [...input].find((char) => !NAME_CHARACTER.test(char));
  if (bad !== undefined) {
    return `names are letters a-z or A-Z, digits, _ and -: ${JSON.stringify(input)} has ${
      JSON.stringify(bad)
    }`;
  }
  if (!/^[A-Za-z0-9]/.test(input)) return "a name starts with a letter or a digit";
  const checked = Name.safeParse(input);
  return checked.success ? undefined : checked.error.issues[0]!.message;
}
