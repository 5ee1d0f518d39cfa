import assert from "node:assert/strict";
import { PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { MAIN, shop } from "./_shop.ts";

/** Whether `script` (util-linux) is there to give a process a terminal. */
const hasScript = await new Deno.Command("script", { args: ["--version"], stdout: "null" })
  .output().then((output) => output.success, () => false);

/**
 * Runs a peer on a pseudo-terminal (through `script`) and types the keys,
 * each group after a pause, returning the screen output.
 */
async function onTerminal(
  args: string[],
  keys: string[],
): Promise<{ code: number; screen: string }> {
  const command = [Deno.execPath(), "run", "--allow-all", MAIN, ...args]
    .map((word) => `'${word}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const decoder = new TextDecoder();
  let screen = "";
  const reading = (async () => {
    for await (const chunk of child.stdout) screen += decoder.decode(chunk, { stream: true });
  })();
  const waitFor = async (text: string) => {
    const deadline = Date.now() + 15_000;
    while (!screen.includes(text)) {
      if (Date.now() > deadline) throw new Error(`No ${JSON.stringify(text)} in:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  await waitFor("> ");
  for (const key of keys) {
    await writer.write(new TextEncoder().encode(key));
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  await writer.close();
  const status = await child.status;
  await reading;
  await child.stderr.cancel();
  return { code: status.code, screen };
}

Deno.test({
  name: "on a terminal the peer shows a prompt, edits the line and recalls history",
  ignore: !hasScript,
  async fn() {
    await using dir = await tempDir();
    const { code, screen } = await onTerminal(
      ["peer", "--name", "tty", "--data", dir.path, "--server", "127.0.0.1:9"],
      [
        "stat",
        "\x1b[D\x1b[Dxx\x7f\x7f",
        "\x1b[Fus\r",
        "\x1b[A\x1b[H\x1b[3~\x1b[3~\x1b[3~\x1b[3~\x1b[3~\x1b[3~key\r",
        "\x04",
      ],
    );
    assert.equal(code, 0, screen);
    assert.match(screen, /tty> /);
    // "stat", two lefts, "xx" and two backspaces, End, "us": "status".
    assert.match(screen, /tty: not registered with 127\.0\.0\.1:9/);
    // Up gives "status" back; Home and six Deletes leave "", then "key".
    assert.match(screen, /This peer's public key/);
    assert.doesNotMatch(screen, /Unknown command/);
  },
});

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
