/**
 * The README's two commands for PostgreSQL, run for real: `deno task
 * demo:postgres` prints what the README shows, and the command it prints
 * starts a server on that database, which a peer registers with.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PeerProcess, ShopProcess, tempDir } from "./_process.ts";
import { postgresMissing, requirePostgres } from "../_postgres.ts";
import { readLines } from "../../peer/lines.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
const NAME = "the README's two commands start PostgreSQL and a server on it";

Deno.test({ name: NAME, ...requirePostgres(NAME, postgresMissing()) }, async () => {
  await using dir = await tempDir();
  // In its own folder, as a user would (the task's ./shop-data lands there).
  const demo = new Deno.Command(Deno.execPath(), {
    args: ["run", "--frozen", "--allow-all", `${ROOT}/demo/postgres.ts`, "./shop-data"],
    cwd: dir.path,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    for await (const line of readLines(demo.stdout)) lines.push(line);
  })();
  try {
    const until = Date.now() + 60_000;
    while (lines.length < 4 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(lines.length, 4, lines.join("\n"));
    // The README's transcript, with this run's port.
    const port = /127\.0\.0\.1:(\d+)/.exec(lines[0]!)![1]!;
    const shown = /\$ deno task demo:postgres\n([\s\S]*?)\n\$ /.exec(README)![1]!.replaceAll(
      "36305",
      port,
    );
    assert.equal(lines.join("\n"), shown);
    // The command as printed, its relative paths read from the demo's folder.
    const command = /^ {2}deno task start (.*)$/.exec(lines[2]!)![1]!.split(" ").map((arg) =>
      arg.replace(/^\.\//, `${dir.path}/`)
    );
    const server = new ShopProcess(
      [
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data",
        `${dir.path}/shop-data`,
        ...command,
      ],
    );
    await using _server = server;
    const line = await server.waitFor(/listening on 127\.0\.0\.1:\d+/);
    // The README's second command's line, for this run's address, port and folder.
    const readmeLine = /\n\$ deno task start --store .*\n(.*)\n/.exec(README)![1]!
      .replaceAll("36305", port);
    assert.equal(
      line.replace(/127\.0\.0\.1:\d+ /, "0.0.0.0:5000 ").replace(
        `${dir.path}/shop-data`,
        "./shop-data",
      ),
      readmeLine,
    );
    const serverPort = Number(/:(\d+) /.exec(line)![1]);
    await using alice = await PeerProcess.start("alice", serverPort, dir.path);
    await alice.command("register", "REGISTERED");
  } finally {
    demo.kill("SIGINT");
    await demo.status;
    await reading;
  }
});
