/**
 * The two commands for PostgreSQL in docs/operations.md, run for real:
 * `deno task demo:postgres` prints what the transcript shows, and the
 * command it prints starts a server on that database, which a peer
 * registers with (`deno task docs:update` rewrites the transcript).
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PeerProcess, ShopProcess, tempDir } from "./_process.ts";
import { postgresMissing, requirePostgres } from "../_postgres.ts";
import { readLines } from "../../peer/lines.ts";
import { checkTranscript, transcriptBlocks } from "../_transcripts.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OPERATIONS = new URL("../../docs/operations.md", import.meta.url);
const NAME = "the two commands of docs/operations.md start PostgreSQL and a server on it";

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
    // The transcript shows the port of the run it came from.
    const port = /127\.0\.0\.1:(\d+)/.exec(lines[0]!)![1]!;
    const block = transcriptBlocks(await Deno.readTextFile(OPERATIONS)).find(({ name }) =>
      name === "postgres"
    );
    const shownPort = /127\.0\.0\.1:(\d+)/.exec(block?.lines.join("\n") ?? "")?.[1] ?? port;
    const asShown = (line: string) =>
      line.replaceAll(`127.0.0.1:${port}`, `127.0.0.1:${shownPort}`);
    // The command as printed, its relative paths read from the demo's folder.
    const printed = /^ {2}deno task start (.*)$/.exec(lines[2]!)![1]!;
    const command = printed.split(" ").map((arg) => arg.replace(/^\.\//, `${dir.path}/`));
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
    // As a user would see it: the server on 0.0.0.0:5000, the folder ./shop-data.
    const started = line.replace(/127\.0\.0\.1:\d+ /, "0.0.0.0:5000 ").replace(
      `${dir.path}/shop-data`,
      "./shop-data",
    );
    await checkTranscript(OPERATIONS, "postgres", [
      "$ deno task demo:postgres",
      ...lines.map(asShown),
      `$ deno task start ${asShown(printed)}`,
      asShown(started),
    ]);
    const serverPort = Number(/:(\d+) /.exec(line)![1]);
    await using alice = await PeerProcess.start("alice", serverPort, dir.path);
    await alice.command("register", "REGISTERED");
  } finally {
    demo.kill("SIGINT");
    await demo.status;
    await reading;
  }
});
