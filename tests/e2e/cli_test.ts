import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

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

Deno.test("shop server key prints the key a peer pins with --server-key", async (t) => {
  await using dir = await tempDir();
  const data = `${dir.path}/server`;
  await using first = await ServerProcess.start(data);
  let logged = "";
  await t.step("the server makes its key at the first start and logs its fingerprint", async () => {
    logged = await first.waitFor(/Serving on UDP .*; server key \S+$/, { stderr: true });
    await first.kill();
  });

  const result = await shop("server", "key", "--data", data);
  assert.equal(result.code, 0, result.stderr);
  const printed = result.stdout.match(/^server key (\S+)\nfingerprint (\S+)\n$/);
  assert.ok(printed, `unexpected output:\n${result.stdout}`);
  const [, key, fingerprint] = printed;
  await t.step("server key reads the stored key, not a new one", () => {
    assert.ok(logged.endsWith(`server key ${fingerprint}`), logged);
    assert.doesNotMatch(result.stderr, /made a new one/);
  });

  await t.step("--json prints the same key and fingerprint as one object", async () => {
    const json = await shop("server", "key", "--data", data, "--json");
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { key, fingerprint });
  });

  await t.step("a peer given that key registers authenticated and reports it", async () => {
    await using server = await ServerProcess.restart(first, data);
    await using peer = await PeerProcess.start(
      "alice",
      server.port,
      `${dir.path}/peer`,
      "--server-key",
      key!,
    );
    const registered = await peer.command("register", "REGISTERED");
    assert.equal(registered.authenticated, true);
    assert.equal(registered.serverKeyFingerprint, fingerprint);
    const status = await peer.command("status", "status");
    assert.equal(status.serverKeyFingerprint, fingerprint);
    assert.equal(status.serverKeyGiven, true);
  });
});

Deno.test("shop server key before the first start makes the key the server then uses", async () => {
  await using dir = await tempDir();
  const data = `${dir.path}/server`;
  const result = await shop("server", "key", "--data", data, "--json");
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /There was no server key in .*server\.kv: made a new one/);
  const { fingerprint } = JSON.parse(result.stdout) as { key: string; fingerprint: string };
  await using server = await ServerProcess.start(data);
  const logged = await server.waitFor(/Serving on UDP/, { stderr: true });
  assert.ok(logged.endsWith(`; server key ${fingerprint}`), logged);
});
