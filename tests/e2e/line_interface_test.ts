import assert from "node:assert/strict";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { shop } from "./_shop.ts";

Deno.test("a pipe gets plain lines: no prompt, no escape codes; exit and ? are quit and help", async () => {
  await using dir = await tempDir();
  const result = await shop(
    ["peer", "--name", "piped", "--data", dir.path, "--server", "127.0.0.1:9"],
    { stdin: "?\nexit\nstatus\n", env: { NO_COLOR: "" } },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!result.stdout.includes("\x1b"), "no escape codes in a pipe");
  assert.doesNotMatch(result.stdout, /piped> /);
  assert.match(result.stdout, /^Commands:$/m);
  assert.match(result.stdout, /^ {2}questions +List the questions waiting/m);
  // Nothing after exit runs.
  assert.doesNotMatch(result.stdout, /not registered/);
});

Deno.test("questions lists the questions waiting, and says when there are none", async () => {
  await using dir = await tempDir();
  const result = await shop(
    ["peer", "--name", "asker", "--data", dir.path, "--server", "127.0.0.1:9"],
    { stdin: "questions\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^No questions waiting$/m);
});

Deno.test("a piped session that printed an error exits 1, one without errors 0", async () => {
  await using dir = await tempDir();
  const args = ["peer", "--name", "script", "--data", dir.path, "--server", "127.0.0.1:9"];
  const bad = await shop(args, { stdin: "inventory\nbogus\n" });
  // Errors go to standard error, the replies to standard output.
  assert.match(bad.stderr, /^Error: Unknown command "bogus"/m);
  assert.doesNotMatch(bad.stdout, /Unknown command/);
  assert.match(bad.stdout, /The inventory is empty/);
  assert.equal(bad.code, 1);
  const good = await shop(args, { stdin: "inventory\n" });
  assert.equal(good.code, 0, good.stdout);
});

Deno.test("register then buy in a script: buy waits for the registration", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(`${dir.path}/server`);
  const result = await shop(
    [
      "peer",
      "--name",
      "scripted",
      "--data",
      `${dir.path}/peer`,
      "--server",
      `127.0.0.1:${server.port}`,
      "--host",
      "127.0.0.1",
    ],
    { stdin: "register\nbuy Mug 10\n" },
  );
  assert.doesNotMatch(result.stdout, /Not registered/);
  const registered = result.stdout.indexOf("Registered as scripted");
  const looking = result.stdout.indexOf("Looking for Mug");
  assert.ok(registered >= 0 && looking > registered, result.stdout);
  assert.equal(result.code, 0, result.stdout);
});

Deno.test("--stay keeps a peer online after the end of input until SIGTERM", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(`${dir.path}/server`);
  await using seller = await PeerProcess.start("stayer", server.port, `${dir.path}/peer`, "--stay");
  await seller.command("register", "REGISTERED");
  await seller.command("sell Lamp 20", "sell");
  await seller.closeInput();
  await seller.waitEvent("staying");
  // Still there a while later: a buyer finds the lamp.
  await using buyer = await PeerProcess.start("finder", server.port, `${dir.path}/buyer`);
  await buyer.command("register", "REGISTERED");
  await buyer.send("buy Lamp 25");
  await seller.waitEvent("RESERVE", { timeoutMs: 20_000 });
  const status = await seller.kill("SIGTERM");
  assert.equal(status.code, 0);
});

Deno.test("info log lines stay off the console unless --log-level asks for them", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(`${dir.path}/server`);
  const args = [
    "peer",
    "--name",
    "quiet",
    "--data",
    `${dir.path}/peer`,
    "--server",
    `127.0.0.1:${server.port}`,
    "--host",
    "127.0.0.1",
  ];
  await shop(args, { stdin: "register\n" });
  // Registered before, the peer registers again at start, and logs that at info.
  const quiet = await shop(args, { stdin: "status\n" });
  assert.doesNotMatch(quiet.stderr, / INF /);
  const told = await shop([...args, "--log-level", "info"], { stdin: "status\n" });
  assert.match(told.stderr, / INF .*Registering again after a restart/);
  const file = await Deno.readTextFile(`${dir.path}/peer/quiet.log`);
  assert.equal(file.match(/Registering again after a restart/g)?.length, 2, "the file has both");
});
