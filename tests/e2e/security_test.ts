/**
 * Security end to end: our peers against a server that admits only them
 * (no --allow-plaintext), spoofers and impostors on raw sockets.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PeerProcess, ServerProcess as LenientServer, tempDir } from "./_process.ts";
import { ServerProcess } from "../../demo/processes.ts";
import { RawUdp } from "./_udp.ts";
import { createIdentity } from "../../security/identity.ts";
import { FaultyProxy, type FaultyProxyOptions } from "./_proxy.ts";
import { forger } from "./_forge.ts";
import { peerCertificates } from "../../security/certificates.ts";

/**
 * A faulty proxy in front of a server that passes registrations as they
 * are: the server sees each peer at the proxy's back port for it.
 */
function proxyFor(
  server: { port: number },
  seed: number,
  faults: Pick<FaultyProxyOptions, "toServer" | "toPeer"> = {},
): Promise<FaultyProxy> {
  return FaultyProxy.start({
    server: { hostname: "127.0.0.1", port: server.port },
    seed,
    rewriteRegister: false,
    ...faults,
  });
}

async function payment(dir: string, name: string): Promise<string> {
  const path = join(dir, `${name}.json`);
  await Deno.writeTextFile(
    path,
    JSON.stringify({ card: "4111111111111111", expiry: "12/39", address: `${name} lane` }),
  );
  return path;
}

Deno.test("classic peers are refused by default and admitted with --allow-plaintext", async () => {
  await using dir = await tempDir();
  {
    await using strict = await ServerProcess.start(dir.path);
    using classic = new RawUdp(strict.port);
    const reply = await classic.ask(`REGISTER 1 carol 127.0.0.1 ${classic.port} 9`);
    assert.match(reply, /^REGISTER-DENIED 1 auth required/);
  }
  await using lenient = await LenientServer.start(`${dir.path}/lenient`);
  using classic = new RawUdp(lenient.port);
  assert.equal(await classic.ask(`REGISTER 1 carol 127.0.0.1 ${classic.port} 9`), "REGISTERED 1");
});

Deno.test("a name is bound to its key: another key cannot take it, the holder comes back from a new port", async (t) => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path);
  {
    await using alice = await PeerProcess.start("alice", server.port, dir.path, "--udp-port", "0");
    const reply = await alice.command("register", "REGISTERED");
    assert.equal(reply.serverKind, "ours");
  }
  await t.step("someone else (another key) cannot take the name", async () => {
    await using impostor = await PeerProcess.start("alice", server.port, `${dir.path}/impostor`);
    const denied = await impostor.command("register", "REGISTER-DENIED");
    assert.match(String(denied.reason), /bound to another key/);
  });
  await t.step("the holder re-registers from a new port", async () => {
    // Take its old UDP port so it must move.
    const kv = await Deno.openKv(join(dir.path, "alice.kv"));
    const ports = (await kv.get<{ udp: number }>(["ports"])).value!;
    kv.close();
    const squatter = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: ports.udp,
    });
    try {
      await using alice = await PeerProcess.start("alice", server.port, dir.path);
      await alice.waitEvent("REGISTERED");
      const status = await alice.command("status", "status");
      assert.equal(status.registered, true);
      assert.notEqual(status.udpPort, ports.udp);
    } finally {
      squatter.close();
    }
  });
});

