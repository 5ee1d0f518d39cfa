/**
 * A small real filesystem for the disk-full tests: a tmpfs of a few
 * kilobytes or megabytes mounted on a fresh directory (root only), filled
 * to the last byte with a file that can be deleted to make room again.
 *
 * @module
 */

/** A mounted tmpfs, unmounted and removed when disposed. */
export interface Tmpfs extends AsyncDisposable {
  readonly path: string;
}

/** Why this process cannot mount a tmpfs, or `undefined` when it can (checked once, by trying). */
export async function tmpfsRefused(): Promise<string | undefined> {
  try {
    await using _probe = await mountTmpfs("64k");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Mounts a tmpfs of `size` (as `mount -o size=` reads it: `64k`, `3m`) on
 * a new temporary directory.
 *
 * @throws {Error} If mounting is refused (not root, or no `mount`), with its output.
 */
export async function mountTmpfs(size: string): Promise<Tmpfs> {
  const path = await Deno.makeTempDir({ prefix: "shop-tmpfs-" });
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    await Deno.remove(path);
    throw new Error(`Cannot run mount: ${error instanceof Error ? error.message : error}`);
  }
  if (!output.success) {
    await Deno.remove(path);
    const why = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot mount a tmpfs on ${path}: ${why || `exit ${output.code}`}`);
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      // Lazily: a process still holding a file there does not keep it mounted.
      await new Deno.Command("umount", { args: ["-l", path], stderr: "null" }).output();
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Fills the filesystem holding `dir` with the file `dir/name` until a write
 * fails for want of space.
 *
 * @returns The filler's path: delete it to make room again.
 */
export async function fill(dir: string, name = "filler"): Promise<string> {
  const path = `${dir}/${name}`;
  using file = await Deno.open(path, { create: true, append: true });
  const chunk = new Uint8Array(4096).fill(0x2e);
  for (;;) {
    try {
      if (await file.write(chunk) === 0) break;
    } catch (error) {
      if (error instanceof Error && /No space left|os error 28/.test(error.message)) break;
      throw error;
    }
  }
  return path;
}
