/**
 * The market end to end: a real `shop server` and real `shop peer`
 * processes on 127.0.0.1, windows shortened with the server's flags.
 */
import assert from "node:assert/strict";
import { disposeAll as disposeEach, PeerProcess, ServerProcess, tempDir } from "./_process.ts";
import { RawUdp } from "./_udp.ts";

/** Starts and registers peers, each with its own commands run first. */
async function peers(
  serverPort: number,
  dataDir: string,
  setup: Record<string, string[]>,
  extra: string[] = [],
): Promise<Record<string, PeerProcess>> {
  const started: Record<string, PeerProcess> = {};
  for (const [name, commands] of Object.entries(setup)) {
    const peer = await PeerProcess.start(name, serverPort, dataDir, ...extra);
    started[name] = peer;
    await peer.command("register", "REGISTERED");
    for (const command of commands) await peer.command(command, command.split(" ")[0]!);
  }
  return started;
}

async function disposeAll(processes: Record<string, PeerProcess>): Promise<void> {
  await disposeEach(Object.values(processes));
}

/** A classic peer that registers and then stays silent. */
async function silentPeer(serverPort: number): Promise<RawUdp> {
  const socket = new RawUdp(serverPort);
  assert.equal(await socket.ask(`REGISTER q1 quiet 127.0.0.1 ${socket.port} 9`), "REGISTERED q1");
  return socket;
}

