import assert from "node:assert/strict";
import { systemClock } from "../shell/clock.ts";
import { createIdentity } from "../security/identity.ts";
import { authorityPem, peerCertificates } from "../security/certificates.ts";
import type { TcpSession } from "./guard.ts";
import {
  MAX_TCP_CONNECTIONS,
  readProblem,
  TcpServer,
  type TcpServerOptions,
} from "./tcp_server.ts";
import { frameEvent, type TcpEvent } from "./tcp_frames.ts";

const utf8 = new TextEncoder();
const WAIT_MS = 3_000;
const { identity } = await createIdentity();
const certificates = await peerCertificates(identity, "sam", ["127.0.0.1"]);

/** A stand-in for the session's MAC: a message is sealed when it ends in " MAC". */
const session: TcpSession = {
  open: (text) =>
    text.endsWith(" MAC") ? { ok: true, text: text.slice(0, -4) } : { ok: false, why: "no mac" },
};

/** A TcpServer on 127.0.0.1 whose events are collected; the server is on loopback too. */
function tcpServer(options: Partial<TcpServerOptions> = {}) {
  const events: TcpEvent[] = [];
  const server = new TcpServer(Deno.listen({ hostname: "127.0.0.1", port: 0 }), {
    hostname: "127.0.0.1",
    clock: systemClock,
    fromServer: () => Promise.resolve(true),
    certificates,
    session: () => session,
    deliver: (event) => void events.push(event),
    after: (task) => task(),
    ...options,
  });
  return { server, events };
}

/** Opens connections, closing them all (and the server) when disposed. */
class Clients implements AsyncDisposable {
  readonly conns: Deno.Conn[] = [];
  constructor(readonly server: TcpServer) {}

  async plain(): Promise<Deno.Conn> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.server.port });
    this.conns.push(conn);
    return conn;
  }

  async tls(): Promise<Deno.TlsConn> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: this.server.port,
      caCerts: [authorityPem(certificates.caText)],
    });
    this.conns.push(conn);
    await conn.handshake();
    return conn;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const conn of this.conns) {
      try {
        conn.close();
      } catch {
        // The server closed it.
      }
    }
    await this.server[Symbol.asyncDispose]();
  }
}