Deno.test("spoofed DE-REGISTER, OFFER, BUY and ACCEPT from another socket change nothing", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "300ms");
  await using seller = await PeerProcess.start("sam", server.port, dir.path);
  await using buyer = await PeerProcess.start("bea", server.port, dir.path);
  await seller.command("register", "REGISTERED");
  await buyer.command("register", "REGISTERED");
  await seller.command("sell Lamp 50", "sell");
  await buyer.send("buy Lamp 40");
  const negotiate = await seller.waitEvent("prompt");
  const search = String(negotiate.rq);
  using spoofer = new RawUdp(server.port);
  await spoofer.send("DE-REGISTER x1 sam");
  await spoofer.send(`OFFER ${search} sam Lamp 1`);
  await spoofer.send(`ACCEPT ${search} Lamp 40`);
  const found = buyer.lines.length;
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(
    buyer.lines.slice(found).filter((line) => line.includes('"event":"FOUND"')).length,
    0,
  );
  // The real seller refuses; the buyer hears NOT_FOUND, not a spoofed FOUND.
  await seller.send("n");
  await buyer.waitEvent("NOT_FOUND");
  // The spoofed DE-REGISTER changed nothing either.
  assert.equal((await seller.command("status", "status")).registered, true);
  const requests = await buyer.command("requests", "requests");
  const rq = (requests.requests as { rq: string }[])[0]!.rq;
  await spoofer.send(`BUY ${rq} Lamp 40`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(
    ((await buyer.command("requests", "requests")).requests as { state: string }[])[0]?.state,
    "not_found",
  );
});

Deno.test("a peer whose TLS certificate is wrong gets no card data: the purchase is cancelled", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(
    dir.path,
    "--offer-window",
    "300ms",
    "--transaction-timeout",
    "5s",
  );
  const sellerProcess = await PeerProcess.start(
    "sam",
    server.port,
    dir.path,
    "--payment",
    await payment(dir.path, "sam"),
  );
  await using buyer = await PeerProcess.start(
    "bea",
    server.port,
    dir.path,
    "--payment",
    await payment(dir.path, "bea"),
  );
  await sellerProcess.command("register", "REGISTERED");
  await buyer.command("register", "REGISTERED");
  await sellerProcess.command("sell Lamp 20", "sell");
  await buyer.send("buy Lamp 30");
  await sellerProcess.waitEvent("RESERVE");
  const ready = JSON.parse(sellerProcess.lines[0]!) as { tcpPort: number };
  // The seller goes away; an impostor with another certificate takes its port.
  await sellerProcess[Symbol.asyncDispose]();
  const { identity } = await createIdentity();
  const wrong = await peerCertificates(identity, "sam", ["127.0.0.1"]);
  using impostor = Deno.listenTls({
    hostname: "127.0.0.1",
    port: ready.tcpPort,
    cert: wrong.chainPem,
    key: wrong.keyPem,
  });
  const received: string[] = [];
  const serving = (async () => {
    for await (const conn of impostor) {
      try {
        const buffer = new Uint8Array(2048);
        const n = await conn.read(buffer);
        if (n) received.push(new TextDecoder().decode(buffer.subarray(0, n)));
      } catch {
        // The server abandoned the handshake: the certificate is not the pinned one.
      } finally {
        conn.close();
      }
    }
  })();
  await buyer.waitEvent("prompt");
  await buyer.send("y");
  const cancel = await buyer.waitEvent("CANCEL", { where: (e) => e.reason !== undefined });
  assert.match(String(cancel.reason), /seller sam could not be reached/);
  assert.deepEqual(received, [], "nothing was sent to the impostor");
  impostor.close();
  await serving;
});

Deno.test("a flood from one address leaves another peer's purchase completing", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "300ms");
  await using seller = await PeerProcess.start(
    "sam",
    server.port,
    dir.path,
    "--payment",
    await payment(dir.path, "sam"),
  );
  await using buyer = await PeerProcess.start(
    "bea",
    server.port,
    dir.path,
    "--auto-buy",
    "--payment",
    await payment(dir.path, "bea"),
  );
  await seller.command("register", "REGISTERED");
  await buyer.command("register", "REGISTERED");
  await seller.command("sell Lamp 20", "sell");
  using flooder = new RawUdp(server.port);
  let flooding = true;
  let sent = 0;
  const flood = (async () => {
    const junk = new TextEncoder().encode(`LOOKING_FOR f sam Lamp ${"x ".repeat(200)}1`);
    while (flooding && sent < 500_000) {
      await flooder.send(junk);
      sent++;
      if (sent % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
  })();
  try {
    await buyer.send("buy Lamp 30");
    const sold = await seller.waitEvent("Shipping_Info", { timeoutMs: 60_000 });
    assert.equal(sold.item, "Lamp");
  } finally {
    flooding = false;
    await flood;
  }
  assert.ok(sent > 1_000, `only ${sent} datagrams flooded`);
});

