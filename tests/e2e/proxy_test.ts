import assert from "node:assert/strict";
import { type Faults, FaultyProxy, rewriteRegister } from "./_proxy.ts";
import { RawUdp } from "./_udp.ts";

const WAIT_MS = 10_000;
// Sanitizers are opt-in in Deno 2.9: turn them on so a test fails if the
// proxy leaves a socket, a receive or a timer behind.
const SANITIZED = { sanitizeOps: true, sanitizeResources: true };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Waits until `condition` holds; the timeout only guards against hanging. */
async function until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves as `promise` does; the timeout only guards against hanging. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A UDP "server" that echoes every datagram to its sender and records it. */
class EchoServer implements AsyncDisposable {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly seen: { text: string; from: Deno.NetAddr }[] = [];
  readonly #loop: Promise<void>;

  constructor() {
    this.#loop = this.#run();
  }

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  get texts(): string[] {
    return this.seen.map((entry) => entry.text);
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const [data, from] = await this.socket.receive();
        this.seen.push({ text: decoder.decode(data), from: from as Deno.NetAddr });
        await this.socket.send(data, from);
      }
    } catch {
      // Closed.
    }
  }

  /** Sends a datagram nobody asked for, as the server does with SEARCH. */
  async sendTo(port: number, text: string): Promise<void> {
    await this.socket.send(encoder.encode(text), { transport: "udp", hostname: "127.0.0.1", port });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.close();
    await this.#loop;
  }
}

async function startProxy(
  echo: EchoServer,
  seed: number,
  faults: { toServer?: Faults; toPeer?: Faults } = {},
): Promise<FaultyProxy> {
  return await FaultyProxy.start({
    server: { hostname: "127.0.0.1", port: echo.port },
    seed,
    ...faults,
  });
}

/** Receives `count` datagrams as text. */
async function receiveMany(client: RawUdp, count: number): Promise<string[]> {
  const texts: string[] = [];
  while (texts.length < count) texts.push(await client.receive(WAIT_MS));
  return texts;
}

/**
 * Sends `count` numbered datagrams, a few at a time, waiting for the proxy to
 * have read each batch so no socket buffer overflows and every loss is the
 * proxy's decision.
 */
async function sendNumbered(proxy: FaultyProxy, client: RawUdp, count: number): Promise<void> {
  const start = proxy.stats.toServer.received;
  for (let i = 0; i < count; i++) {
    await client.send(`m ${i}`);
    if (i % 20 === 19 || i === count - 1) {
      await until(() => proxy.stats.toServer.received - start >= i + 1, `the proxy to read ${i}`);
    }
  }
}

/** Sends an unfaulted marker and waits for the echo server to see it. */
async function flush(proxy: FaultyProxy, echo: EchoServer, client: RawUdp): Promise<void> {
  proxy.setFaults("toServer", {});
  await client.send("end");
  await until(() => echo.texts.includes("end"), "the end marker");
}

function numbers(texts: string[]): number[] {
  return texts.filter((text) => text.startsWith("m ")).map((text) => Number(text.slice(2)));
}

Deno.test("proxy without faults passes every datagram both ways, in order", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await startProxy(echo, 1);
  using client = new RawUdp(proxy.port);
  const sent = Array.from({ length: 100 }, (_, i) => `m ${i}`);
  for (const text of sent) await client.send(text);
  assert.deepEqual(await receiveMany(client, sent.length), sent);
  assert.deepEqual(echo.texts, sent);
  const backPort = proxy.backPort(client.port);
  assert.ok(backPort !== undefined && backPort !== client.port && backPort !== proxy.port);
  assert.ok(echo.seen.every((entry) => entry.from.port === backPort));
  const { toServer, toPeer, peers } = proxy.stats;
  assert.equal(peers, 1);
  assert.deepEqual([toServer.received, toServer.forwarded, toServer.dropped], [100, 100, 0]);
  assert.deepEqual([toPeer.received, toPeer.forwarded, toPeer.dropped], [100, 100, 0]);
});

Deno.test("proxy gives each peer its own source port toward the server", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await startProxy(echo, 2);
  using alice = new RawUdp(proxy.port);
  using bob = new RawUdp(proxy.port);
  assert.equal(await alice.ask("from alice"), "from alice");
  assert.equal(await bob.ask("from bob"), "from bob");
  const ports = echo.seen.map((entry) => entry.from.port);
  assert.deepEqual(ports, [proxy.backPort(alice.port), proxy.backPort(bob.port)]);
  assert.notEqual(ports[0], ports[1]);
  assert.equal(proxy.stats.peers, 2);
});

