/** What a new user met trying the README (the newcomer run of issue 13's session). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { shop } from "./_shop.ts";

Deno.test("shop server ledger and key on a --data that is a file: a clear error, no stack trace", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "afile");
  await Deno.writeTextFile(file, "not a directory");
  for (const args of [["server", "ledger", "--data", file], ["server", "key", "--data", file]]) {
    const result = await shop(args);
    assert.notEqual(result.code, 0, args.join(" "));
    assert.match(result.stderr, /^Error: Cannot /m, result.stderr);
    assert.doesNotMatch(result.stderr, /Uncaught|    at /, result.stderr);
  }
  assert.equal(await Deno.readTextFile(file), "not a directory");
});

Deno.test("a piped session whose registration is denied exits 1", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path);
  await using alice = await PeerProcess.start("alice", server.port, dir.path);
  await alice.command("register", "REGISTERED");
  // Another alice, with another key: the name is bound to the first one's.
  const other = await shop([
    "peer",
    "--name",
    "alice",
    "--host",
    "127.0.0.1",
    "--server",
    `127.0.0.1:${server.port}`,
    "--data",
    join(dir.path, "other"),
  ], { stdin: "register\n" });
  assert.match(other.stdout, /Registration denied: name alice is bound to another key/);
  assert.equal(other.code, 1, other.stdout + other.stderr);
});