Deno.test("replayed authenticated datagrams are dropped and change nothing", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(
    dir.path,
    "--offer-window",
    "300ms",
    "--log-level",
    "debug",
  );
  // Every datagram toward the server arrives twice: the second copy is a
  // replay from the very same address, with the very same MAC.
  await using proxy = await proxyFor(server, 7, { toServer: { duplicate: 1 } });
  await using seller = await PeerProcess.start("sam", proxy.port, dir.path);
  await using buyer = await PeerProcess.start("bea", proxy.port, dir.path);
  await seller.command("register", "REGISTERED");
  await buyer.command("register", "REGISTERED");
  await seller.command("sell Lamp 20", "sell");
  await buyer.send("buy Lamp 30");
  await buyer.waitEvent("FOUND");
  await server.waitFor(/drop .*replayed/, { stderr: true });
  // One search, one listing, one hold: the replayed LOOKING_FOR, LIST and OFFER did nothing.
  assert.equal(server.stderr.filter((line) => /looks for Lamp/.test(line)).length, 1);
  assert.equal(server.stderr.filter((line) => /sam lists 1 × Lamp/.test(line)).length, 1);
  assert.equal(server.stderr.filter((line) => /may buy Lamp from sam/.test(line)).length, 1);
  assert.ok(proxy.stats.toServer.duplicated > 5);
});

