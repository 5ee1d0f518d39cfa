import assert from "node:assert/strict";
import { join } from "node:path";
import { formatMode, prepareDataDir } from "./data_dir.ts";

const mode = async (path: string) => ((await Deno.stat(path)).mode ?? 0) & 0o777;

Deno.test("prepareDataDir creates a 0700 directory whose new files are 0600, at umask 022", async () => {
  const parent = await Deno.makeTempDir();
  const previous = Deno.umask(0o022);
  try {
    const dir = join(parent, "data");
    const prepared = await prepareDataDir(dir);
    assert.equal(prepared.created, true);
    assert.equal(await mode(dir), 0o700);
    await Deno.writeTextFile(join(dir, "server.log"), "x");
    const kv = await Deno.openKv(join(dir, "server.kv"));
    await kv.set(["k"], 1);
    for await (const entry of Deno.readDir(dir)) {
      assert.equal(await mode(join(dir, entry.name)), 0o600, entry.name);
    }
    kv.close();
  } finally {
    Deno.umask(previous);
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("prepareDataDir closes an existing directory and its files to others, and says what it fixed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    const file = join(dir, "alice.kv");
    await Deno.writeTextFile(file, "secret");
    await Deno.chmod(file, 0o644);
    const prepared = await prepareDataDir(dir);
    assert.equal(prepared.created, false);
    assert.deepEqual(prepared.fixed, [{ path: dir, mode: 0o755 }, { path: file, mode: 0o644 }]);
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(file), 0o600);
    assert.equal(await Deno.readTextFile(file), "secret");
    assert.deepEqual((await prepareDataDir(dir)).fixed, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareDataDir refuses a path that is a file and changes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "notadir");
    await Deno.writeTextFile(file, "keep");
    await Deno.chmod(file, 0o644);
    await assert.rejects(prepareDataDir(file), /is a file/);
    assert.equal(await mode(file), 0o644);
    assert.equal(await Deno.readTextFile(file), "keep");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatMode prints octal permissions", () => {
  assert.equal(formatMode(0o100644), "0644");
  assert.equal(formatMode(0o700), "0700");
});
