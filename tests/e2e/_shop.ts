/**
 * Runs `shop` (main.ts) once as a user would, with no colours unless a test
 * asks for them, and collects what it printed and its exit code.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** main.ts, as the tests run it. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** What one run printed and how it ended. */
export interface ShopRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@linkcode shop}. */
export interface ShopOptions {
  /** Lines given on standard input; none (`/dev/null`) when absent. */
  readonly stdin?: string;
  readonly env?: Record<string, string>;
  /** Deno permission flags; all of them when absent. */
  readonly permissions?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Runs `shop ARGS...` to its end. */
export async function shop(args: readonly string[], options: ShopOptions = {}): Promise<ShopRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["--allow-all"]), MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    ...(options.signal ? { signal: options.signal } : {}),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
