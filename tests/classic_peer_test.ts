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
  assert.match(await classic.ask("DE-REGISTER 3 carol"), /^DE-REGISTER-DENIED 3 .*not registered/);
  assert.match(
    await classic.ask(`REGISTER 4 carol 127.0.0.1 ${classic.port} 99999`),
    /^REGISTER-DENIED 4 Invalid tcpPort "99999".*1 to 65535/,
  );
});