Deno.test("the cheapest of three offers within the max wins", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "1s");
  const p = await peers(server.port, dir.path, {
    s1: ["sell Lamp 30"],
    s2: ["sell Lamp 25 brass desk lamp"],
    s3: ["sell lamp 28"],
    buyer: [],
  });
  try {
    await p.buyer!.send("buy Lamp 40 any desk lamp");
    const found = await p.buyer!.waitEvent("FOUND");
    assert.deepEqual([found.price, found.seller], [25, "s2"]);
    const reserve = await p.s2!.waitEvent("RESERVE");
    assert.deepEqual([reserve.item, reserve.price], ["Lamp", 25]);
    const prompt = await p.buyer!.waitEvent("prompt");
    assert.match(String(prompt.question), /Buy Lamp for 25\.00 from s2\? \[y\/N\]/);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("offers above the max lead to NEGOTIATE: a floor accepts or refuses", async (t) => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "500ms");
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 50 --floor 35"], buyer: [] });
  try {
    await t.step("max at or above the floor: ACCEPT and FOUND at the buyer's max", async () => {
      await p.buyer!.send("buy Lamp 40");
      const accept = await p.seller!.waitEvent("ACCEPT");
      assert.deepEqual([accept.maxPrice, accept.by], [40, "floor"]);
      const found = await p.buyer!.waitEvent("FOUND");
      assert.deepEqual([found.price, found.seller], [40, "seller"]);
      await p.buyer!.waitEvent("prompt");
      await p.buyer!.send("n");
      await p.seller!.waitEvent("CANCEL");
    });
    await t.step("max below the floor: REFUSE and NOT_FOUND", async () => {
      const from = p.buyer!.lines.length;
      await p.buyer!.send("buy Lamp 30");
      const refuse = await p.seller!.waitEvent("REFUSE");
      assert.equal(refuse.maxPrice, 30);
      const notFound = await p.buyer!.waitEvent("NOT_FOUND", { from });
      assert.deepEqual([notFound.item, notFound.maxPrice], ["Lamp", 30]);
    });
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a seller without a floor is asked, and its answer decides", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "500ms");
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 50"], buyer: [] });
  try {
    await p.buyer!.send("buy Lamp 45");
    const prompt = await p.seller!.waitEvent("prompt");
    assert.match(String(prompt.question), /45.*Lamp.*Accept\? \[y\/N\]/);
    await p.seller!.send("y");
    const found = await p.buyer!.waitEvent("FOUND");
    assert.equal(found.price, 45);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("no offer within the search timeout gives NOT_AVAILABLE", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--search-timeout", "1s");
  using _quiet = await silentPeer(server.port);
  const p = await peers(server.port, dir.path, { buyer: [] });
  try {
    await p.buyer!.send("buy Unicorn 10");
    const reply = await p.buyer!.waitEvent("NOT_AVAILABLE");
    assert.deepEqual([reply.item, reply.maxPrice], ["Unicorn", 10]);
    const requests = await p.buyer!.command("requests", "requests");
    assert.equal((requests.requests as { state: string }[])[0]?.state, "not_available");
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a buyer's CANCEL releases the seller's item, which is offered again", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "500ms");
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 20"], ann: [], bea: [] });
  try {
    await p.ann!.send("buy Lamp 25");
    await p.ann!.waitEvent("prompt");
    await p.ann!.send("n");
    const cancel = await p.seller!.waitEvent("CANCEL");
    assert.equal(cancel.role, "seller");
    const inventory = await p.seller!.command("inventory", "inventory");
    assert.equal((inventory.items as { state: string }[])[0]?.state, "available");
    await p.bea!.send("buy Lamp 25");
    const found = await p.bea!.waitEvent("FOUND");
    assert.deepEqual([found.price, found.seller], [20, "seller"]);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a FOUND left unanswered lapses: both sides get CANCEL", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(
    dir.path,
    "--offer-window",
    "300ms",
    "--reserve-timeout",
    "1s",
  );
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 20"], buyer: [] });
  try {
    await p.buyer!.send("buy Lamp 25");
    await p.buyer!.waitEvent("prompt");
    const [buyerCancel, sellerCancel] = await Promise.all([
      p.buyer!.waitEvent("CANCEL"),
      p.seller!.waitEvent("CANCEL"),
    ]);
    assert.deepEqual([buyerCancel.role, buyerCancel.by], ["buyer", "server"]);
    assert.equal(sellerCancel.role, "seller");
    const inventory = await p.seller!.command("inventory", "inventory");
    assert.equal((inventory.items as { state: string }[])[0]?.state, "available");
  } finally {
    await disposeAll(p);
  }
});

Deno.test("two buyers racing for one item: exactly one gets it", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "500ms");
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 20"], ann: [], bea: [] });
  try {
    await Promise.all([p.ann!.send("buy Lamp 25"), p.bea!.send("buy Lamp 25")]);
    const outcome = async (peer: PeerProcess) =>
      (await peer.waitFor((line) => /"event":"(FOUND|NOT_AVAILABLE)"/.test(line))).match(
        /"event":"(\w+)"/,
      )![1];
    const outcomes = await Promise.all([outcome(p.ann!), outcome(p.bea!)]);
    assert.deepEqual(outcomes.sort(), ["FOUND", "NOT_AVAILABLE"]);
    await p.seller!.waitEvent("RESERVE");
    assert.equal(p.seller!.lines.filter((line) => line.includes('"event":"RESERVE"')).length, 1);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a seller that de-registers mid-flow: the buyer is told", async () => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "300ms");
  const p = await peers(server.port, dir.path, { seller: ["sell Lamp 20"], buyer: [] });
  try {
    await p.buyer!.send("buy Lamp 25");
    await p.buyer!.waitEvent("prompt");
    await p.seller!.command("deregister", "DE-REGISTERED");
    const cancel = await p.buyer!.waitEvent("CANCEL");
    assert.deepEqual([cancel.item, cancel.by], ["Lamp", "server"]);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a server killed with SIGKILL mid-window finishes the search after a restart", async () => {
  await using dir = await tempDir();
  const first = await ServerProcess.start(dir.path, "--offer-window", "2s");
  using _quiet = await silentPeer(first.port);
  const p = await peers(first.port, dir.path, { seller: ["sell Lamp 20"], buyer: [] });
  try {
    await p.buyer!.send("buy Lamp 25");
    // The silent classic peer holds the window open; the listing is stored.
    await first.waitFor(/1 listing\(s\), asking 1 peer\(s\)/, { stderr: true });
    await first.kill("SIGKILL");
    await using second = await ServerProcess.restart(first, dir.path, "--offer-window", "2s");
    const found = await p.buyer!.waitEvent("FOUND");
    assert.deepEqual([found.price, found.seller], [20, "seller"]);
    void second;
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a server killed with SIGKILL mid-negotiation gives the right outcome after a restart", async () => {
  await using dir = await tempDir();
  const first = await ServerProcess.start(dir.path, "--offer-window", "300ms");
  const p = await peers(first.port, dir.path, { seller: ["sell Lamp 50"], buyer: [] });
  try {
    await p.buyer!.send("buy Lamp 40");
    await p.seller!.waitEvent("prompt");
    await first.kill("SIGKILL");
    await using _second = await ServerProcess.restart(first, dir.path, "--offer-window", "300ms");
    await p.seller!.send("y");
    const found = await p.buyer!.waitEvent("FOUND");
    assert.deepEqual([found.price, found.seller], [40, "seller"]);
  } finally {
    await disposeAll(p);
  }
});

Deno.test("a classic peer on a raw UDP socket sells to and buys from a shop peer", async (t) => {
  await using dir = await tempDir();
  await using server = await ServerProcess.start(dir.path, "--offer-window", "300ms");
  using classic = new RawUdp(server.port);
  assert.equal(await classic.ask(`REGISTER 1 carol 127.0.0.1 ${classic.port} 9`), "REGISTERED 1");
  const p = await peers(server.port, dir.path, { shop: ["sell Mug 8 blue mug"] });
  const next = async (type: string) => {
    for (let i = 0; i < 10; i++) {
      const words = (await classic.receive()).split(" ");
      if (words[0] === type) return words;
    }
    throw new Error(`no ${type}`);
  };
  try {
    await t.step("the classic peer sells", async () => {
      await p.shop!.send("buy Vase 30");
      const search = await next("SEARCH");
      assert.equal(search[2], "Vase");
      await classic.send(`OFFER ${search[1]} carol Vase 27`);
      const found = await p.shop!.waitEvent("FOUND");
      assert.deepEqual([found.price, found.seller], [27, "carol"]);
      assert.deepEqual((await next("RESERVE")).slice(2), ["Vase", "27"]);
    });
    await t.step("the classic peer buys, then cancels", async () => {
      await classic.send("LOOKING_FOR 2 carol Mug a mug 10");
      assert.deepEqual(await next("FOUND"), ["FOUND", "2", "Mug", "8"]);
      await classic.send("CANCEL 2 Mug 8");
      const cancel = await p.shop!.waitEvent("CANCEL", { where: (e) => e.role === "seller" });
      assert.equal(cancel.item, "Mug");
    });
  } finally {
    await disposeAll(p);
  }
});

Deno.test("with only our peers a search is decided as soon as every seller answered, long before the window", async () => {
  await using dir = await tempDir();
  // A 30 s window and a 60 s search timeout; the waits below give up after 15 s.
  await using server = await ServerProcess.start(
    dir.path,
    "--offer-window",
    "30s",
    "--search-timeout",
    "60s",
  );
  const p = await peers(server.port, dir.path, {
    s1: ["sell Lamp 20"],
    s2: ["sell Vase 5"],
    buyer: [],
  });
  try {
    const asked = Date.now();
    await p.buyer!.send("buy Lamp 25");
    const found = await p.buyer!.waitEvent("FOUND", { timeoutMs: 15_000 });
    assert.deepEqual([found.price, found.seller], [20, "s1"]);
    await p.buyer!.waitEvent("prompt");
    await p.buyer!.send("n");
    await p.buyer!.send("buy Unicorn 25");
    await p.buyer!.waitEvent("NOT_AVAILABLE", { timeoutMs: 15_000 });
    console.log(
      `FOUND and NOT_AVAILABLE after ${Date.now() - asked} ms (window 30 s, search timeout 60 s)`,
    );
  } finally {
    await disposeAll(p);
  }
});
