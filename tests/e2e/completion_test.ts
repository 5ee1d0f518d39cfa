import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What bash completes for the words typed so far (the last one may be partial). */
function completeIn(words: string[]): string {
  const line = words.join(" ");
  return `COMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")}); COMP_CWORD=${
    words.length - 1
  }; COMP_LINE='${line}'; COMP_POINT=${line.length}; _shop; echo "\${COMPREPLY[*]}"`;
}

Deno.test("deno task install says where it put shop, and the completion script the README shows completes it", async () => {
  // Not tempDir(): the installed copy holds zod's own tests, card numbers and all.
  const path = await Deno.makeTempDir({ prefix: "shop-install-" });
  await using dir = {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
  const [command, ...args] = denoJson.tasks.install.split(" ");
  assert.equal(command, "deno");
  const install = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { DENO_INSTALL_ROOT: dir.path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(install.success, new TextDecoder().decode(install.stderr));
  // What it installed and where, and how to reach it: not deno install's forty lines.
  const bin = join(dir.path, "bin");
  assert.equal(
    new TextDecoder().decode(install.stdout),
    `Installed shop as ${join(bin, "shop")} (it runs ${join(ROOT, "main.ts")})\n` +
      `${bin} is not on PATH: add it with export PATH="${bin}:$PATH"\n`,
  );
  assert.equal(new TextDecoder().decode(install.stderr), "");
  const script = [
    "source <(shop completion bash)",
    completeIn(["shop", "pe"]),
    completeIn(["shop", "peer", "--log-level", ""]),
    completeIn(["shop", "server", "--log-level", "w"]),
  ].join("\n");
  const bash = await new Deno.Command("bash", {
    args: ["-c", script],
    env: { PATH: `${dir.path}/bin:${Deno.env.get("PATH")}` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(bash.stdout).trimEnd().split("\n");
  assert.deepEqual(
    lines,
    ["peer", "debug info warning error", "warning"],
    new TextDecoder().decode(bash.stderr),
  );
});
