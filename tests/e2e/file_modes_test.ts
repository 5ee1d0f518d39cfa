import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";

const mode = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o777;

/** Every directory and file below `dir` with its mode. */
async function modes(dir: string, into = new Map<string, number>()): Promise<Map<string, number>> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    into.set(path, await mode(path));
    if (entry.isDirectory) await modes(path, into);
  }
  return into;
}

Deno.test("a server's and a peer's data are 0700 directories of 0600 files, started at umask 022", async () => {
  await using dir = await tempDir();
  const previous = Deno.umask(0o022);
  try {
    const data = join(dir.path, "shop-data");
    await using server = await ServerProcess.start(data);
    await using alice = await PeerProcess.start("alice", server.port, data);
    await alice.command("register", "REGISTERED");
    await alice.closeInput();
    await alice.finished();
    const found = await modes(data);
    const names = [...found.keys()].map((path) => path.slice(data.length + 1));
    for (const file of ["server.kv", "server.log", "alice.kv", "alice.log"]) {
      assert.ok(names.includes(file), `${file} in ${names.join(", ")}`);
    }
    assert.equal(await mode(data), 0o700);
    for (const [path, bits] of found) {
      const info = await Deno.stat(path);
      assert.equal(bits, info.isDirectory ? 0o700 : 0o600, path);
    }
    // Nothing was ever open, so nothing is reported as fixed.
    assert.deepEqual(server.stderr.filter((line) => /open to other users/.test(line)), []);
  } finally {
    Deno.umask(previous);
  }
});

Deno.test("a server finding its key file readable by others says so and makes it private", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "shop-data");
  {
    await using _first = await ServerProcess.start(data);
  }
  const kv = join(data, "server.kv");
  await Deno.chmod(data, 0o755);
  await Deno.chmod(kv, 0o644);
  await using server = await ServerProcess.start(data);
  assert.equal(await mode(kv), 0o600);
  assert.equal(await mode(data), 0o700);
  await server.kill("SIGTERM");
  const said = server.stderr.join("\n");
  assert.match(said, /server\.kv was open to other users \(mode 0644\); it is now private/);
});

Deno.test("a second peer or server on the same data refuses to start, says who runs, and touches nothing", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "shop-data");
  await using server = await ServerProcess.start(data);
  await using alice = await PeerProcess.start("alice", server.port, data);
  await alice.command("register", "REGISTERED");
  for (
    const [args, who] of [
      [
        ["peer", "--name", "alice", "--server", `127.0.0.1:${server.port}`, "--data", data],
        "alice",
      ],
      [["server", "--port", "0", "--data", data, "--allow-plaintext"], "shop server"],
    ] as const
  ) {
    const second = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const said = new TextDecoder().decode(second.stderr);
    assert.equal(second.code, 1, said);
    assert.match(
      said,
      new RegExp(
        `${who} is already running \\(pid \\d+\\) on data directory ".+": ` +
          "stop it first, or give another with --data",
      ),
    );
  }
  // The running alice is still the registered one, and the only alice that
  // ever started on this data (the second one never reached its log).
  const status = await alice.command("status", "status");
  assert.equal(status.registered, true);
  await alice.closeInput();
  await alice.finished();
  const log = await Deno.readTextFile(join(data, "alice.log"));
  assert.equal(log.match(/Peer alice started/g)?.length, 1, log);
});
