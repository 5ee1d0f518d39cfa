import assert from "node:assert/strict";
import { decode, type Message, type MessageOf } from "../protocol/mod.ts";
import { authorityPem } from "../security/certificates.ts";
import { Channel, deriveSession, ephemeral } from "../security/channel.ts";
import {
  type RegistrationProof,
  replySigningText,
  verifyRegistration,
} from "../security/handshake.ts";
import { createIdentity, type Identity, sign } from "../security/identity.ts";
import type { RetransmitOptions } from "../transport/reliability.ts";
import { type Output, PLAINTEXT_REASON, UNAUTHENTICATED_REASON } from "./agent.ts";
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

/** What the fake server received: the message, its raw text, and whether it was sealed. */
interface Received<T extends Message["type"]> {
  message: MessageOf<T>;
  from: Deno.NetAddr;
  text: string;
  sealed: boolean;
}

/**
 * The server's side of UDP, played from a raw socket. As a secure server
 * it checks the signed REGISTER and answers a signed REGISTERED with the
 * security/ functions, then seals and opens datagrams with the session.
 */
class FakeServer implements Disposable {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  #pending: Promise<[Uint8Array, Deno.Addr]> | undefined;
  /** The session after a signed registration. */
  channel: Channel | undefined;
  /** The last verified registration. */
  proof: RegistrationProof | undefined;

  get address(): { hostname: string; port: number } {
    return { hostname: "127.0.0.1", port: (this.socket.addr as Deno.NetAddr).port };
  }

  /**
   * The next datagram of this type from the peer (others are skipped).
   * With a session, a sealed one is opened (and `sealed` says so).
   */
  async expect<T extends Message["type"]>(
    type: T,
    where: (received: Received<T>) => boolean = () => true,
    ms = WAIT_MS,
  ): Promise<Received<T>> {
    const deadline = Date.now() + ms;
    while (true) {
      this.#pending ??= this.socket.receive();
      const [data, from] = await within(this.#pending, deadline - Date.now(), type);
      this.#pending = undefined;
      const text = new TextDecoder().decode(data);
      const opened = this.channel?.open(text);
      const result = decode(opened?.ok ? opened.text : text);
      if (result.ok && result.message.type === type) {
        const received = {
          message: result.message as MessageOf<T>,
          from: from as Deno.NetAddr,
          text,
          sealed: opened?.ok ?? false,
        };
        if (where(received)) return received;
      }
    }
  }

  /** Whether a datagram of this type (and RQ#, if given) comes within `ms`. */
  async gets(type: Message["type"], ms: number, rqs?: string[]): Promise<boolean> {
    try {
      await this.expect(type, (r) => rqs?.includes(r.message.rq) ?? true, ms);
      return true;
    } catch {
      return false;
    }
  }

  async send(wire: string, to: Deno.NetAddr): Promise<void> {
    await this.socket.send(utf8.encode(wire), to);
  }

  /** Sends a datagram sealed with the session's MAC. */
  async sendSealed(wire: string, to: Deno.NetAddr): Promise<void> {
    await this.send(this.channel!.seal(wire), to);
  }

  /**
   * Answers a signed REGISTER as our server does: checks its signature and
   * freshness, derives the session, and signs REGISTERED over the
   * request's signature with `identity`.
   */
  async acceptSigned(
    register: Received<"REGISTER">,
    identity: Identity,
    features = "from ack no-offer auth",
  ): Promise<void> {
    const checked = await verifyRegistration(register.text, Date.now());
    assert.ok(checked.ok, "the REGISTER's signature verifies");
    this.proof = checked.proof;
    const own = await ephemeral();
    const { rq } = register.message;
    this.channel = new Channel(
      await deriveSession(own, checked.proof.dh, `${rq} ${checked.proof.ts}`, "server"),
    );
    const body =
      `REGISTERED ${rq} shop/1 ${features} key=${identity.publicText} dh=${own.publicText}`;
    const sig = await sign(identity, replySigningText(body, checked.proof.sig));
    await this.send(`${body} sig=${sig}`, register.from);
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
  readonly server: FakeServer;
  readonly ownsServer: boolean;
  ownsDir = true;
  dir = "";
  peer!: ShopPeer;
  running!: Promise<void>;

  static async start(
    options: {
      payment?: PaymentDetails;
      tcpTimeoutMs?: number;
      allowPlaintext?: boolean;
      serverKey?: string;
      retransmit?: Partial<RetransmitOptions>;
      /** Reuse a data directory (a restart); the fixture then leaves it. */
      dir?: string;
      server?: FakeServer;
    } = {},
  ): Promise<Fixture> {
    const fixture = new Fixture(options.server);
    fixture.dir = options.dir ?? await Deno.makeTempDir({ prefix: "shop-peer-test-" });
    fixture.ownsDir = options.dir === undefined;
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
      allowPlaintext: options.allowPlaintext,
      serverKey: options.serverKey,
      retransmit: options.retransmit,
    });
    fixture.running = fixture.peer.run(fixture.input);
    return fixture;
  }

