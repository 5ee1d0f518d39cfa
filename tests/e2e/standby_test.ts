/**
 * A standby server and the store's fence, with real processes on the
 * embedded store (Deno KV): a standby takes over from a killed server on
 * the same port with its peers, a second server on a store in use is
 * refused, and a server that was taken over from (paused past its lease)
 * writes nothing more and stops.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess, ShopProcess, tempDir } from "./_process.ts";

/** A `shop server` started with its own flags, not waited for. */
function serverProcess(...args: string[]): ShopProcess {
  return new ShopProcess(["server", "--host", "127.0.0.1", "--allow-plaintext", ...args]);
}

Deno.test("a standby on the same data directory takes over from a killed server, on its port, with its peers", async () => {
  await using dir = await tempDir();
  const active = await ServerProcess.start(dir.path);
  await using standby = serverProcess(
    "--port",
    String(active.port),
    "--data",
    dir.path,
    "--standby",
  );
  await standby.waitFor(/^Standby: waiting for the shop server on .* \(pid \d+\) to stop$/);
  {
    await using alice = await PeerProcess.start("alice", active.port, dir.path);
    await alice.command("register", "REGISTERED");
  }
  const killedAt = Date.now();
  assert.equal((await active.kill("SIGKILL")).signal, "SIGKILL");
  const line = await standby.waitFor(/listening on 127\.0\.0\.1:\d+/, { timeoutMs: 30_000 });
  console.log(`standby serving ${Date.now() - killedAt} ms after the kill`);
  assert.match(line, new RegExp(`127\\.0\\.0\\.1:${active.port} `));
  await standby.waitFor(/Standby: took over the store \(epoch \d+\)/, {
    stderr: true,
  });
  // The registrations came along: the name is still bound to alice's key,
  // and alice's session works (her DE-REGISTER is answered).
  await using impostor = await PeerProcess.start("alice", active.port, join(dir.path, "other"));
  const denied = await impostor.command("register", "REGISTER-DENIED");
  assert.match(String(denied.reason), /name alice is bound to another key/);
  await using alice = await PeerProcess.start("alice", active.port, dir.path);
  await alice.command("deregister", "DE-REGISTERED");
});

Deno.test("a second server on a store in use is refused; a paused server taken over from stops without writing", async (t) => {
  await using dir = await tempDir();
  const shared = join(dir.path, "market.kv");
  const first = await ServerProcess.start(join(dir.path, "a"), "--kv", shared);

  await t.step("without --standby: refused with the holder named, exit 1", async () => {
    await using second = serverProcess(
      "--port",
      "0",
      "--data",
      join(dir.path, "b"),
      "--kv",
      shared,
    );
    const status = await second.finished();
    assert.equal(status.code, 1);
    const text = second.stderr.join("\n");
    assert.match(
      text,
      /Another server \(.* pid \d+ .*\) is using this store; start this one with --standby/,
    );
    assert.doesNotMatch(text, /^\s+at /m);
  });

  await t.step(
    "a paused server's lease runs out, the standby takes over, and the paused one stops when it resumes",
    async () => {
      await using standby = serverProcess(
        "--port",
        "0",
        "--data",
        join(dir.path, "b"),
        "--kv",
        shared,
        "--standby",
      );
      await standby.waitFor(/^Standby: waiting for .* to stop \(it holds the store\)$/);
      await using alice = await PeerProcess.start("alice", first.port, join(dir.path, "alice"));
      await alice.command("register", "REGISTERED");
      Deno.kill(first.pid, "SIGSTOP");
      const pausedAt = Date.now();
      try {
        await standby.waitFor(/listening on 127\.0\.0\.1:\d+/, { timeoutMs: 30_000 });
        console.log(`standby serving ${Date.now() - pausedAt} ms after the pause`);
      } finally {
        Deno.kill(first.pid, "SIGCONT");
      }
      // The first server finds it was fenced (at its next renewal or commit) and stops.
      await using carol = await PeerProcess.start("carol", first.port, join(dir.path, "carol"));
      await carol.send("register");
      const status = await first.finished();
      assert.equal(status.code, 1);
      const text = first.stderr.join("\n");
      assert.match(text, /Error: The server stopped: Another server \(.*\) took over the store/);
      // Nothing was acknowledged after the fence.
      assert.equal(carol.lines.some((line) => line.includes('"event":"REGISTERED"')), false);
    },
  );
});
