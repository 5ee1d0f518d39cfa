import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

async function shop(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("shop --help lists both roles and exits 0", async () => {
  const result = await shop("--help");
  assert.equal(result.code, 0);
  assert.match(result.stdout, /shop server/);
  assert.match(result.stdout, /shop peer --name NAME/);
});

Deno.test("shop server --help shows the options with their defaults", async () => {
  const result = await shop("server", "--help");
  assert.equal(result.code, 0);
  for (const option of ["--port", "--host", "--data", "--log-level"]) {
    assert.match(result.stdout, new RegExp(option));
  }
  assert.match(result.stdout, /5000/);
});

Deno.test("shop --version prints the version from deno.json", async () => {
  const result = await shop("--version");
  assert.equal(result.code, 0);
  assert.equal(result.stdout.trim(), denoJson.version);
});

Deno.test("shop completion prints a script for bash, zsh and fish", async (t) => {
  for (const shell of ["bash", "zsh", "fish"]) {
    await t.step(shell, async () => {
      const result = await shop("completion", shell);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /shop/);
      assert.ok(result.stdout.length > 200, "the script is not empty");
    });
  }
});

Deno.test("bad option values name the option and exit with code 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["server", "--port", "abc"], /--port.*"abc".*port number/],
    [["server", "--port", "70000"], /--port.*"70000"/],
    [["server", "--log-level", "loud"], /--log-level.*"loud"/],
    [["peer"], /Missing option `--name`/],
    [["peer", "--name", "../etc"], /--name.*"\.\.\/etc"/],
    [["peer", "--name", "bob", "--server", "nowhere"], /--server.*HOST:PORT/],
    [["peer", "--name", "bob", "--udp-port", "-1"], /--udp-port/],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" "), async () => {
      const result = await shop(...args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
    });
  }
});
