/**
 * Raw-socket tests that play a classic server with each deviation found in
 * independent implementations, against a real `shop peer` process: one
 * that never answers a REGISTER with extra words, one that answers
 * `ERROR: …`, one that answers with its own counter, and one that closes
 * the buyer's connection after INFORM_Res and sends CANCEL on a new one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, tempDir } from "./_process.ts";
import { withTimeout } from "./_classic.ts";

/** A classic server's UDP socket: raw text in, raw text out. */
class RawServer implements Disposable {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  /** The next datagram whose first word is `type`, and where it came from. */
  async expect(type: string, timeoutMs = 15_000): Promise<{ words: string[]; from: Deno.Addr }> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${type} within ${timeoutMs} ms`);
      const [data, from] = await withTimeout(this.socket.receive(), left, type);
      const words = new TextDecoder().decode(data).trim().split(" ");
      if (words[0] === type) return { words, from };
    }
  }

  async send(text: string, to: Deno.Addr): Promise<void> {
    await this.socket.send(new TextEncoder().encode(text), to);
  }

  [Symbol.dispose](): void {
    this.socket.close();
  }
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(1024);
  const read = await withTimeout(conn.read(buffer), 10_000, "a TCP read");
  return read === null ? "" : new TextDecoder().decode(buffer.subarray(0, read));
}

Deno.test("a classic server that never answers REGISTER with extensions gets a classic one", async () => {
  await using dir = await tempDir();
  using server = new RawServer();
  await using peer = await PeerProcess.start("alice", server.port, dir.path);
  const registering = await peer.command("register", "registering");
  assert.equal(registering.server, `127.0.0.1:${server.port}`);
  // It "crashes" on the extra words: it never answers them.
  let classic;
  for (let tries = 0; tries < 6; tries++) {
    const register = await server.expect("REGISTER");
    if (register.words.length === 6) {
      classic = register;
      break;
    }
    assert.equal(register.words[6], "shop/1");
  }
  assert.ok(classic, "a REGISTER without extensions came");
  // Its own counter, not our RQ#.
  await server.send("REGISTERED 1", classic.from);
  const registered = await peer.waitEvent("REGISTERED");
  assert.equal(registered.serverKind, "classic");
});

Deno.test("a classic server that answers ERROR: gets a classic REGISTER at once", async () => {
  await using dir = await tempDir();
  using server = new RawServer();
  await using peer = await PeerProcess.start("alice", server.port, dir.path);
  await peer.send("register");
  const extended = await server.expect("REGISTER");
  assert.equal(extended.words[6], "shop/1");
  await server.send("ERROR: invalid literal for int() with base 10: 'shop/1'", extended.from);
  const classic = await server.expect("REGISTER", 2_000);
  assert.equal(classic.words.length, 6);
  await server.send("REGISTER-DENIED 1 Name-Already-Exists", classic.from);
  const denied = await peer.waitEvent("REGISTER-DENIED");
  assert.equal(denied.reason, "Name-Already-Exists");
});

Deno.test("a classic server's own datagrams are not shown; its ERROR: or Unknown command after LOOKING_FOR ends the search", async () => {
  await using dir = await tempDir();
  using server = new RawServer();
  await using peer = await PeerProcess.start("alice", server.port, dir.path);
  await peer.send("register");
  const extended = await server.expect("REGISTER");
  await server.send("ERROR: invalid literal for int() with base 10: 'shop/1'", extended.from);
  const classic = await server.expect("REGISTER", 2_000);
  await server.send(`REGISTERED ${classic.words[1]}`, classic.from);
  await peer.waitEvent("REGISTERED");
  await peer.send("buy Teapot 25");
  const looking = await server.expect("LOOKING_FOR");
  await server.send(`LOOKING_FOR_ACK ${looking.words[1]}`, looking.from);
  await server.send("ERROR: could not convert string to float: 'x'", looking.from);
  const denied = await peer.waitEvent("DENIED");
  assert.equal(denied.reason, "could not convert string to float: 'x'");
  assert.equal(denied.item, "Teapot");
  // A server that knows only REGISTER and DE-REGISTER (l3itisys/P2PShop).
  const from = peer.lines.length;
  await peer.send("buy Lamp 30");
  const lamp = await server.expect("LOOKING_FOR");
  await server.send("Unknown command: LOOKING_FOR", lamp.from);
  const unknown = await peer.waitEvent("DENIED", { from });
  assert.equal(unknown.reason, "Unknown command: LOOKING_FOR");
  assert.equal(unknown.item, "Lamp");
  await peer.send("deregister");
  const leaving = await server.expect("DE-REGISTER");
  await server.send(`DE-REGISTERED ${leaving.words[1]} alice`, leaving.from);
  await peer.waitEvent("DE-REGISTERED", { from });
  const shown = peer.lines.map((line) => JSON.parse(line)).filter((o) => o.event === "warning");
  assert.deepEqual(shown, [], "nothing of the classic server's noise is shown");
});

Deno.test("REGISTER-DENIED -1 with a parse error, then the classic REGISTER is REGISTERED 2", async () => {
  await using dir = await tempDir();
  using server = new RawServer();
  await using peer = await PeerProcess.start("alice", server.port, dir.path);
  // `buy` given before the registration completes waits for it.
  await peer.send("register", "buy Mug 10");
  const extended = await server.expect("REGISTER");
  await server.send("REGISTER-DENIED -1 Error-invalid literal for int()", extended.from);
  const classic = await server.expect("REGISTER", 2_000);
  assert.equal(classic.words.length, 6);
  await server.send("REGISTERED 2", classic.from);
  await peer.waitEvent("REGISTERED");
  const looking = await server.expect("LOOKING_FOR");
  assert.equal(looking.words[3], "Mug");
  assert.ok(!peer.lines.some((line) => line.includes("Not registered")));
});

Deno.test("a classic server that closes after INFORM_Res and sends CANCEL on a new connection", async () => {
  await using dir = await tempDir();
  const payment = join(dir.path, "payment.json");
  await Deno.writeTextFile(
    payment,
    JSON.stringify({ card: "4111111111111111", expiry: "11/39", address: "42 Main St" }),
  );
  using server = new RawServer();
  await using peer = await PeerProcess.start(
    "alice",
    server.port,
    dir.path,
    "--auto-buy",
    "--allow-plaintext",
    "--payment",
    payment,
  );
  const ready = peer.lines.map((line) => JSON.parse(line)).find((o) => o.event === "ready");
  const tcpPort = ready.tcpPort as number;
  await peer.send("register");
  const register = await server.expect("REGISTER");
  await server.send(`REGISTER-DENIED ${register.words[1]} bad request`, register.from);
  const classic = await server.expect("REGISTER");
  await server.send(`REGISTERED ${classic.words[1]}`, classic.from);
  await peer.waitEvent("REGISTERED");
  await peer.send("buy Mug 10");
  const looking = await server.expect("LOOKING_FOR");
  await server.send(`FOUND ${looking.words[1]} Mug 8`, looking.from);
  await server.expect("BUY");
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
    await conn.write(new TextEncoder().encode("INFORM_Req 77 Mug 8"));
    assert.match(await readAll(conn), /^INFORM_Res 77 alice /);
  }
  await peer.waitEvent("paid");
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
    await conn.write(new TextEncoder().encode("CANCEL 77 Card-Declined"));
  }
  const cancel = await peer.waitEvent("CANCEL");
  assert.equal(cancel.reason, "Card-Declined");
  // Past the time a purchase would have been confirmed: never bought.
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  assert.ok(!peer.lines.some((line) => line.includes('"event":"bought"')));
  const requests = await peer.command("requests", "requests");
  assert.match(JSON.stringify(requests), /cancelled/);
});