/** Waits until `test` holds (polling), or fails naming `what`. */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether the other side closes `conn` within WAIT_MS (it reads end of file or a reset). */
async function closedByPeer(conn: Deno.Conn): Promise<boolean> {
  const buffer = new Uint8Array(2048);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"open">((
    resolve,
  ) => (timer = setTimeout(() => resolve("open"), 500)));
  try {
    const read = conn.read(buffer).then((n) => n === null ? "closed" : "data", () => "closed");
    return (await Promise.race([read, timeout])) === "closed";
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("idle connections do not take the slots of authenticated ones", async () => {
  const { server, events } = tcpServer();
  await using clients = new Clients(server);
  for (let i = 0; i < 20; i++) await clients.plain();
  await until(() => server.counts.pending === 20, "20 pending connections");
  const served: Deno.Conn[] = [];
  for (let i = 0; i < MAX_TCP_CONNECTIONS; i++) {
    const conn = await clients.plain();
    await conn.write(utf8.encode(`INFORM_Req t${i} Lamp 25\n`));
    served.push(conn);
  }
  await until(() => events.length === MAX_TCP_CONNECTIONS, "a message on each connection");
  assert.deepEqual(server.counts, { pending: 20, authenticated: MAX_TCP_CONNECTIONS });
  assert.ok(events.every((event) => event.kind === "tcp"));
  // One more authenticated connection is one too many: it is closed.
  const extra = await clients.plain();
  await extra.write(utf8.encode("INFORM_Req t99 Lamp 25\n"));
  assert.equal(await closedByPeer(extra), true);
  assert.equal(events.length, MAX_TCP_CONNECTIONS, "the extra message reached no one");
  assert.equal(await closedByPeer(served[0]!), false, "the served ones stay open");
});

Deno.test("a full pending budget closes its oldest connection for a new one", async () => {
  const { server } = tcpServer({ maxPending: 4 });
  await using clients = new Clients(server);
  const first = await clients.plain();
  await until(() => server.counts.pending === 1, "the first connection");
  for (let i = 0; i < 4; i++) await clients.plain();
  await until(() => server.counts.pending === 4, "4 pending connections");
  assert.equal(await closedByPeer(first), true, "the oldest was closed");
  assert.equal(await closedByPeer(clients.conns.at(-1)!), false, "the newest waits");
});

Deno.test("over plain TCP a message that does not parse leaves its connection pending", async () => {
  const { server, events } = tcpServer();
  await using clients = new Clients(server);
  const conn = await clients.plain();
  await conn.write(utf8.encode("HELLO there\n"));
  await until(() => events.length === 1, "the invalid message");
  assert.equal(events[0]?.kind, "tcp-invalid");
  assert.deepEqual(server.counts, { pending: 1, authenticated: 0 });
  // The agent closes it, as it does every connection whose message fails.
  server.close(events[0]!.conn);
  assert.equal(await closedByPeer(conn), true);
});

Deno.test("a connection that does not finish its TLS handshake in time is closed", async () => {
  const { server, events } = tcpServer({ handshakeTimeoutMs: 200 });
  await server.listen(true);
  await using clients = new Clients(server);
  await clients.plain();
  const started = Date.now();
  await until(() => server.counts.pending === 1, "the pending connection");
  await until(() => server.counts.pending === 0, "the handshake timeout");
  const took = Date.now() - started;
  // (The runtime finishes a handshake before it shuts the socket down, so
  // the client itself sees the close only when it sends or closes.)
  assert.ok(took >= 150 && took < 2_000, `closed after ${took} ms`);
  assert.deepEqual(events, [], "the agent never hears of it");
});

Deno.test("over TLS only a message with the server's MAC counts a connection as authenticated", async () => {
  const { server, events } = tcpServer({ handshakeTimeoutMs: 200 });
  await server.listen(true);
  await using clients = new Clients(server);
  const stranger = await clients.tls();
  await stranger.write(utf8.encode("INFORM_Req t1 Lamp 25\n"));
  await until(() => events.length === 1, "the unsealed message");
  assert.equal(events[0]?.kind, "tcp-unauthenticated");
  assert.deepEqual(server.counts, { pending: 1, authenticated: 0 });
  // Past the handshake timeout, a connection that finished it stays open.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const sealed = await clients.tls();
  await sealed.write(utf8.encode("INFORM_Req t2 Lamp 25 MAC\n"));
  await until(() => events.length === 2, "the sealed message");
  assert.equal(events[1]?.kind, "tcp");
  assert.deepEqual(server.counts, { pending: 1, authenticated: 1 });
});

Deno.test("frameEvent reads a frame and says whether it authenticates", async (t) => {
  const at = 1;
  const frame = (text: string) => utf8.encode(text);
  await t.step("plain TCP: a message that parses authenticates", () => {
    const read = frameEvent(1, frame("INFORM_Req t1 Lamp 25"), { session: undefined, at });
    assert.equal(read.event.kind, "tcp");
    assert.equal(read.authentic, true);
    const bad = frameEvent(1, frame("HELLO"), { session: undefined, at });
    assert.deepEqual([bad.event.kind, bad.authentic], ["tcp-invalid", false]);
  });
  await t.step("TLS: only a valid MAC authenticates, even an unreadable message", () => {
    const unsealed = frameEvent(1, frame("INFORM_Req t1 Lamp 25"), { session, at });
    assert.deepEqual(unsealed.event, {
      kind: "tcp-unauthenticated",
      conn: 1,
      why: "no mac",
      at,
      rq: "t1",
    });
    assert.equal(unsealed.authentic, false);
    const sealedJunk = frameEvent(1, frame("HELLO MAC"), { session, at });
    assert.deepEqual([sealedJunk.event.kind, sealedJunk.authentic], ["tcp-invalid", true]);
    const notText = frameEvent(1, new Uint8Array([0xff, 0xfe]), { session, at });
    assert.deepEqual([notText.event.kind, notText.authentic], ["tcp-unauthenticated", false]);
  });
});

Deno.test("a TLS connection the server dropped is said in words, not with the TLS library's link", () => {
  const rustls = new Error(
    "UnexpectedEof: peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
  );
  assert.equal(
    readProblem(rustls),
    "the server closed the connection without ending TLS (it may have stopped)",
  );
  assert.equal(
    readProblem(new Deno.errors.ConnectionReset("reset")),
    "the server reset the connection",
  );
  assert.equal(readProblem(new Error("other")), "Error: other");
});
