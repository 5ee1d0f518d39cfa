/**
 * The peer's TCP port: the server's transaction connections, served over
 * TLS (with this peer's certificate) while registered with a server that
 * agreed `auth`, over plain TCP otherwise. The listener is swapped on the
 * same port when that changes.
 *
 * Connections from any IP but the server's are closed at once. The others
 * are admitted in two stages, so that connections which never prove
 * themselves cannot fill the port:
 *
 * - **Pending**: accepted, not yet authenticated. Over TLS the handshake
 *   must end within {@linkcode TLS_HANDSHAKE_TIMEOUT_MS}. At most
 *   {@linkcode MAX_PENDING_TCP_CONNECTIONS} wait at once; a new one closes
 *   the oldest.
 * - **Authenticated**: over TLS, the first message carried the session's
 *   valid MAC; over plain TCP (a classic server), it parsed. At most
 *   {@linkcode MAX_TCP_CONNECTIONS} are served at once; the server holds at
 *   most 8 to one peer.
 *
 * A first message that fails is handed to the agent all the same (it
 * answers TX_CANCEL where it can, and closes the connection). Every
 * connection is closed after {@linkcode TCP_TIMEOUT_MS} without a message.
 * Connections are known to the agent by a number; events from one the agent
 * closed are dropped (see {@linkcode TcpServer.forgot}).
 *
 * @module
 */
import { describe, formatAddress, type Message } from "../protocol/mod.ts";
import { logger } from "../log/setup.ts";
import { FrameReader, writeMessage } from "../transport/tcp.ts";
import type { Clock } from "../shell/clock.ts";
import type { TcpSession } from "./guard.ts";
import { frameEvent, type TcpEvent } from "./tcp_frames.ts";
import { LimitedWarnings } from "./_warnings.ts";

/** The default of {@linkcode TcpServerOptions.timeoutMs}. */
export const TCP_TIMEOUT_MS = 30_000;
/** Most authenticated TCP connections served at once; more are closed at once. */
export const MAX_TCP_CONNECTIONS = 16;
/** The default of {@linkcode TcpServerOptions.handshakeTimeoutMs}. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
/** The default of {@linkcode TcpServerOptions.maxPending}. */
export const MAX_PENDING_TCP_CONNECTIONS = 32;
/** Most warnings a second about refused or dropped connections. */
const WARNINGS_PER_SECOND = 2;

const log = logger("peer");
const wire = logger("peer", "wire");

/** Options for {@linkcode TcpServer}. */
export interface TcpServerOptions {
  /** The address the listener is bound to (a swapped one binds it again). */
  readonly hostname: string;
  readonly clock: Clock;
  /** Whether a connection's remote IP is the server's. */
  readonly fromServer: (ip: string) => Promise<boolean>;
  /** The certificate chain and key served over TLS. */
  readonly certificates: { readonly chainPem: string; readonly keyPem: string };
  /** Opens the server's sealed messages on one TLS connection. */
  readonly session: () => TcpSession;
  /** Hands an event to the agent, after the ones before it. */
  readonly deliver: (event: TcpEvent) => void;
  /** Runs `task` once the events delivered so far have been handled. */
  readonly after: (task: () => void) => void;
  /** How long a connection may stay silent before it is closed. */
  readonly timeoutMs?: number;
  /** How long a TLS handshake may take before the connection is closed. */
  readonly handshakeTimeoutMs?: number;
  /** Most connections waiting to authenticate at once. */
  readonly maxPending?: number;
}

/** The listener and whether it serves TLS. */
interface Listening {
  readonly listener: Deno.Listener;
  readonly secure: boolean;
  readonly accepting: Promise<void>;
}

/** The TCP transaction port of a peer. */
export class TcpServer implements AsyncDisposable {
  readonly #options: TcpServerOptions;
  readonly #port: number;
  #listening: Listening | undefined;
  #closing = false;
  /** Connections not yet authenticated, oldest first. */
  readonly #pending = new Map<number, Deno.Conn>();
  /** Authenticated connections. */
  readonly #active = new Map<number, Deno.Conn>();
  /**
   * Connections the agent closed while their reader still runs: what was
   * read from them after that is dropped. (One the server closed still has
   * its last messages delivered, in order, before its close.)
   */
  readonly #forgotten = new Set<number>();
  readonly #serving = new Set<Promise<void>>();
  #lastConn = 0;
  readonly #warnings: LimitedWarnings;