Deno.test("DE-REGISTERED comes sealed, also from the reply cache to a resent DE-REGISTER", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--log-level", "debug");
  await using proxy = await proxyFor(server, 11);
  await using bea = await PeerProcess.start("bea", proxy.port, dir.path);
  await bea.command("register", "REGISTERED");
  // The first DE-REGISTERED is lost; the peer sends DE-REGISTER again, sealed
  // with the session the server has ended, and must still be answered.
  proxy.setFaults("toPeer", { drop: 1 });
  await bea.send("deregister");
  for (let i = 0; i < 200 && proxy.stats.toPeer.dropped === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  proxy.setFaults("toPeer", {});
  // Our peer takes DE-REGISTERED only with the server's MAC.
  await bea.waitEvent("DE-REGISTERED");
  assert.equal((await bea.command("status", "status")).registered, false);
  assert.ok(proxy.stats.toPeer.dropped >= 1);
  assert.equal(server.stderr.filter((line) => /De-registered bea/.test(line)).length, 1);
  assert.deepEqual(server.stderr.filter((line) => /drop .*bea's address/.test(line)), []);
});

Deno.test("a sealed datagram accepted before a server restart is refused after it", async () => {
  await using dir = await tempDir();
  const first = await ServerProcess.start(dir.path, "--log-level", "debug");
  await using proxy = await proxyFor(first, 5);
  await using bea = await PeerProcess.start("bea", proxy.port, dir.path);
  await bea.command("register", "REGISTERED");
  await bea.send("buy Lamp 30");
  await first.waitFor(/looks for Lamp/, { stderr: true });
  const captured = proxy.sentToServer.findLast((sent) =>
    new TextDecoder().decode(sent.data).startsWith("LOOKING_FOR ")
  );
  assert.ok(captured, "the sealed LOOKING_FOR went through the proxy");
  // Once bea has its ACK she sends it no more: a LOOKING_FOR the second
  // server receives can then only be the replay.
  for (let i = 0; i < 100; i++) {
    if ((await bea.command("status", "status")).pending === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal((await bea.command("status", "status")).pending, 0, "the LOOKING_FOR acknowledged");
  await first.kill("SIGKILL");
  await using second = await ServerProcess.restart(first, dir.path, "--log-level", "debug");
  proxy.replayToServer(captured);
  await second.waitFor(/drop .*replayed on a datagram from bea's address/, { stderr: true });
  assert.deepEqual(second.stderr.filter((line) => /recv .*LOOKING_FOR/.test(line)), []);
  // Her session goes on: a new search after the restart is taken.
  await bea.send("buy Mug 10");
  await second.waitFor(/looks for Mug/, { stderr: true });
});

Deno.test("forged registrations from a victim's address make it receive no more than 3x the bytes sent", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--search-timeout", "2s");
  // The victim's own socket stands for the spoofed source: whatever the
  // server sends to that address lands here.
  using victim = new RawUdp(server.port);
  const utf8 = new TextEncoder();
  const forge = await forger();
  let sent = 0;
  for (let i = 0; i < 100; i++) {
    // Each forged name signed by a key of its own, as an attacker can make.
    const text = await forge({ rq: `f${i}`, name: `forged${i}`, udpPort: victim.port });
    await victim.send(text);
    sent += utf8.encode(text).length;
  }
  // A real buyer searches: every name the server had taken would be sent SEARCH.
  await using bea = await PeerProcess.start("bea", server.port, dir.path);
  await bea.command("register", "REGISTERED");
  await bea.send("buy Lamp 30");
  await bea.waitEvent("NOT_AVAILABLE");
  let received = 0, datagrams = 0;
  const retries = new Set<string>();
  for (let i = 0; i < 5_000; i++) {
    let text: string;
    try {
      text = await victim.receive(1_500);
    } catch {
      break; // quiet for 1.5 s: nothing more is coming
    }
    received += utf8.encode(text).length;
    datagrams++;
    if (text.startsWith("RETRY ")) retries.add(text.split(" ")[1]!);
  }
  assert.ok(received <= 3 * sent, `${received} bytes received for ${sent} sent`);
  // The server did answer each one, with a cookie and nothing else.
  assert.equal(retries.size, 100);
  assert.equal(datagrams, 100);
  assert.deepEqual(
    server.stderr.filter((line) => /forged\d+/.test(line) && /egister/.test(line)),
    [],
  );
});

Deno.test("a captured signed REGISTER replayed from another socket changes nothing, and the peer's next search succeeds", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(
    dir.path,
    "--log-level",
    "debug",
    "--search-timeout",
    "1s",
  );
  await using proxy = await proxyFor(server, 3);
  await using alice = await PeerProcess.start("alice", proxy.port, dir.path);
  await alice.command("register", "REGISTERED");
  // Her REGISTER that the server took: the one with the cookie signed in.
  const captured = proxy.sentToServer.findLast((sent) =>
    /^REGISTER .* cookie=/.test(new TextDecoder().decode(sent.data))
  );
  assert.ok(captured, "alice's REGISTER with its cookie went through the proxy");
  using attacker = new RawUdp(server.port);
  await attacker.send(captured.data);
  // The cookie is for alice's address, not the attacker's: only a new cookie comes back.
  assert.match(await attacker.receive(), /^RETRY /);
  await alice.send("buy Lamp 30");
  const outcome = await alice.waitEvent("NOT_AVAILABLE");
  assert.equal(outcome.item, "Lamp");
  assert.deepEqual(
    server.stderr.filter((line) => /alice proved its key and is now at/.test(line)),
    [],
  );
});

Deno.test("a stranger's REGISTER announcing alice's UDP port leaves alice working", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--search-timeout", "1s");
  await using alice = await PeerProcess.start("alice", server.port, dir.path);
  await alice.command("register", "REGISTERED");
  const status = await alice.command("status", "status");
  const alicePort = Number(status.udpPort);
  assert.ok(alicePort > 0, "alice's UDP port");
  // Mallory completes the cookie exchange from her own socket, announcing alice's port.
  using mallory = new RawUdp(server.port);
  const forge = await forger();
  const retry = await mallory.ask(await forge({ rq: "m1", name: "mallory", udpPort: alicePort }));
  assert.match(retry, /^RETRY m1 /);
  const cookie = retry.split(" ")[2]!;
  const answer = await mallory.ask(
    await forge({ rq: "m2", name: "mallory", udpPort: alicePort, cookie }),
  );
  assert.match(answer, /^REGISTERED m2 /);
  // Alice's datagrams still pass: her search is answered.
  await alice.send("buy Lamp 30");
  const outcome = await alice.waitEvent("NOT_AVAILABLE");
  assert.equal(outcome.item, "Lamp");
});