  constructor(server?: FakeServer) {
    this.server = server ?? new FakeServer();
    this.ownsServer = server === undefined;
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

  /**
   * Registers, answering REGISTER as a classic server, or as a server of
   * ours without `auth` (an old one: plain datagrams and TCP).
   */
  async register(kind: "unsigned" | "classic"): Promise<void> {
    this.input.type("register");
    const { message, from } = await this.server.expect("REGISTER");
    await this.server.send(
      kind === "unsigned" ? `REGISTERED ${message.rq} shop/1 from` : `REGISTERED ${message.rq}`,
      from,
    );
    await this.waitFor("REGISTERED");
    assert.equal(this.peer.agent.serverKind, kind === "unsigned" ? "ours" : "classic");
  }

  /** Registers with a secure server signing with `identity`. */
  async registerSigned(identity: Identity): Promise<Received<"REGISTER">> {
    this.input.type("register");
    const register = await this.server.expect("REGISTER");
    await this.server.acceptSigned(register, identity);
    await this.waitFor("REGISTERED");
    return register;
  }

  /** Connects to the peer's TLS port as our server does, pinning its authority. */
  connectTls(): Promise<Deno.TlsConn> {
    return Deno.connectTls({
      hostname: "127.0.0.1",
      port: this.peer.ports.tcp,
      caCerts: [authorityPem(this.server.proof!.ca)],
    });
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
    if (this.ownsServer) this.server[Symbol.dispose]();
    if (this.ownsDir) await Deno.remove(this.dir, { recursive: true });
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

/** A sealed TCP message of the server, newline-framed as ours are. */
function sealedLine(server: FakeServer, text: string): string {
  return `${server.channel!.seal(text)}\n`;
}

Deno.test("with our secure server: signed registration, sealed datagrams, TLS transaction", async (t) => {
  const { identity: serverId } = await createIdentity();
  await using fixture = await Fixture.start({ payment: PAYMENT });
  const { server } = fixture;
  let register!: Received<"REGISTER">;

  await t.step(
    "REGISTER offers auth and is signed; the signed REGISTERED authenticates",
    async () => {
      fixture.input.type("register");
      register = await server.expect("REGISTER");
      assert.deepEqual(
        register.message.extensions?.filter((word) => !word.includes("=")),
        ["from", "ack", "no-offer", "auth"],
      );
      assert.ok(utf8.encode(register.text).length <= 1200, "the REGISTER fits a datagram");
      assert.equal(server.proof, undefined);
      await server.acceptSigned(register, serverId);
      assert.equal(server.proof!.key, fixture.peer.key.key);
      const registered = await fixture.waitFor("REGISTERED");
      assert.equal(registered.fields?.authenticated, true);
      assert.equal(fixture.peer.agent.authenticated, true);
      assert.equal(
        fixture.peer.tls,
        true,
        `the TCP port serves TLS: ${JSON.stringify(fixture.outputs)}`,
      );
    },
  );

  await t.step("status shows the keys and the authenticated session", async () => {
    fixture.input.type("status");
    const status = await fixture.waitFor("status");
    assert.equal(status.fields?.keyFingerprint, fixture.peer.key.fingerprint);
    assert.equal(typeof status.fields?.serverKeyFingerprint, "string");
    assert.equal(status.fields?.authenticated, true);
    fixture.input.type("key");
    assert.equal((await fixture.waitFor("key")).fields?.key, fixture.peer.key.key);
  });

  await t.step("a sealed SEARCH is acknowledged and answered with a sealed OFFER", async () => {
    fixture.input.type("sell Laptop 500");
    await fixture.waitFor("sell");
    await server.sendSealed("SEARCH S1 Laptop fast", fixture.peerUdp);
    const ack = await server.expect("ACK");
    assert.deepEqual(ack.message, { type: "ACK", rq: "S1", of: "SEARCH" });
    assert.ok(ack.sealed);
    const offer = await server.expect("OFFER");
    assert.ok(offer.sealed, "the OFFER carries the session's MAC");
    assert.equal(offer.message.price, 500);
    await server.sendSealed("ACK S1 OFFER", fixture.peerUdp);
  });

  await t.step("an unsealed or forged datagram from the server's address is ignored", async () => {
    await server.send("SEARCH S2 Laptop", fixture.peerUdp);
    // The body changed under a valid tag.
    const forged = server.channel!.seal("SEARCH S3 Laptop").replace("S3 Laptop", "S3 LAPTOP");
    await server.send(forged, fixture.peerUdp);
    // A replay of a datagram that was accepted is ignored too.
    const sealed = server.channel!.seal("SEARCH S4 Laptop");
    await server.send(sealed, fixture.peerUdp);
    const offered: string[] = [];
    const note = (r: Received<"OFFER">) => offered.push(r.message.rq) > 0;
    const answered = await server.expect("OFFER", (r) => note(r) && r.message.rq === "S4");
    assert.ok(answered.sealed);
    await server.sendSealed("ACK S4 OFFER", fixture.peerUdp);
    // Retransmissions sent before the ACK came are read too.
    while (await server.expect("OFFER", note, 150).then(() => true, () => false));
    assert.deepEqual(
      offered.filter((rq) => rq === "S2" || rq === "S3"),
      [],
      "no OFFER to S2 or S3",
    );
    await server.send(sealed, fixture.peerUdp);
    assert.equal(
      await server.gets("OFFER", 400),
      false,
      "no OFFER for the replayed SEARCH",
    );
    assert.equal(fixture.outputs.filter((o) => o.event === "OFFER").length, 2);
  });

  await t.step(
    "LOOKING_FOR is sent again with the same RQ# and a new MAC until its ACK",
    async () => {
      fixture.input.type("buy Phone 100");
      const first = await server.expect("LOOKING_FOR");
      const again = await server.expect("LOOKING_FOR");
      assert.equal(again.message.rq, first.message.rq);
      assert.notEqual(again.text, first.text);
      assert.ok(first.sealed && again.sealed);
      await server.sendSealed(`ACK ${first.message.rq} LOOKING_FOR`, fixture.peerUdp);
      await server.sendSealed(`FOUND ${first.message.rq} Phone 90 from carol`, fixture.peerUdp);
      await server.expect("BUY");
    },
  );

  await t.step("over TLS, INFORM_Req without a valid MAC gets CANCEL, not card data", async () => {
    const conn = await fixture.connectTls();
    await write(conn, "INFORM_Req T1 Phone 90\n");
    assert.equal(await readToClose(conn), `CANCEL T1 ${UNAUTHENTICATED_REASON}\n`);
    const forged = await fixture.connectTls();
    await write(forged, sealedLine(server, "INFORM_Req T1 Phone 90").replace("90 mac", "1 mac"));
    assert.equal(await readToClose(forged), `CANCEL T1 ${UNAUTHENTICATED_REASON}\n`);
    assert.ok(!JSON.stringify(fixture.outputs).includes(CARD));
  });

  await t.step(
    "TLS messages overtaken by later datagrams still open; a datagram replayed on TCP does not",
    async () => {
      const early = sealedLine(server, "INFORM_Req T8 Nothing 1");
      await new Promise((resolve) => setTimeout(resolve, 5));
      const datagram = server.channel!.seal("SEARCH S5 Laptop");
      await server.send(datagram, fixture.peerUdp);
      await server.expect("OFFER", (r) => r.message.rq === "S5");
      await server.sendSealed("ACK S5 OFFER", fixture.peerUdp);
      const conn = await fixture.connectTls();
      await write(conn, early);
      assert.equal(await readToClose(conn), "CANCEL T8 no purchase or sale of Nothing here\n");
      const replay = await fixture.connectTls();
      await write(replay, `${datagram}\n`);
      assert.equal(await readToClose(replay), `CANCEL S5 ${UNAUTHENTICATED_REASON}\n`);
    },
  );

  await t.step(
    "INFORM_Req with the server's MAC gets the details; the receipt completes",
    async () => {
      const conn = await fixture.connectTls();
      await write(conn, sealedLine(server, "INFORM_Req T2 Phone 90"));
      assert.equal(await readChunk(conn), `INFORM_Res T2 alice ${CARD} ${EXPIRY} 42 Main St\n`);
      await write(conn, sealedLine(server, "Shipping_Info T2 alice 42 Main St"));
      assert.equal(await readToClose(conn), "ACK T2 Shipping_Info\n");
      const bought = await fixture.waitFor("Shipping_Info", (o) => o.fields?.role === "buyer");
      assert.equal(bought.text, "Bought Phone from carol for 90; it ships to 42 Main St");
    },
  );

  await t.step("a reserved item is sold over TLS", async () => {
    await server.sendSealed("RESERVE S1 Laptop 500", fixture.peerUdp);
    await fixture.waitFor("RESERVE");
    const conn = await fixture.connectTls();
    await write(conn, sealedLine(server, "INFORM_Req T3 Laptop 500"));
    assert.equal(await readChunk(conn), `INFORM_Res T3 alice ${CARD} ${EXPIRY} 42 Main St\n`);
    await write(conn, sealedLine(server, "Shipping_Info T3 bob 7 Elm Road"));
    assert.equal(await readToClose(conn), "ACK T3 Shipping_Info\n");
    const sold = await fixture.waitFor("Shipping_Info", (o) => o.fields?.role === "seller");
    assert.match(sold.text, /^Sold Laptop to bob for 500/);
  });

  await t.step(
    "a receipt written just before the server closes still completes the purchase",
    async () => {
      // The peer is busy with input while the receipt and the close arrive.
      for (let i = 0; i < 20; i++) fixture.input.type(`sell Spare${i} 1`);
      fixture.input.type("buy Desk 100");
      const looking = await server.expect("LOOKING_FOR", (r) => r.message.item === "Desk");
      const { rq } = looking.message;
      await server.sendSealed(`ACK ${rq} LOOKING_FOR`, fixture.peerUdp);
      await server.sendSealed(`FOUND ${rq} Desk 80 from carol`, fixture.peerUdp);
      await server.expect("BUY", (r) => r.message.rq === rq);
      await server.sendSealed(`ACK ${rq} BUY`, fixture.peerUdp);
      const conn = await fixture.connectTls();
      await write(conn, sealedLine(server, "INFORM_Req T5 Desk 80"));
      assert.match(String(await readChunk(conn)), /^INFORM_Res T5 /);
      for (let i = 0; i < 20; i++) fixture.input.type(`sell Extra${i} 1`);
      await write(conn, sealedLine(server, "Shipping_Info T5 alice 42 Main St"));
      conn.close();
      await fixture.waitFor("Shipping_Info", (o) => o.fields?.rq === "T5");
      assert.equal(
        fixture.peer.agent.requests.find((r) => r.rq === rq)?.state,
        "bought",
      );
    },
  );

  await t.step("a plain TCP client gets no message from the TLS port", async () => {
    using conn = await fixture.connect();
    await write(conn, "INFORM_Req T4 Laptop 500\n");
    const got = await readToClose(conn).catch(() => "");
    assert.ok(!got.includes(CARD) && !got.startsWith("INFORM_Res"));
  });

  await t.step("a TLS client pinning another authority fails the handshake", async () => {
    const { identity: stranger } = await createIdentity();
    const { peerCertificates } = await import("../security/certificates.ts");
    const other = await peerCertificates(stranger, "mallory", ["127.0.0.1"]);
    await assert.rejects(async () => {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: fixture.peer.ports.tcp,
        caCerts: [authorityPem(other.caText)],
      });
      try {
        await conn.handshake();
      } finally {
        conn.close();
      }
    });
  });

  await t.step("neither output nor the data directory holds the card or expiry", async () => {
    const all = JSON.stringify(fixture.outputs);
    assert.ok(!all.includes(CARD) && !all.includes(EXPIRY));
    const files = await allFileText(fixture.dir);
    assert.ok(!files.includes(CARD) && !files.includes(EXPIRY));
  });
});

Deno.test("a REGISTERED signed by another key than the expected one is refused", async (t) => {
  const [{ identity: real }, { identity: impostor }] = await Promise.all([
    createIdentity(),
    createIdentity(),
  ]);

  await t.step("the key given with --server-key", async () => {
    await using fixture = await Fixture.start({ serverKey: real.publicText });
    fixture.input.type("register");
    const register = await fixture.server.expect("REGISTER");
    await fixture.server.acceptSigned(register, impostor);
    const refused = await fixture.waitFor("refused");
    assert.match(
      refused.text,
      /^Registration refused: the server at .* signed with key .*--server-key/,
    );
    assert.equal(fixture.peer.agent.registered, false);
    assert.equal(fixture.peer.tls, false);
  });

  await t.step("the key pinned at the first registration, after a restart", async () => {
    const dir = await Deno.makeTempDir({ prefix: "shop-peer-test-" });
    using server = new FakeServer();
    try {
      {
        await using first = await Fixture.start({ dir, server });
        await first.registerSigned(real);
      }
      await using second = await Fixture.start({ dir, server });
      // Registered before, it registers again by itself, signed.
      const again = await server.expect("REGISTER");
      assert.ok(again.text.includes(" sig="));
      await server.acceptSigned(again, impostor);
      const refused = await second.waitFor("refused");
      assert.match(refused.text, /not the key pinned for it/);
      // Nothing from the impostor's session is acted on.
      await server.sendSealed("SEARCH S9 Lamp", second.peerUdp);
      assert.equal(await server.gets("NO_OFFER", 400), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("an unsigned REGISTERED from a server whose key is pinned", async () => {
    await using fixture = await Fixture.start({ serverKey: real.publicText });
    fixture.input.type("register");
    const register = await fixture.server.expect("REGISTER");
    await fixture.server.send(`REGISTERED ${register.message.rq} shop/1 from ack`, register.from);
    const refused = await fixture.waitFor("refused");
    assert.match(refused.text, /without its signature/);
    assert.equal(fixture.peer.agent.registered, false);
  });
});

Deno.test("a restarted peer re-registers with its key from a new port, and its search goes on", async () => {
  const { identity: serverId } = await createIdentity();
  const dir = await Deno.makeTempDir({ prefix: "shop-peer-test-" });
  using server = new FakeServer();
  try {
    let firstKey: string;
    let firstPort: number;
    let rq: string;
    {
      await using first = await Fixture.start({ dir, server });
      const register = await first.registerSigned(serverId);
      firstKey = server.proof!.key;
      firstPort = register.message.udpPort;
      first.input.type("buy Lamp 30");
      rq = (await server.expect("LOOKING_FOR")).message.rq;
      await server.sendSealed(`ACK ${rq} LOOKING_FOR`, first.peerUdp);
    }
    // Its old port is held by someone else now: it comes back on another.
    const squatter = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: firstPort,
    });
    try {
      await using second = await Fixture.start({ dir, server });
      const again = await server.expect("REGISTER");
      assert.notEqual(again.message.udpPort, firstPort);
      await server.acceptSigned(again, serverId);
      assert.equal(server.proof!.key, firstKey, "the same key, from the KV");
      const registered = await second.waitFor("REGISTERED");
      assert.equal(registered.fields?.again, true);
      // The search is sent again, sealed with the new session.
      const resent = await server.expect("LOOKING_FOR", (r) => r.message.rq === rq);
      assert.ok(resent.sealed);
      await server.sendSealed(`FOUND ${rq} Lamp 25 from bob`, second.peerUdp);
      await server.expect("BUY");
    } finally {
      squatter.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with a classic server and no --allow-plaintext the peer declines to send card data", async () => {
  await using fixture = await Fixture.start({ payment: PAYMENT });
  await fixture.register("classic");
  fixture.input.type("buy Phone 100");
  const { message, from } = await fixture.server.expect("LOOKING_FOR");
  await fixture.server.send(`FOUND ${message.rq} Phone 90`, from);
  await fixture.server.expect("BUY");
  using conn = await fixture.connect();
  await write(conn, "INFORM_Req T7 Phone 90");
  assert.equal(await readToClose(conn), `CANCEL T7 ${PLAINTEXT_REASON}`);
  const refused = await fixture.waitFor("plaintext-refused");
  assert.match(refused.text, /--allow-plaintext/);
  assert.ok(!JSON.stringify(fixture.outputs).includes(CARD));
  assert.equal(fixture.peer.agent.requests[0]?.state, "cancelled");
});

Deno.test("deregister when not registered is refused locally, nothing sent", async () => {
  await using fixture = await Fixture.start();
  fixture.input.type("deregister");
  const error = await fixture.waitFor("error");
  assert.equal(error.text, "Error: Not registered: nothing to de-register");
  assert.equal(await fixture.server.gets("DE-REGISTER", 300), false);
});

Deno.test("a server that never answers: REGISTER is sent again, then a timeout line", async () => {
  await using fixture = await Fixture.start({
    retransmit: { initialRto: 50, maxAttempts: 3 },
  });
  fixture.input.type("register");
  const first = await fixture.server.expect("REGISTER");
  const again = await fixture.server.expect("REGISTER");
  assert.equal(again.text, first.text, "the same signed text, so the server keeps one exchange");
  const timeout = await fixture.waitFor("timeout");
  assert.equal(timeout.text, "Server not answering: REGISTER got no reply after 3 tries");
});

Deno.test("with a classic server and --allow-plaintext: bare messages, and the close completes a purchase", async (t) => {
  await using fixture = await Fixture.start({ allowPlaintext: true });
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
  await using fixture = await Fixture.start({ payment: PAYMENT, allowPlaintext: true });
  await fixture.register("classic");
  using conn = await fixture.connect();
  await write(conn, "INFORM_Req T1 Laptop 500");
  assert.equal(await readToClose(conn), "CANCEL T1 no purchase or sale of Laptop here");
});

Deno.test("TCP connections that misbehave are closed and the peer goes on", async (t) => {
  await using fixture = await Fixture.start({ payment: PAYMENT, tcpTimeoutMs: 300 });
  await fixture.register("unsigned");

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
