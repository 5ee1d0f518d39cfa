/**
 * The start-up steps both `shop server` and `shop peer` take before their
 * shell runs: a private data directory that only this process uses, and a
 * word about anything found open to others.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { dirname, resolve } from "node:path";
import { formatMode, prepareDataDir, type PreparedDataDir, usePrivateUmask } from "./data_dir.ts";
import { AlreadyRunning, type DirLock, lockDataDir } from "./lock.ts";

/** A data directory ready for one process: prepared, and locked for it. */
export interface OpenedDataDir extends Disposable {
  readonly prepared: PreparedDataDir;
  /** The topmost directory this open created, if the path did not exist. */
  readonly created: string | undefined;
  /**
   * Releases the lock and removes what this open created, with everything
   * in it: for a start that failed, so that it leaves nothing behind.
   */
  discard(): Promise<void>;
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
  lock: {
    readonly name: string;
    readonly what: string;
    /** Wait for the process holding the lock to end (a standby), told its pid. */
    readonly onWait?: (pid: number | undefined) => void;
  },
): Promise<OpenedDataDir | number> {
  let held: DirLock;
  let created: string | undefined;
  const fail = async (error: unknown) => {
    // What this open made goes again: a refused start leaves nothing.
    if (created !== undefined) await Deno.remove(created, { recursive: true }).catch(() => {});
    if (error instanceof AlreadyRunning) {
      console.error(
        `Error: ${error.message} on data directory "${path}": stop it first, or give another with --data`,
      );
      return 1;
    }
    console.error(
      `Error: Cannot use data directory "${path}": ${reason(error)} (give another with --data)`,
    );
    return 2;
  };
  try {
    const found = await statOrNothing(path);
    if (found && !found.isDirectory) throw new Deno.errors.AlreadyExists("a file");
    // Private from the first file on: the lock file too.
    usePrivateUmask();
    if (!found) {
      const top = await topmostMissing(path);
      await Deno.mkdir(path, { recursive: true, mode: 0o700 });
      created = top;
    }
    held = await lockDataDir(
      path,
      lock.name,
      lock.what,
      lock.onWait ? { onWait: lock.onWait } : {},
    );
  } catch (error) {
    return await fail(error);
  }
  try {
    const prepared = await prepareDataDir(path);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held[Symbol.dispose]();
    };
    return {
      prepared,
      created,
      async discard() {
        release();
        if (created !== undefined) await Deno.remove(created, { recursive: true });
      },
      [Symbol.dispose]: release,
    };
  } catch (error) {
    held[Symbol.dispose]();
    return await fail(error);
  }
}

async function statOrNothing(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The first directory of `path`, from the root down, that does not exist. */
async function topmostMissing(path: string): Promise<string> {
  let missing = resolve(path);
  for (let parent = dirname(missing); parent !== missing; parent = dirname(missing)) {
    if (await statOrNothing(parent)) break;
    missing = parent;
  }
  return missing;
}

/** Why a path cannot be a data directory, said for a person. */
function reason(error: unknown): string {
  if (error instanceof Deno.errors.AlreadyExists) return "it is a file, not a directory";
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied (it or its parent is not writable by this user)";
  }
  if (error instanceof Deno.errors.NotCapable) {
    return "outside the paths this program may read and write (its --allow-read and --allow-write)";
  }
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is a file";
  if (error instanceof Deno.errors.NotFound) return "its parent directory cannot be created";
  const text = error instanceof Error ? error.message : String(error);
  if (/\(os error 30\)/.test(text)) return "it is on a read-only file system";
  return text.replace(/ \(os error \d+\).*$/, "");
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
