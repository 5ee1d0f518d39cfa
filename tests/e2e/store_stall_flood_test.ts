/**
 * A flood while the store fails: the worker waits for the store, and the
 * datagrams that arrive meanwhile must not grow the server without bound.
 * Past a cap they are dropped (told once), and once the store takes
 * commits again the server answers as before.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess, tempDir } from "./_process.ts";
import { ServerProcess as BaseServerProcess } from "../../demo/processes.ts";
import { RawUdp } from "./_udp.ts";

const FLOOD = 150_000;

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]);
}

Deno.test("a flood while the store fails is dropped past a cap, and the server answers after", async () => {
  await using dir = await tempDir();
  // The third commit and the 11 tries after it fail: about 12 s of retries.
  BaseServerProcess.env = { SHOP_TEST_STORE_FAULTS: "before:12@3" };
  let server: ServerProcess;
  try {
    server = await ServerProcess.start(
      join(dir.path, "server"),
      "--classic-names-per-host",
      "0",
      "--names-per-host",
      "0",
      "--rate-limit",
      "1000000",
    );
  } finally {
    BaseServerProcess.env = {};
  }
  await using _server = server;
  using probe = new RawUdp(server.port);
  const register = (name: string) =>
    `REGISTER r-${name} ${name} 127.0.0.1 ${probe.port} ${probe.port}`;
  assert.match(await probe.ask(register("first")), /^REGISTERED r-first/);
  const before = await rssKiB(server.pid);
  // The second commit fails from here: the worker waits, datagrams pile up.
  await probe.send(register("stalled"));
  await server.waitFor(/Cannot store: Injected fault/, { stderr: true });
  const sockets = Array.from({ length: 16 }, () => new RawUdp(server.port));
  try {
    for (let i = 0; i < FLOOD; i++) {
      const socket = sockets[i % sockets.length]!;
      // Announcing port 9 (discard): the answers go nowhere that is read.
      await socket.send(`REGISTER r-f${i} f${i} 127.0.0.1 9 9`);
      if (i % 2_000 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const peak = await rssKiB(server.pid);
    console.log(`RSS before ${before} KiB, after ${FLOOD} datagrams during the stall ${peak} KiB`);
    await server.waitFor(/datagrams are dropped until it takes commits again/, { stderr: true });
    assert.ok(peak - before < 150 * 1024, `grew by ${peak - before} KiB`);
    // Once the store takes commits again, a new registration is answered.
    await server.waitFor(/The store takes commits again/, { stderr: true, timeoutMs: 60_000 });
    using late = new RawUdp(server.port);
    let answered = "";
    for (let i = 0; i < 30 && !answered.startsWith("REGISTERED r-after"); i++) {
      answered = await late.ask(`REGISTER r-after after 127.0.0.1 ${late.port} ${late.port}`, 1_000)
        .catch(() => "");
    }
    assert.match(answered, /^REGISTERED r-after/, server.stderr.slice(-15).join("\n"));
    const told = server.stderr.filter((line) => /datagrams are dropped/.test(line));
    assert.equal(told.length, 1, told.join("\n"));
  } finally {
    for (const socket of sockets) socket[Symbol.dispose]();
  }
});