Deno.test("proxy with drop 1.0 toward the server delivers nothing", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await startProxy(echo, 3, { toServer: { drop: 1 } });
  using client = new RawUdp(proxy.port);
  await sendNumbered(proxy, client, 50);
  await flush(proxy, echo, client);
  assert.deepEqual(echo.texts, ["end"]);
  assert.equal(proxy.stats.toServer.dropped, 50);
  assert.equal(proxy.stats.toServer.forwarded, 1);
});

Deno.test("proxy with duplicate 1.0 delivers exactly two copies", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await startProxy(echo, 4, { toServer: { duplicate: 1 } });
  using client = new RawUdp(proxy.port);
  await client.send("once");
  await until(() => echo.texts.length >= 2, "two copies");
  await flush(proxy, echo, client);
  assert.deepEqual(echo.texts, ["once", "once", "end"]);
  assert.deepEqual(await receiveMany(client, 3), ["once", "once", "end"]);
  assert.equal(proxy.stats.toServer.duplicated, 1);
  assert.equal(proxy.stats.toServer.forwarded, 3);
});

Deno.test(
  "proxy drops a sane share with drop 0.3 and replays the same drops from the seed",
  SANITIZED,
  async () => {
    async function run(seed: number): Promise<{ dropped: number; delivered: number[] }> {
      await using echo = new EchoServer();
      await using proxy = await startProxy(echo, seed, { toServer: { drop: 0.3 } });
      using client = new RawUdp(proxy.port);
      await sendNumbered(proxy, client, 2000);
      await flush(proxy, echo, client);
      const delivered = numbers(echo.texts);
      const { dropped, received } = proxy.stats.toServer;
      assert.equal(received, 2001);
      assert.equal(delivered.length + dropped, 2000);
      return { dropped, delivered };
    }
    const first = await run(77);
    assert.ok(first.dropped >= 450 && first.dropped <= 750, `dropped ${first.dropped}`);
    const again = await run(77);
    assert.equal(again.dropped, first.dropped);
    assert.deepEqual(again.delivered, first.delivered);
    const other = await run(78);
    assert.notDeepEqual(other.delivered, first.delivered);
  },
);

Deno.test(
  "proxy reorder delivers a datagram after a later one, and loses none",
  SANITIZED,
  async () => {
    await using echo = new EchoServer();
    await using proxy = await startProxy(echo, 5, { toServer: { reorder: 0.3, reorderMs: 1_000 } });
    using client = new RawUdp(proxy.port);
    for (let i = 0; i < 50; i++) {
      await client.send(`m ${i}`);
      await until(() => proxy.stats.toServer.received > i, `the proxy to read ${i}`);
    }
    await until(() => numbers(echo.texts).length === 50, "all 50 datagrams");
    const order = numbers(echo.texts);
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    assert.ok(order.some((n, i) => i > 0 && n < order[i - 1]!), `order ${order.join(",")}`);
    assert.ok(proxy.stats.toServer.reordered >= 1);
  },
);

Deno.test("proxy delays datagrams and still delivers them", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await startProxy(echo, 6, { toPeer: { delayMs: [5, 20] } });
  using client = new RawUdp(proxy.port);
  for (let i = 0; i < 10; i++) await client.send(`m ${i}`);
  const back = numbers(await receiveMany(client, 10));
  assert.deepEqual([...back].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i));
  assert.equal(proxy.stats.toPeer.delayed, 10);
  assert.equal(proxy.stats.toServer.delayed, 0);
});

Deno.test(
  "proxy rewrites REGISTER's UDP port so unsolicited datagrams come through it",
  SANITIZED,
  async () => {
    await using echo = new EchoServer();
    await using proxy = await startProxy(echo, 7);
    using client = new RawUdp(proxy.port);
    const register = `REGISTER r1 alice 127.0.0.1 ${client.port} 6001 shop/1 x-extra`;
    const echoed = await client.ask(register);
    const seen = echo.seen[0]!;
    const backPort = seen.from.port;
    assert.equal(proxy.backPort(client.port), backPort);
    assert.notEqual(backPort, client.port);
    assert.equal(seen.text, `REGISTER r1 alice 127.0.0.1 ${backPort} 6001 shop/1 x-extra`);
    assert.equal(echoed, seen.text);

    const other = `REGISTER r2 bob 127.0.0.1 ${client.port + 1} 6001`;
    await client.ask(other);
    assert.equal(echo.seen[1]!.text, other);

    await echo.sendTo(backPort, "SEARCH s1 Laptop fast");
    assert.equal(await client.receive(WAIT_MS), "SEARCH s1 Laptop fast");
    assert.equal(proxy.stats.toPeer.received, 3);

    proxy.setFaults("toPeer", { drop: 1 });
    await echo.sendTo(backPort, "SEARCH s2 Phone lost");
    await until(() => proxy.stats.toPeer.dropped === 1, "the SEARCH to be dropped");
  },
);

