import assert from "node:assert/strict";
import { decode, type Message, type MessageOf } from "../protocol/mod.ts";
import type { Output } from "./agent.ts";
import type { PaymentDetails } from "./payment.ts";
import { isServerIp, MAX_TCP_CONNECTIONS, ShopPeer } from "./peer.ts";

const CARD = "4111111111111111";
const EXPIRY = "11/30";
const PAYMENT: PaymentDetails = { card: CARD, expiry: EXPIRY, address: "42 Main St" };
const WAIT_MS = 5_000;
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Races a promise against a deadline, clearing the timer either way. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server's side of UDP, played from a raw socket. */
class FakeServer implements Disposable {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  #pending: Promise<[Uint8Array, Deno.Addr]> | undefined;

  get address(): { hostname: string; port: number } {
    return { hostname: "127.0.0.1", port: (this.socket.addr as Deno.NetAddr).port };
  }

  /** The next datagram of this type from the peer (others are skipped). */
  async expect<T extends Message["type"]>(
    type: T,
  ): Promise<{ message: MessageOf<T>; from: Deno.NetAddr }> {
    const deadline = Date.now() + WAIT_MS;
    while (true) {
      this.#pending ??= this.socket.receive();
      const [data, from] = await within(this.#pending, deadline - Date.now(), type);
      this.#pending = undefined;
      const result = decode(data);
      if (result.ok && result.message.type === type) {
        return { message: result.message as MessageOf<T>, from: from as Deno.NetAddr };
      }
    }
  }

  async send(wire: string, to: Deno.NetAddr): Promise<void> {
    await this.socket.send(utf8.encode(wire), to);
  }

  [Symbol.dispose](): void {
    this.#pending?.catch(() => {});
    this.socket.close();
  }
}

/** Input lines the test types, one at a time. */
class Input implements AsyncIterable<string> {
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  type(line: string): void {
    this.#lines.push(line);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    while (true) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** A peer started in a temp directory, its printed lines, and its input. */
class Fixture implements AsyncDisposable {
  readonly outputs: Output[] = [];
  readonly secrets: boolean[] = [];
  readonly input = new Input();
  readonly server = new FakeServer();
  dir = "";
  peer!: ShopPeer;
  running!: Promise<void>;

  static async start(
    options: { payment?: PaymentDetails; tcpTimeoutMs?: number } = {},
  ): Promise<Fixture> {
    const fixture = new Fixture();
    fixture.dir = await Deno.makeTempDir({ prefix: "shop-peer-test-" });
    fixture.peer = await ShopPeer.start({
      name: "alice",
      server: fixture.server.address,
      hostname: "127.0.0.1",
      udpPort: 0,
      tcpPort: 0,
      dataDir: fixture.dir,
      print: (output) => fixture.outputs.push(output),
      autoBuy: true,
      payment: options.payment,
      secretInput: (secret) => fixture.secrets.push(secret),
      tcpTimeoutMs: options.tcpTimeoutMs,
    });
    fixture.running = fixture.peer.run(fixture.input);
    return fixture;
  }

  /** Waits for a printed line with this event (and matching fields), after `from`. */
  async waitFor(event: string, match: (output: Output) => boolean = () => true): Promise<Output> {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const found = this.outputs.find((output) => output.event === event && match(output));
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(
      `No ${event} line; printed:\n${this.outputs.map((o) => o.text).join("\n")}`,
    );
  }

  /** Registers, answering REGISTER as our server or a classic one. */
  async register(kind: "ours" | "classic"): Promise<void> {
    this.input.type("register");
    const { message, from } = await this.server.expect("REGISTER");
    assert.deepEqual(message.extensions, ["from"]);
    await this.server.send(
      kind === "ours" ? `REGISTERED ${message.rq} shop/1 from` : `REGISTERED ${message.rq}`,
      from,
    );
    await this.waitFor("REGISTERED");
    assert.equal(this.peer.agent.serverKind, kind);
  }

  /** The peer's UDP address, for datagrams from the server. */
  get peerUdp(): Deno.NetAddr {
    return { transport: "udp", hostname: "127.0.0.1", port: this.peer.ports.udp };
  }

  /** Connects to the peer's TCP port as the server does. */
  connect(): Promise<Deno.TcpConn> {
    return Deno.connect({ hostname: "127.0.0.1", port: this.peer.ports.tcp });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.input.end();
    await within(this.running, WAIT_MS, "the peer to stop").catch(() => {});
    await this.peer[Symbol.asyncDispose]();
    this.server[Symbol.dispose]();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** Reads what the peer wrote in one go (as a classic server's single recv does). */
async function readChunk(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(2048);
  const count = await within(conn.read(buffer), WAIT_MS, "the peer to write");
  return count === null ? null : text.decode(buffer.subarray(0, count));
}

/** Waits until the peer closes the connection, returning anything it wrote first. */
async function readToClose(conn: Deno.Conn): Promise<string> {
  let all = "";
  while (true) {
    const chunk = await readChunk(conn);
    if (chunk === null) return all;
    all += chunk;
  }
}

async function write(conn: Deno.Conn, wire: string): Promise<void> {
  await conn.write(utf8.encode(wire));
}

/** Every file under a directory, as text, to look for a card number. */
async function allFileText(dir: string): Promise<string> {
  let all = "";
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) all += text.decode(await Deno.readFile(`${dir}/${entry.name}`));
  }
  return all;
}

Deno.test("with our server: a sale and a purchase over TCP, newline-framed", async (t) => {
  await using fixture = await Fixture.start({ payment: PAYMENT });
  await fixture.register("ours");

  await t.step("a reserved item is sold: INFORM_Res, then Shipping_Info", async () => {
    fixture.input.type("sell Laptop 500");
    await fixture.waitFor("sell");
    await fixture.server.send("RESERVE S1 Laptop 500", fixture.peerUdp);
    await fixture.waitFor("RESERVE");

    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T1 Laptop 500\n");
    assert.equal(
      await readChunk(conn),
      `INFORM_Res T1 alice ${CARD} ${EXPIRY} 42 Main St\n`,
    );
    await write(conn, "Shipping_Info T1 bob 7 Elm Road\n");
    // The seller closes its own connection after Shipping_Info.
    assert.equal(await readToClose(conn), "");
    const sold = await fixture.waitFor("Shipping_Info");
    assert.equal(
      sold.text,
      "Sold Laptop to bob for 500 (you get 450 after the 10% fee): ship to 7 Elm Road",
    );
    assert.deepEqual(fixture.peer.agent.items, []);
  });

  await t.step("a purchase gets its receipt", async () => {
    fixture.input.type("buy Phone 100");
    const { message, from } = await fixture.server.expect("LOOKING_FOR");
    await fixture.server.send(`FOUND ${message.rq} Phone 90 from carol`, from);
    await fixture.server.expect("BUY");

    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T2 Phone 90\n");
    assert.equal(await readChunk(conn), `INFORM_Res T2 alice ${CARD} ${EXPIRY} 42 Main St\n`);
    await write(conn, "Shipping_Info T2 alice 42 Main St\n");
    assert.equal(await readToClose(conn), "");
    const bought = await fixture.waitFor("Shipping_Info", (o) => o.fields?.role === "buyer");
    assert.equal(bought.text, "Bought Phone from carol for 90; it ships to 42 Main St");
    assert.equal(fixture.peer.agent.requests[0]?.state, "bought");
  });

  await t.step("history shows both", async () => {
    fixture.input.type("history");
    const history = await fixture.waitFor("history");
    assert.deepEqual(history.fields?.totals, {
      purchases: 1,
      bought: 90,
      sales: 1,
      sold: 500,
      fees: 50,
      received: 450,
    });
  });

  await t.step("the card shows only masked on output", async () => {
    const shown = await fixture.waitFor("INFORM_Req");
    assert.equal(
      shown.text,
      "Sending payment details for Laptop (500) as seller, card ************1111",
    );
    const all = JSON.stringify(fixture.outputs);
    assert.ok(!all.includes(CARD));
    assert.ok(!all.includes(EXPIRY));
  });
});

Deno.test("with a classic server: bare messages, and the close completes a purchase", async (t) => {
  await using fixture = await Fixture.start();
  await fixture.register("classic");

  await t.step("details typed on input answer INFORM_Req, without a newline", async () => {
    fixture.input.type("buy Phone 100");
    const { message, from } = await fixture.server.expect("LOOKING_FOR");
    await fixture.server.send(`FOUND ${message.rq} Phone 90`, from);
    await fixture.server.expect("BUY");

    using conn = await fixture.connect();
    // A classic server writes without a newline.
    await write(conn, "INFORM_Req T7 Phone 90");
    const card = await fixture.waitFor("prompt", (o) => o.fields?.about === "CARD");
    assert.equal(card.text, "Card number for buyer of Phone (90):");
    assert.deepEqual(fixture.secrets, [true]);
    fixture.input.type("4111-1111-1111-1111");
    await fixture.waitFor("prompt", (o) => o.fields?.about === "EXPIRY");
    fixture.input.type(EXPIRY);
    await fixture.waitFor("prompt", (o) => o.fields?.about === "ADDRESS");
    assert.deepEqual(fixture.secrets, [true, false]);
    fixture.input.type("42 Main St");
    // One write, no newline: what a classic server's single recv expects.
    assert.equal(await readChunk(conn), `INFORM_Res T7 alice ${CARD} ${EXPIRY} 42 Main St`);
    conn.close();
    const bought = await fixture.waitFor("bought");
    assert.equal(bought.text, "Bought Phone for 90; it ships to 42 Main St");
    assert.equal(fixture.peer.agent.requests[0]?.state, "bought");
  });

  await t.step("a CANCEL releases a reserved item", async () => {
    fixture.input.type("sell Laptop 500");
    await fixture.waitFor("sell");
    await fixture.server.send("RESERVE S3 Laptop 500", fixture.peerUdp);
    await fixture.waitFor("RESERVE");
    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T8 Laptop 500");
    // Typed once, the details are used again without asking.
    assert.equal(await readChunk(conn), `INFORM_Res T8 alice ${CARD} ${EXPIRY} 42 Main St`);
    await write(conn, "CANCEL T8 the card was declined");
    assert.equal(await readToClose(conn), "");
    const cancel = await fixture.waitFor("CANCEL");
    assert.equal(cancel.text, "Sale of Laptop cancelled: the card was declined");
    assert.equal(fixture.peer.agent.items[0]?.reservedFor, undefined);
  });

  await t.step("neither output nor the data directory holds the card or expiry", async () => {
    const all = JSON.stringify(fixture.outputs);
    assert.ok(!all.includes(CARD) && !all.includes("4111-1111"));
    assert.ok(!all.includes(EXPIRY));
    const files = await allFileText(fixture.dir);
    // Stored text is findable in these files: the sold item is.
    assert.ok(files.includes("Laptop"));
    assert.ok(!files.includes(CARD));
    assert.ok(!files.includes(EXPIRY));
  });
});

Deno.test("INFORM_Req for nothing of this peer's is answered CANCEL and closed", async () => {
  await using fixture = await Fixture.start({ payment: PAYMENT });
  await fixture.register("classic");
  using conn = await fixture.connect();
  await write(conn, "INFORM_Req T1 Laptop 500");
  assert.equal(await readToClose(conn), "CANCEL T1 no purchase or sale of Laptop here");
});

Deno.test("TCP connections that misbehave are closed and the peer goes on", async (t) => {
  await using fixture = await Fixture.start({ payment: PAYMENT, tcpTimeoutMs: 300 });
  await fixture.register("ours");

  await t.step("garbage is logged and the connection closed", async () => {
    using conn = await fixture.connect();
    await write(conn, "HELLO there\n");
    await readToClose(conn);
    const warning = await fixture.waitFor("warning", (o) => /HELLO/.test(o.text));
    assert.match(warning.text, /Closed a TCP connection from the server: Unknown message type/);
  });

  await t.step("a silent connection is closed after the read timeout", async () => {
    using conn = await fixture.connect();
    const started = Date.now();
    assert.equal(await readToClose(conn), "");
    assert.ok(Date.now() - started >= 250, "closed before the timeout");
  });

  await t.step(`at most ${MAX_TCP_CONNECTIONS} connections are served at once`, async () => {
    await using slow = await Fixture.start({ payment: PAYMENT });
    const conns = [];
    try {
      // The peer accepts in the order the connections came.
      for (let i = 0; i < MAX_TCP_CONNECTIONS; i++) conns.push(await slow.connect());
      using extra = await slow.connect();
      assert.equal(await readToClose(extra), "");
    } finally {
      for (const conn of conns) conn.close();
    }
  });

  await t.step("the peer still answers commands", async () => {
    fixture.input.type("status");
    const status = await fixture.waitFor("status");
    assert.equal(status.fields?.registered, true);
  });
});

Deno.test("isServerIp tells the server's connections from others", () => {
  assert.equal(isServerIp("10.0.0.5", "10.0.0.5"), true);
  assert.equal(isServerIp("::ffff:10.0.0.5", "10.0.0.5"), true);
  assert.equal(isServerIp("127.0.0.1", "localhost"), true);
  assert.equal(isServerIp("::1", "127.0.0.1"), true);
  assert.equal(isServerIp("10.0.0.6", "10.0.0.5"), false);
  assert.equal(isServerIp("10.0.0.6", "127.0.0.1"), false);
  assert.equal(isServerIp("127.0.0.1", "10.0.0.5"), false);
  assert.equal(isServerIp("10.0.0.6", "[fe80::1]"), false);
  assert.equal(isServerIp("10.0.0.6", "shop.example"), undefined);
});
