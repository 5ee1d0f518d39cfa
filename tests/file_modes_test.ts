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
