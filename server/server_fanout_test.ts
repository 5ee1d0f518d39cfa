/**
 * The shell's fan-out to classic peers over real sockets on 127.0.0.1:
 * every SEARCH goes out, once, however the searches are batched, and
 * other peers are answered while a large one is being sent.
 */
import assert from "node:assert/strict";
import { ShopServer } from "./server.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

function socket(): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  return Object.assign(conn, { [Symbol.dispose]: () => conn.close() });
}

function portOf(conn: Deno.DatagramConn): number {
  return (conn.addr as Deno.NetAddr).port;
}

/** The next datagram's text, or `undefined` after `ms`. */
async function next(conn: Deno.DatagramConn, ms = 2_000): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), ms)
  );
  try {
    return await Promise.race([conn.receive().then(([data]) => text.decode(data)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function start(): Promise<{ server: ShopServer; dir: string; send: SendTo }> {
  const dir = await Deno.makeTempDir();
  const server = await ShopServer.start({
    hostname: "127.0.0.1",
    port: 0,
    dataDir: dir,
    allowPlaintext: true,
    ratePerSecond: 1_000_000,
    limits: { namesPerHost: 0, classicNamesPerHost: 0 },
  });
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.address.port };
  return { server, dir, send: (conn, line) => conn.send(utf8.encode(line), to) };
}

type SendTo = (conn: Deno.DatagramConn, line: string) => Promise<number>;

Deno.test("server sends a classic seller the SEARCH of every search made together", async () => {
  const { server, dir, send } = await start();
  using seller = socket();
  using buyer = socket();
  try {
    await send(seller, `REGISTER r1 seller 127.0.0.1 ${portOf(seller)} 9`);
    assert.equal(await next(seller), "REGISTERED r1");
    await send(buyer, `REGISTER r2 buyer 127.0.0.1 ${portOf(buyer)} 9`);
    assert.equal(await next(buyer), "REGISTERED r2");
    for (let i = 0; i < 5; i++) await send(buyer, `LOOKING_FOR l${i} buyer Lamp a lamp 10`);
    const searches = new Set<string>();
    for (let i = 0; i < 5; i++) searches.add((await next(seller))?.split(" ")[1] ?? "none");
    assert.deepEqual(
      [...searches].sort(),
      server.market.requests().map((request) => request.id).sort(),
    );
    assert.equal(await next(seller, 200), undefined, "one SEARCH per search");
  } finally {
    await server[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server sends each of 2,000 classic sellers one SEARCH and answers others meanwhile", async () => {
  const { server, dir, send } = await start();
  // Sellers listen on 16 sockets, each read by its own loop.
  const sinks = Array.from({ length: 16 }, socket);
  let searches = 0;
  const reading = sinks.map(async (sink) => {
    try {
      for (;;) if (text.decode((await sink.receive())[0]).startsWith("SEARCH ")) searches++;
    } catch {
      // Closed.
    }
  });
  using buyer = socket();
  using late = socket();
  try {
    for (let i = 0; i < 2_000; i++) {
      await send(buyer, `REGISTER s${i} seller${i} 127.0.0.1 ${portOf(sinks[i % 16]!)} 9`);
      assert.equal(await next(buyer), `REGISTERED s${i}`);
    }
    await send(buyer, `REGISTER r0 buyer 127.0.0.1 ${portOf(buyer)} 9`);
    assert.equal(await next(buyer), "REGISTERED r0");
    await send(buyer, "LOOKING_FOR l1 buyer Lamp a lamp 10");
    while (searches === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await send(late, `REGISTER x1 late 127.0.0.1 ${portOf(late)} 9`);
    assert.equal(await next(late), "REGISTERED x1");
    const deadline = Date.now() + 5_000;
    while (searches < 2_000 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(searches, 2_000);
  } finally {
    for (const sink of sinks) sink.close();
    await Promise.all(reading);
    await server[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
