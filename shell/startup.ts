/**
 * The start-up steps both `shop server` and `shop peer` take before their
 * shell runs: a private data directory that only this process uses, and a
 * word about anything found open to others.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { formatMode, prepareDataDir, type PreparedDataDir, usePrivateUmask } from "./data_dir.ts";
import { AlreadyRunning, type DirLock, lockDataDir } from "./lock.ts";

/** A data directory ready for one process: prepared, and locked for it. */
export interface OpenedDataDir extends Disposable {
  readonly prepared: PreparedDataDir;
}

/**
 * Prepares the data directory for a command and takes its lock, printing a
 * clear error when it cannot: nothing in an existing directory is touched
 * before the lock is held.
 *
 * @param path The directory.
 * @param lock The lock's name (`server`, or the peer's name) and how the
 *   owner is called in the error.
 * @returns The opened directory, or the exit code after printing why not:
 *   2 for a path that cannot be a data directory, 1 when another process
 *   runs on it.
 */
export async function openDataDir(
  path: string,
  lock: { readonly name: string; readonly what: string },
): Promise<OpenedDataDir | number> {
  let held: DirLock;
  try {
    const found = await Deno.stat(path).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (found && !found.isDirectory) throw new Deno.errors.AlreadyExists("a file");
    // Private from the first file on: the lock file too.
    usePrivateUmask();
    if (!found) await Deno.mkdir(path, { recursive: true, mode: 0o700 });
    held = await lockDataDir(path, lock.name, lock.what);
  } catch (error) {
    if (error instanceof AlreadyRunning) {
      console.error(`Error: ${error.message} on data directory "${path}"`);
      return 1;
    }
    console.error(
      `Error: Cannot use data directory "${path}": ${reason(error)}. Give another with --data`,
    );
    return 2;
  }
  try {
    const prepared = await prepareDataDir(path);
    return { prepared, [Symbol.dispose]: () => held[Symbol.dispose]() };
  } catch (error) {
    held[Symbol.dispose]();
    console.error(
      `Error: Cannot use data directory "${path}": ${reason(error)}. Give another with --data`,
    );
    return 2;
  }
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.AlreadyExists) return "it is a file, not a directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is a file";
  return error instanceof Error ? error.message : String(error);
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
