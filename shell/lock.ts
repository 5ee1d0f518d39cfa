/**
 * One process per data directory and name: a second `shop server` on the
 * same directory, or a second `shop peer --name alice` on alice's data,
 * would each take over the other's registration and state. The lock is an
 * exclusive advisory lock on `<dir>/<name>.lock`, held while the process
 * runs; the kernel drops it when the process ends, however it ends, so a
 * killed process never leaves it behind. The file holds the owner's pid,
 * for the message to the second process.
 *
 * @module
 */
import { join } from "node:path";

/** Another process holds the lock. */
export class AlreadyRunning extends Error {
  /** The pid the owner wrote, if it could be read. */
  readonly pid: number | undefined;

  constructor(what: string, pid: number | undefined, options?: ErrorOptions) {
    super(`${what} is already running${pid === undefined ? "" : ` (pid ${pid})`}`, options);
    this.name = "AlreadyRunning";
    this.pid = pid;
  }
}

/** A held lock; disposing it lets another process take it. */
export interface DirLock extends Disposable {
  readonly path: string;
}

/**
 * Takes the lock of `name` in `dir`, which must exist.
 *
 * @param what How the owner is named in the error, like `alice` or `shop server`.
 * @param options `onWait`: wait for the owner to end instead of failing (told its pid).
 * @throws {AlreadyRunning} If another process holds it and `onWait` is not given.
 */
export async function lockDataDir(
  dir: string,
  name: string,
  what: string,
  options: { readonly onWait?: (pid: number | undefined) => void } = {},
): Promise<DirLock> {
  const path = join(dir, `${name}.lock`);
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!await file.tryLock(true)) {
    const text = await Deno.readTextFile(path).catch(() => "");
    const parsed = Number.parseInt(text, 10);
    const pid = Number.isSafeInteger(parsed) ? parsed : undefined;
    if (!options.onWait) {
      file.close();
      throw new AlreadyRunning(what, pid);
    }
    // A standby: the lock is let go when the owner ends, however it ends.
    options.onWait(pid);
    await file.lock(true);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return {
    path,
    [Symbol.dispose]() {
      // Closing the file releases the lock; the file stays for the next owner.
      file.close();
    },
  };
}