  /** Serves plain TCP on `listener` until {@linkcode TcpServer.listen} says otherwise. */
  constructor(listener: Deno.Listener, options: TcpServerOptions) {
    this.#options = options;
    this.#port = (listener.addr as Deno.NetAddr).port;
    this.#warnings = new LimitedWarnings(log, {
      clock: options.clock,
      perSecond: WARNINGS_PER_SECOND,
    });
    this.#listening = { listener, secure: false, accepting: this.#accept(listener, false) };
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** Whether the port serves TLS now. */
  get secure(): boolean {
    return this.#listening?.secure ?? false;
  }

  /** How many connections wait to authenticate, and how many are authenticated. */
  get counts(): { pending: number; authenticated: number } {
    return { pending: this.#pending.size, authenticated: this.#active.size };
  }

  /**
   * Serves TLS or plain TCP from now on: the listener is swapped on the same
   * port (connections open already stay).
   *
   * @throws {Deno.errors.AddrInUse} And the like, when the port cannot be bound again.
   */
  async listen(secure: boolean): Promise<void> {
    if (this.#closing || this.#listening?.secure === secure) return;
    const { hostname } = this.#options;
    const port = this.#port;
    const previous = this.#listening;
    this.#listening = undefined;
    if (previous) {
      try {
        previous.listener.close();
      } catch {
        // Closed already.
      }
      // The port is free once the pending accept has ended.
      await previous.accepting;
    }
    if (this.#closing) return;
    const { chainPem, keyPem } = this.#options.certificates;
    const listener: Deno.Listener = secure
      ? Deno.listenTls({ transport: "tcp", hostname, port, cert: chainPem, key: keyPem })
      : Deno.listen({ transport: "tcp", hostname, port });
    this.#listening = { listener, secure, accepting: this.#accept(listener, secure) };
    log.debug("TCP port {port} serves {kind}", { port, kind: secure ? "TLS" : "plain TCP" });
  }

  /** Whether the agent closed connection `id` (so what was read from it is dropped). */
  forgot(id: number): boolean {
    return this.#forgotten.has(id);
  }

  /** Closes connection `id` for the agent: nothing read from it reaches the agent any more. */
  close(id: number): void {
    if (this.#has(id)) this.#forgotten.add(id);
    this.#closeConn(id);
  }

  /**
   * Writes a message to connection `id`: newline-framed for our server,
   * bare in one write for a classic one (which reads one recv).
   */
  async send(id: number, message: Message, options: { framed: boolean }): Promise<void> {
    const conn = this.#active.get(id) ?? this.#pending.get(id);
    if (!conn) {
      log.debug("Not sent on closed TCP connection {id}: {text}", { id, text: describe(message) });
      return;
    }
    wire.debug("send tcp {id} {text}", { id, text: describe(message) });
    try {
      await writeMessage(conn, message, options.framed);
    } catch (error) {
      log.warning("Cannot write to TCP connection {id}: {error}", { id, error: String(error) });
      if (!this.#has(id)) return;
      this.#closeConn(id);
      this.#options.deliver({
        kind: "tcp-closed",
        conn: id,
        cause: "error",
        at: this.#options.clock.now(),
      });
    }
  }

  #has(id: number): boolean {
    return this.#active.has(id) || this.#pending.has(id);
  }

  #closeConn(id: number): void {
    const conn = this.#active.get(id) ?? this.#pending.get(id);
    if (!conn) return;
    this.#active.delete(id);
    this.#pending.delete(id);
    closeQuietly(conn);
  }

  async #accept(listener: Deno.Listener, secure: boolean): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        // Closed: the peer stops, or the listener was swapped.
        if (this.#closing || this.#listening?.listener !== listener) break;
        if (error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors and the like: try again a little later.
        log.warning("Accepting a TCP connection failed: {error}", { error: String(error) });
        await new Promise<void>((resolve) => this.#options.clock.set(resolve, 100));
        continue;
      }
      const serving = this.#serve(conn, secure).catch((error) => {
        log.error("Serving a TCP connection failed: {error}", { error: String(error) });
      }).finally(() => this.#serving.delete(serving));
      this.#serving.add(serving);
    }
  }

  /** Admits one connection as pending, and reads it until it closes. */
  async #serve(conn: Deno.Conn, secure: boolean): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const from = formatAddress(remote);
    if (this.#closing) return closeQuietly(conn);
    if (!(await this.#options.fromServer(remote.hostname))) {
      this.#warnings.warn("Closed a TCP connection from {from}: only the server may connect", {
        from,
      });
      return closeQuietly(conn);
    }
    const id = ++this.#lastConn;
    const maxPending = this.#options.maxPending ?? MAX_PENDING_TCP_CONNECTIONS;
    for (const [oldest] of this.#pending) {
      if (this.#pending.size < maxPending) break;
      this.#warnings.warn(
        "Closed TCP connection {oldest}: {count} connections wait to authenticate",
        { oldest, count: this.#pending.size },
      );
      this.#closeConn(oldest);
    }
    this.#pending.set(id, conn);
    log.debug("TCP connection {id} from {from}{tls}", { id, from, tls: secure ? " (TLS)" : "" });
    try {
      if (secure && !(await this.#handshake(id, conn as Deno.TlsConn, from))) return;
      await this.#read(id, conn, from, secure);
    } finally {
      // After the events read from it, nothing more can come.
      this.#options.after(() => void this.#forgotten.delete(id));
    }
  }

  /** Waits for the TLS handshake; a connection that does not finish it in time is closed. */
  async #handshake(id: number, conn: Deno.TlsConn, from: string): Promise<boolean> {
    const { clock } = this.#options;
    const timeoutMs = this.#options.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS;
    const handshake = conn.handshake().then(() => "done" as const);
    // It may fail after the timeout has already closed the connection.
    handshake.catch(() => {});
    let timer: unknown;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = clock.set(() => resolve("timeout"), timeoutMs);
    });
    let problem: string;
    try {
      const result = await Promise.race([handshake, timeout]);
      if (result === "done") return this.#has(id);
      problem = `no TLS handshake within ${timeoutMs} ms`;
    } catch (error) {
      problem = `the TLS handshake failed: ${String(error)}`;
    } finally {
      clock.clear(timer);
    }
    // Closed on our side already (the peer stops, or it was the oldest pending).
    if (!this.#has(id)) return false;
    this.#warnings.warn("Closed TCP connection {id} from {from}: {problem}", { id, from, problem });
    // The agent never heard of it: nothing to tell.
    this.#closeConn(id);
    return false;
  }

  async #read(id: number, conn: Deno.Conn, from: string, secure: boolean): Promise<void> {
    const { clock, deliver } = this.#options;
    const reader = new FrameReader(conn);
    const session = secure ? this.#options.session() : undefined;
    const timeoutMs = this.#options.timeoutMs ?? TCP_TIMEOUT_MS;
    while (this.#has(id)) {
      let frame;
      // A timer of our own rather than AbortSignal.timeout: it is cleared
      // as soon as the read ends, so none outlives the connection.
      const timeout = new AbortController();
      const timer = clock.set(
        () => timeout.abort(new DOMException("The read timed out", "TimeoutError")),
        timeoutMs,
      );
      try {
        frame = await reader.read({ signal: timeout.signal });
      } catch (error) {
        if (!this.#has(id)) return; // closed on our side
        const timedOut = error instanceof DOMException && error.name === "TimeoutError";
        const problem = timedOut ? `nothing came for ${timeoutMs} ms` : readProblem(error);
        const fields = { id, from, problem };
        // Only an authenticated connection's end always deserves a warning.
        if (this.#active.has(id)) log.warning("TCP connection {id} from {from}: {problem}", fields);
        else this.#warnings.warn("TCP connection {id} from {from}: {problem}", fields);
        this.#closeConn(id);
        deliver({
          kind: "tcp-closed",
          conn: id,
          cause: timedOut ? "timeout" : "error",
          at: clock.now(),
        });
        return;
      } finally {
        clock.clear(timer);
      }
      if (frame === undefined) {
        log.debug("TCP connection {id} from {from} closed by the server", { id, from });
        this.#closeConn(id);
        deliver({ kind: "tcp-closed", conn: id, cause: "remote", at: clock.now() });
        return;
      }
      const { event, authentic } = frameEvent(id, frame, { session, at: clock.now() });
      if (event.kind === "tcp-unauthenticated") {
        this.#warnings.warn(
          "TCP connection {id} from {from}: a message without a valid MAC ({why})",
          { id, from, why: event.why },
        );
      } else if (event.kind === "tcp") {
        wire.debug("recv tcp {from} {text}", { from, text: describe(event.message) });
      }
      if (this.#pending.has(id) && authentic && !this.#authenticate(id, conn, from)) return;
      deliver(event);
    }
  }

  /** Counts a pending connection as authenticated, if a slot is free; else closes it. */
  #authenticate(id: number, conn: Deno.Conn, from: string): boolean {
    if (this.#active.size >= MAX_TCP_CONNECTIONS) {
      log.warning("Closed TCP connection {id} from {from}: {count} are open already", {
        id,
        from,
        count: this.#active.size,
      });
      this.#closeConn(id);
      return false;
    }
    this.#pending.delete(id);
    this.#active.set(id, conn);
    return true;
  }

  /** Stops listening and closes every connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listening = this.#listening;
    try {
      listening?.listener.close();
    } catch {
      // Closed already.
    }
    for (const id of [...this.#active.keys(), ...this.#pending.keys()]) this.#closeConn(id);
    await Promise.allSettled([listening?.accepting, ...this.#serving]);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/**
 * Why reading a connection failed, in words: a TLS connection the server
 * dropped without closing it (it stopped, or crashed) is said so, rather
 * than with the TLS library's message and link.
 */
export function readProblem(error: unknown): string {
  const text = String(error);
  if (/UnexpectedEof|close_notify/.test(text)) {
    return "the server closed the connection without ending TLS (it may have stopped)";
  }
  if (error instanceof Deno.errors.ConnectionReset) return "the server reset the connection";
  return text;
}
