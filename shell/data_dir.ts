/**
 * A data directory that only its owner can read: it holds the identity's
 * private key (in the KV file), session keys and the logs. Whatever the
 * umask, the directory is made 0700 and every file the process creates in
 * it 0600; a directory or file found open to others is closed to them, and
 * said so (as ssh refuses key files others can read, but fixing rather than
 * refusing, since these files are ours to own).
 *
 * @module
 */
import { join } from "node:path";

/** The permission bits that let the group or others in. */
const OPEN_TO_OTHERS = 0o077;

/** What {@linkcode prepareDataDir} found and fixed. */
export interface PreparedDataDir {
  /** The directory's path. */
  readonly path: string;
  /** Whether it was created now. */
  readonly created: boolean;
  /** Files or the directory that others could read, each with its old mode, now closed. */
  readonly fixed: readonly { readonly path: string; readonly mode: number }[];
}

/**
 * Makes the process create private files from now on (umask 077): KV files,
 * their `-wal`/`-shm` companions and rotated logs appear 0600 whatever the
 * umask the user started with.
 */
export function usePrivateUmask(): void {
  Deno.umask(OPEN_TO_OTHERS);
}

/**
 * Creates a data directory (0700) or checks an existing one, closing it and
 * its files to others where they were open.
 *
 * @param path The directory.
 * @returns What was created and fixed.
 * @throws {Deno.errors.AlreadyExists} If `path` is a file.
 * @throws {Deno.errors.PermissionDenied} If it cannot be created or written.
 */
export async function prepareDataDir(path: string): Promise<PreparedDataDir> {
  usePrivateUmask();
  let created = false;
  const found = await Deno.stat(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (found && !found.isDirectory) {
    throw new Deno.errors.AlreadyExists(`Data directory "${path}" is a file`);
  }
  if (!found) {
    await Deno.mkdir(path, { recursive: true, mode: 0o700 });
    created = true;
  }
  const fixed: { path: string; mode: number }[] = [];
  await closeToOthers(path, fixed);
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile) await closeToOthers(join(path, entry.name), fixed);
  }
  return { path, created, fixed };
}

/** Clears the group and other bits of a path if set; records what it was. */
async function closeToOthers(path: string, fixed: { path: string; mode: number }[]) {
  const info = await Deno.stat(path);
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & OPEN_TO_OTHERS) === 0) return;
  await Deno.chmod(path, mode & ~OPEN_TO_OTHERS);
  fixed.push({ path, mode });
}

/** A mode as `0644`. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}
