/**
 * `deno task install`: installs `shop` as a command (`deno install
 * --global`, a small script that runs this checkout's `main.ts`) and says in
 * a line what it installed where, instead of `deno install`'s forty lines
 * of packages; a second line says how to put it on `PATH` when it is not.
 *
 * @module
 */
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The permissions the installed `shop` runs with: those of `deno task shop`. */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
] as const;

/**
 * Where `deno install --global` puts commands: `$DENO_INSTALL_ROOT/bin`,
 * else `~/.deno/bin`.
 */
export function installDir(env: (name: string) => string | undefined): string {
  const root = env("DENO_INSTALL_ROOT") ??
    join(env("HOME") ?? env("USERPROFILE") ?? ".", ".deno");
  return join(root, "bin");
}

/**
 * What the task prints once `shop` is installed in `bin`: where, what it
 * runs, and the `export PATH=...` to type when `bin` is not on `path`.
 *
 * @returns The lines, without final newlines.
 */
export function installedLines(bin: string, main: string, path: string | undefined): string[] {
  const lines = [`Installed shop as ${join(bin, "shop")} (it runs ${main})`];
  if (!(path ?? "").split(delimiter).includes(bin)) {
    lines.push(`${bin} is not on PATH: add it with export PATH="${bin}:$PATH"`);
  }
  return lines;
}

if (import.meta.main) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const main = join(root, "main.ts");
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "install",
      "--quiet",
      "--global",
      "--force",
      "--config",
      join(root, "deno.json"),
      "--name",
      "shop",
      ...PERMISSIONS,
      main,
    ],
    stdin: "null",
  }).spawn().status;
  // On failure deno install's own error, on standard error, says why.
  if (code !== 0) Deno.exit(code);
  const env = (name: string) => Deno.env.get(name);
  for (const line of installedLines(installDir(env), main, env("PATH"))) console.log(line);
}
