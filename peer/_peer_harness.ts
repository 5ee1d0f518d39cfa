/**
 * Test helpers for the peer's shell: a fake server on a raw UDP socket (as
 * a secure server it verifies the signed REGISTER and seals datagrams), a
 * peer started in a temp directory with typed input, and TCP readers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decode, type Message, type MessageOf } from "../protocol/mod.ts";
import { authorityPem } from "../security/certificates.ts";
import { Channel, deriveSession, ephemeral } from "../security/channel.ts";
import {
  type RegistrationProof,
  replySigningText,
  verifyRegistration,
} from "../security/handshake.ts";
import { type Identity, sign } from "../security/identity.ts";
import type { RetransmitOptions } from "../transport/reliability.ts";
import type { Output } from "./agent.ts";
import type { PaymentDetails } from "./payment.ts";
import { ShopPeer } from "./peer.ts";

const WAIT_MS = 5_000;

export const utf8 = new TextEncoder();
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
export interface Received<T extends Message["type"]> {
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
export class FakeServer implements Disposable {
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
export class Fixture implements AsyncDisposable {
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

  /**
   * Types `buy ITEM MAX`, answers its LOOKING_FOR with a FOUND at `price` as
   * a classic server does (plain, no seller), and waits for the BUY.
   */
  async buyFromClassic(item: string, max: number, price: number): Promise<void> {
    this.input.type(`buy ${item} ${max}`);
    const { message, from } = await this.server.expect("LOOKING_FOR");
    await this.server.send(`FOUND ${message.rq} ${item} ${price}`, from);
    await this.server.expect("BUY");
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
export async function readChunk(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(2048);
  const count = await within(conn.read(buffer), WAIT_MS, "the peer to write");
  return count === null ? null : text.decode(buffer.subarray(0, count));
}

/** Waits until the peer closes the connection, returning anything it wrote first. */
export async function readToClose(conn: Deno.Conn): Promise<string> {
  let all = "";
  while (true) {
    const chunk = await readChunk(conn);
    if (chunk === null) return all;
    all += chunk;
  }
}

export async function write(conn: Deno.Conn, wire: string): Promise<void> {
  await conn.write(utf8.encode(wire));
}

/** Every file under a directory, as text, to look for a card number. */
export async function allFileText(dir: string): Promise<string> {
  let all = "";
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) all += text.decode(await Deno.readFile(`${dir}/${entry.name}`));
  }
  return all;
}

/** A sealed TCP message of the server, newline-framed as ours are. */
export function sealedLine(server: FakeServer, text: string): string {
  return `${server.channel!.seal(text)}\n`;
}
