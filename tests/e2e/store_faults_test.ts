/**
 * Commits that fail, on cue, in a real server process (the test fault
 * points of `server/store/faulty_store.ts`): commits that fail before
 * writing, commits that are made but whose answer is lost, slow commits.
 * Registrations and purchases run through them; afterwards everything
 * acknowledged is stored, once, and the ledger equals both peers'
 * histories.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess, tempDir } from "./_process.ts";
import { checkStored, runMarket } from "./_market_run.ts";
import { KvStore } from "../../server/store/kv_store.ts";
import { ServerProcess as BaseServerProcess } from "../../demo/processes.ts";

const FLAGS = [
  "--offer-window",
  "500ms",
  "--search-timeout",
  "3s",
  "--transaction-timeout",
  "5s",
  "--classic-names-per-host",
  "0",
];

Deno.test("commits that fail, fail after writing, or are slow lose and double nothing", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "server");
  BaseServerProcess.env = {
    SHOP_TEST_STORE_FAULTS: "before:6@20,after:6@40,slow:3@60,before:4@80,after:4@100",
  };
  let server: ServerProcess;
  try {
    server = await ServerProcess.start(data, ...FLAGS);
  } finally {
    BaseServerProcess.env = {};
  }
  try {
    const run = await runMarket({
      dir: dir.path,
      port: server.port,
      registrations: 60,
      items: 8,
      disrupt: () => Promise.resolve(),
    });
    assert.ok(run.registered.length > 0 && run.bought.length > 0, JSON.stringify(run));
    // The server said so once per stall, in one line, and kept serving.
    const stderr = server.stderr.join("\n");
    assert.match(stderr, /Cannot store: Injected fault: commit \d+ not made; replies wait/);
    assert.match(stderr, /The store takes commits again after [\d.]+ s \(\d+ tries\)/);
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    await server.kill("SIGTERM");
    await using store = await KvStore.openExisting(data);
    await checkStored(store, run);
  } finally {
    await server[Symbol.asyncDispose]();
  }
});
