import assert from "node:assert/strict";
import { AlreadyRunning, lockDataDir } from "./lock.ts";

Deno.test("a second process cannot take a data directory's lock, and is told the owner's pid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    using _lock = await lockDataDir(dir, "alice", "alice");
    // Another process, not just another handle: flock is per open file, so
    // the child's attempt is a real second owner.
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { lockDataDir } from ${JSON.stringify(new URL("./lock.ts", import.meta.url).href)};
         try { await lockDataDir(${JSON.stringify(dir)}, "alice", "alice"); console.log("taken"); }
         catch (error) { console.log(error.message); }`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(child.stdout).trim(),
      `alice is already running (pid ${Deno.pid})`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock released (or its process gone) can be taken again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { lockDataDir } from ${JSON.stringify(new URL("./lock.ts", import.meta.url).href)};
         await lockDataDir(${JSON.stringify(dir)}, "server", "shop server"); console.log("held");
         setInterval(() => {}, 1000);`,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "held");
    await assert.rejects(lockDataDir(dir, "server", "shop server"), AlreadyRunning);
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    using lock = await lockDataDir(dir, "server", "shop server");
    assert.equal((await Deno.readTextFile(lock.path)).trim(), String(Deno.pid));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
