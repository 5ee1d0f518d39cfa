import assert from "node:assert/strict";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";

Deno.test("peers register, are denied a name in use, de-register and register again", async (t) => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path);
  await using alice = await PeerProcess.start("alice", server.port, dir.path);

  await t.step("a new name is registered", async () => {
    const reply = await alice.command("register", "REGISTERED");
    assert.equal(reply.name, "alice");
    assert.match(String(reply.rq), /^alice-/);
  });

  await t.step("a second peer with the same name is denied", async () => {
    await using other = await PeerProcess.start("alice", server.port, `${dir.path}/other`);
    const reply = await other.command("register", "REGISTER-DENIED");
    assert.match(String(reply.reason), /name alice is bound to another key/);
  });

  await t.step("de-registering frees the name", async () => {
    await alice.command("deregister", "DE-REGISTERED");
    const status = await alice.command("status", "status");
    assert.equal(status.registered, false);
  });

  await t.step("the name can be registered again", async () => {
    await alice.command("register", "REGISTERED");
  });
});

Deno.test("a server killed with SIGKILL still knows its peers after a restart", async () => {
  await using dir = await tempDir();
  const first = await ServerProcess.start(dir.path);
  {
    await using alice = await PeerProcess.start("alice", first.port, dir.path);
    await alice.command("register", "REGISTERED");
  }
  const status = await first.kill("SIGKILL");
  assert.equal(status.signal, "SIGKILL");

  await using second = await ServerProcess.restart(first, dir.path);
  await using impostor = await PeerProcess.start("alice", second.port, `${dir.path}/impostor`);
  const denied = await impostor.command("register", "REGISTER-DENIED");
  assert.match(String(denied.reason), /name alice is bound to another key/);
  await using alice = await PeerProcess.start("alice", second.port, dir.path);
  await alice.command("deregister", "DE-REGISTERED");
});

Deno.test("a peer's registration state survives its own restart", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path);
  {
    await using alice = await PeerProcess.start("alice", server.port, dir.path);
    await alice.command("register", "REGISTERED");
    await alice.closeInput();
    assert.equal((await alice.finished()).code, 0);
  }
  await using alice = await PeerProcess.start("alice", server.port, dir.path);
  const status = await alice.command("status", "status");
  assert.equal(status.registered, true);
});
