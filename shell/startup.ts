/**
 * The start-up steps both `shop server` and `shop peer` take before their
 * shell runs: a private data directory, and a word about anything found
 * open to others.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { formatMode, prepareDataDir, type PreparedDataDir } from "./data_dir.ts";

/**
 * Prepares the data directory for a command, printing a clear error when
 * it cannot be used.
 *
 * @returns What was prepared, or `undefined` after printing why not (a
 *   usage error: the caller exits 2).
 */
export async function openDataDir(path: string): Promise<PreparedDataDir | undefined> {
  try {
    return await prepareDataDir(path);
  } catch (error) {
    const why = error instanceof Deno.errors.AlreadyExists
      ? "it is a file, not a directory"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : String((error as Error).message ?? error);
    console.error(`Error: Cannot use data directory "${path}": ${why}. Give another with --data`);
    return undefined;
  }
}

/** Logs each path that was open to others and is now private. */
export function warnFixedModes(log: Logger, prepared: PreparedDataDir): void {
  for (const { path, mode } of prepared.fixed) {
    log.warning("{path} was open to other users (mode {mode}); it is now private", {
      path,
      mode: formatMode(mode),
    });
  }
}
