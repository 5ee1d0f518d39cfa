import assert from "node:assert/strict";
import { ServerProcess, tempDir } from "./_process.ts";
import { RawUdp } from "./_udp.ts";

Deno.test("a classic peer speaking raw wire text registers and de-registers", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path);
  using classic = new RawUdp(server.port);
  const tcpPort = 45678;

  assert.equal(
    await classic.ask(`REGISTER 1 carol 127.0.0.1 ${classic.port} ${tcpPort}`),
    "REGISTERED 1",
  );
  // A classic peer that retransmits after a lost reply gets the same answer.
  assert.equal(
    await classic.ask(`REGISTER 1 carol 127.0.0.1 ${classic.port} ${tcpPort}`),
    "REGISTERED 1",
  );
  // Trailing newlines are tolerated.
  assert.equal(await classic.ask("DE-REGISTER 2 carol\n"), "DE-REGISTERED 2");
  // A denial is never longer than the datagram it answers when the sender
  // is no registered peer (no amplification toward forged addresses): this
  // one would be, so it is withheld, and the reason only logged.
  await classic.send("DE-REGISTER 3 carol");
  await assert.rejects(classic.receive(500), /No datagram/);
  // This one fits once its reason is cut to the request's length.
  const request = `REGISTER 4 carol 127.0.0.1 ${classic.port} 99999`;
  const denial = await classic.ask(request);
  assert.match(denial, /^REGISTER-DENIED 4 Invalid tcpPort/);
  assert.ok(denial.length <= request.length, `${denial.length} > ${request.length}`);
});

Deno.test("--kv keeps the server's state in the file it names, not in the data directory", async () => {
  await using dir = await tempDir();
  const kv = `${dir.path}/elsewhere/state.kv`;
  await Deno.mkdir(`${dir.path}/elsewhere`);
  {
    await using server = await ServerProcess.start(`${dir.path}/data`, "--kv", kv);
    using classic = new RawUdp(server.port);
    assert.equal(await classic.ask(`REGISTER 1 dora 127.0.0.1 ${classic.port} 9`), "REGISTERED 1");
    await server.kill("SIGTERM");
  }
  await assert.rejects(Deno.stat(`${dir.path}/data/server.kv`), Deno.errors.NotFound);
  using state = await Deno.openKv(kv);
  assert.equal((await state.get<{ name: string }>(["peer", "dora"])).value?.name, "dora");
});