Deno.test("proxy leaves REGISTER alone when rewriting is off", SANITIZED, async () => {
  await using echo = new EchoServer();
  await using proxy = await FaultyProxy.start({
    server: { hostname: "127.0.0.1", port: echo.port },
    seed: 8,
    rewriteRegister: false,
  });
  using client = new RawUdp(proxy.port);
  const register = `REGISTER r1 alice 127.0.0.1 ${client.port} 6001`;
  await client.ask(register);
  assert.equal(echo.seen[0]!.text, register);
});

Deno.test("rewriteRegister changes only the udpPort word", SANITIZED, () => {
  const bytes = (text: string) => encoder.encode(text);
  const text = (data: Uint8Array) => decoder.decode(data);
  assert.equal(
    text(rewriteRegister(bytes("REGISTER  r1 alice 127.0.0.1 5001 5002\r\n"), 5001, 40000)),
    "REGISTER  r1 alice 127.0.0.1 40000 5002\r\n",
  );
  assert.equal(
    text(rewriteRegister(bytes("REGISTER r1 alice 127.0.0.1 5001 5001 shop/1"), 5001, 7)),
    "REGISTER r1 alice 127.0.0.1 7 5001 shop/1",
  );
  for (
    const unchanged of [
      "REGISTER r1 alice 127.0.0.1 05001 5002",
      "REGISTER r1 alice 127.0.0.1 5001",
      "LOOKING_FOR r1 alice 127.0.0.1 5001 5002",
      "DE-REGISTER r1 alice",
    ]
  ) {
    const data = bytes(unchanged);
    assert.equal(rewriteRegister(data, 5001, 7), data);
  }
  const binary = new Uint8Array([...bytes("REGISTER r1 \xff 1.2.3.4 5001 9 "), 0xff, 0xfe]);
  const rewritten = rewriteRegister(binary, 5001, 7);
  assert.deepEqual([...rewritten.slice(-2)], [0xff, 0xfe]);
  assert.equal(rewritten.length, binary.length - 3);
});

Deno.test("proxy refuses fault probabilities out of range", SANITIZED, async () => {
  await using echo = new EchoServer();
  await assert.rejects(
    FaultyProxy.start({
      server: { hostname: "127.0.0.1", port: echo.port },
      seed: 9,
      toServer: { drop: 1.5 },
    }),
    RangeError,
  );
  await using proxy = await startProxy(echo, 9);
  assert.throws(() => proxy.setFaults("toPeer", { delayMs: [20, 10] }), RangeError);
  assert.throws(() => proxy.setFaults("toPeer", { duplicate: -0.1 }), RangeError);
});

Deno.test(
  "proxy dispose closes every socket and cancels pending datagrams",
  SANITIZED,
  async () => {
    const echo = new EchoServer();
    const proxy = await startProxy(echo, 10, { toPeer: { reorder: 1, reorderMs: 5_000 } });
    const client = new RawUdp(proxy.port);
    await client.send("held back");
    await until(() => proxy.stats.toPeer.received === 1, "the echo to be held back");
    proxy.setFaults("toServer", { delayMs: [5_000, 5_000] });
    await client.send("delayed");
    await until(() => proxy.stats.toServer.delayed === 1, "the datagram to be delayed");
    const frontPort = proxy.port;
    const backPort = proxy.backPort(client.port)!;
    await within(proxy[Symbol.asyncDispose](), "the proxy to close");
    await within(proxy[Symbol.asyncDispose](), "a second dispose to return");
    // The ports are free again, so the sockets are closed; the sanitizers
    // check that no timer or receive is left behind.
    for (const port of [frontPort, backPort]) {
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
    }
    client[Symbol.dispose]();
    await echo[Symbol.asyncDispose]();
    assert.deepEqual(echo.texts, ["held back"]);
    assert.equal(proxy.stats.toPeer.forwarded, 0);
  },
);
