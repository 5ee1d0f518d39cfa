import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess, tempDir } from "./_process.ts";
import { Random } from "./_random.ts";
import { RawUdp } from "./_udp.ts";

async function kvEntries(dataDir: string): Promise<[Deno.KvKey, unknown][]> {
  using kv = await Deno.openKv(join(dataDir, "server.kv"));
  const entries: [Deno.KvKey, unknown][] = [];
  for await (const entry of kv.list({ prefix: [] })) {
    // Who holds the store (each start claims it anew) is not the market's state.
    if (entry.key[0] === "owner") continue;
    entries.push([entry.key, entry.value]);
  }
  return entries;
}

async function askWithRetries(socket: RawUdp, text: string): Promise<string> {
  for (let attempt = 1;; attempt++) {
    try {
      return await socket.ask(text, 1_000);
    } catch (error) {
      if (attempt === 10) throw error;
    }
  }
}

const GARBAGE_COMMANDS = [
  "HELLO",
  "register 1 x 127.0.0.1 1 2",
  "REGISTER",
  "REGISTER 9",
  "REGISTER 9 bad/name 127.0.0.1 1 2",
  "REGISTER 9 zed 999.1.1.1 1 2",
  "REGISTER 9 zed 127.0.0.1 0 2",
  "REGISTER 9 zed 127.0.0.1 70000 2",
  "REGISTER 9 zed 127.0.0.1 1 2 extra",
  "DE-REGISTER 9",
  "DE-REGISTER 9 alice extra",
  "LOOKING_FOR 9 alice Laptop -1",
  "OFFER 9 alice Laptop abc",
  "BUY 9 Laptop 1e5",
  `REGISTER ${"x".repeat(2000)} zed 127.0.0.1 1 2`,
];

Deno.test("garbage datagrams leave the server running and its state unchanged", async () => {
  await using dir = await tempDir();
  const first = await ServerProcess.start(dir.path);
  {
    using alice = new RawUdp(first.port);
    assert.equal(
      await alice.ask(`REGISTER a1 alice 127.0.0.1 ${alice.port} 40000`),
      "REGISTERED a1",
    );
  }
  await first.kill("SIGTERM");
  const before = await kvEntries(dir.path);
  assert.equal(before.filter(([key]) => key[0] === "peer").length, 1);

  const server = await ServerProcess.restart(first, dir.path);
  using attacker = new RawUdp(server.port);
  const random = new Random(20261125);
  const sent = { random: 0, commands: 0 };
  for (let i = 0; i < 3000; i++) {
    if (i % 3 === 0) {
      await attacker.send(random.pick(GARBAGE_COMMANDS));
      sent.commands++;
    } else {
      await attacker.send(random.bytes(random.int(0, 1500)));
      sent.random++;
    }
  }
  await attacker.send(new Uint8Array([0xc3, 0x28, 0x20, 0xff])); // invalid UTF-8

  // Still serving: a denial for a name that is not registered changes
  // nothing. The flood may have filled the socket's receive buffer, so the
  // probe is retried like any UDP client would.
  using probe = new RawUdp(server.port);
  assert.match(
    await askWithRetries(probe, `REGISTER p1 alice 127.0.0.1 ${probe.port} 40000`),
    /^REGISTER-DENIED p1 name alice in use$/,
  );
  // A malformed REGISTER with a readable RQ# gets a denial that says why.
  assert.match(
    await probe.ask("REGISTER p2 bad/name 127.0.0.1 1 2"),
    /^REGISTER-DENIED p2 Invalid name/,
  );
  const status = await server.kill("SIGTERM");
  assert.equal(status.code, 0, `server exited with ${status.code}`);
  assert.deepEqual(await kvEntries(dir.path), before);
  assert.ok(sent.random > 1000 && sent.commands > 500);
});
