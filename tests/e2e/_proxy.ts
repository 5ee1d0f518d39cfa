/**
 * A fault-injecting UDP proxy for tests: it sits between peers and the
 * server on 127.0.0.1 and drops, duplicates, reorders and delays datagrams,
 * with every decision drawn from a seeded generator so a run replays from
 * its seed.
 *
 * Peers are pointed at the proxy (`--server 127.0.0.1:<proxy.port>`). The
 * proxy receives on one front socket and gives each distinct peer source
 * address its own back socket toward the server, so the server sees one
 * source port per peer and its replies to that port come back to that peer,
 * from the front socket.
 *
 * Which traffic goes through the faults:
 * - peer to server: always;
 * - server to peer, replies to the datagram's source (the back socket):
 *   always;
 * - server to peer, unsolicited messages (SEARCH, FOUND, ...): the server
 *   writes those to `<source IP>:<UDP port announced in REGISTER>`, which is
 *   the peer's own socket and would bypass the proxy. With
 *   `rewriteRegister` (the default) the proxy replaces the `udpPort` field
 *   of a REGISTER by the back socket's port, when that field is exactly the
 *   peer's source port, so these messages also come to the back socket and
 *   through the faults. Every other byte of the datagram is kept, trailing
 *   extension words included.
 *
 * Not proxied: the TCP leg (the server connects to the announced TCP port
 * directly), and datagrams a peer sends to another peer.
 *
 * @example
 * ```ts
 * await using proxy = await FaultyProxy.start({
 *   server: { hostname: "127.0.0.1", port: server.port },
 *   seed: 42,
 *   toServer: { drop: 0.2 },
 *   toPeer: { duplicate: 0.1, delayMs: [0, 30] },
 * });
 * await using alice = await PeerProcess.start("alice", proxy.port, dir.path);
 * ```
 *
 * @module
 */
import { Random } from "./_random.ts";

/** Which way a datagram travels through the proxy. */
export type Direction = "toServer" | "toPeer";

/** The faults applied to one direction; all probabilities are in [0, 1]. */
export interface Faults {
  /** Probability that a datagram is dropped. */
  readonly drop?: number;
  /** Probability that a datagram is sent twice. */
  readonly duplicate?: number;
  /**
   * Probability that a datagram is held back and sent after the next
   * datagram of the same peer in the same direction, or after `reorderMs`
   * if none comes.
   */
  readonly reorder?: number;
  /** How long a held-back datagram waits at most, in ms (default 50). */
  readonly reorderMs?: number;
  /** Extra delay drawn uniformly from `[min, max]` ms for each datagram. */
  readonly delayMs?: readonly [number, number];
}

/** What happened to the datagrams of one direction. */
export interface DirectionStats {
  /** Datagrams that reached the proxy. */
  received: number;
  /** Datagrams sent on, duplicate copies included. */
  forwarded: number;
  /** Datagrams dropped by the `drop` fault. */
  dropped: number;
  /** Extra copies sent by the `duplicate` fault. */
  duplicated: number;
  /** Held-back datagrams that were overtaken by a later one. */
  reordered: number;
  /** Datagrams (or copies) given an extra delay above 0 ms. */
  delayed: number;
  /** Datagrams discarded because a bound was reached (peers, queues). */
  overflowed: number;
}

/** Counters for both directions, and how many peers have a back socket. */
export interface ProxyStats {
  readonly toServer: DirectionStats;
  readonly toPeer: DirectionStats;
  readonly peers: number;
}

/** Options for {@linkcode FaultyProxy.start}. */
export interface FaultyProxyOptions {
  /** Where the server listens. */
  readonly server: { readonly hostname: string; readonly port: number };
  /** Seed of every fault decision; the same seed replays the same decisions. */
  readonly seed: number;
  /** Faults on datagrams from peers to the server (default none). */
  readonly toServer?: Faults;
  /** Faults on datagrams from the server to peers (default none). */
  readonly toPeer?: Faults;
  /** Rewrite REGISTER's `udpPort` to the back socket's port (default true). */
  readonly rewriteRegister?: boolean;
  /** Address the front and back sockets bind (default `127.0.0.1`). */
  readonly hostname?: string;
  /** Most peers given a back socket; datagrams from more are discarded (default 256). */
  readonly maxPeers?: number;
  /** Most datagrams delayed, held back or being sent at once (default 4096). */
  readonly maxPending?: number;
}

type Timer = ReturnType<typeof setTimeout>;

interface Held {
  readonly data: Uint8Array;
  readonly timer: Timer;
}

interface Route {
  readonly peer: Deno.NetAddr;
  readonly back: Deno.DatagramConn;
  readonly backPort: number;
  readonly outbox: Outbox;
  readonly held: { toServer?: Held; toPeer?: Held };
  loop?: Promise<void>;
}

/** Sends on one socket in call order, one send at a time. */
class Outbox {
  readonly #socket: Deno.DatagramConn;
  #chain: Promise<void> = Promise.resolve();

  constructor(socket: Deno.DatagramConn) {
    this.#socket = socket;
  }

  push(data: Uint8Array, to: Deno.NetAddr, done: () => void): void {
    this.#chain = this.#chain
      .then(() => this.#socket.send(data, to))
      // A send can fail once the socket is closed or the target is gone:
      // to the proxy that is one more lost datagram, as on a real network.
      .then(() => {}, () => {})
      .finally(done);
  }

  drained(): Promise<void> {
    return this.#chain;
  }
}

const NO_FAULTS: Faults = {};
const DEFAULT_REORDER_MS = 50;
const REWRITE_SCAN_BYTES = 2048;
// Mirrors the codec: words are split at spaces, empty words ignored. The
// udpPort word must be followed by a tcpPort word.
const REGISTER_UDP_PORT = /^( *REGISTER +[^ ]+ +[^ ]+ +[^ ]+ +)([^ ]+)(?= +[^ ])/;

function emptyStats(): DirectionStats {
  return {
    received: 0,
    forwarded: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    overflowed: 0,
  };
}

function checkFaults(direction: Direction, faults: Faults): Faults {
  for (const key of ["drop", "duplicate", "reorder"] as const) {
    const value = faults[key];
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw new RangeError(
        `Cannot use ${direction}.${key} "${value}": expected a probability from 0 to 1`,
      );
    }
  }
  const reorderMs = faults.reorderMs;
  if (reorderMs !== undefined && !(reorderMs >= 0 && Number.isFinite(reorderMs))) {
    throw new RangeError(
      `Cannot use ${direction}.reorderMs "${reorderMs}": expected a number of ms of 0 or more`,
    );
  }
  if (faults.delayMs !== undefined) {
    const [min, max] = faults.delayMs;
    if (!(min >= 0 && max >= min && Number.isFinite(max))) {
      throw new RangeError(
        `Cannot use ${direction}.delayMs "[${min}, ${max}]": expected [min, max] ms with 0 <= min <= max`,
      );
    }
  }
  return { ...faults };
}

function isClosedError(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

/**
 * Replaces the `udpPort` field of a REGISTER datagram by `to`, if that field
 * is exactly `from`; every other byte is kept.
 *
 * @param data The datagram as received.
 * @param from The port the field must hold (the peer's source port).
 * @param to The port to write instead (the back socket's port).
 * @returns The rewritten datagram, or `data` itself when nothing matched.
 */
export function rewriteRegister(data: Uint8Array, from: number, to: number): Uint8Array {
  // One char per byte, so indices in the text are indices in the bytes and
  // bytes that are not UTF-8 survive untouched.
  let head = "";
  for (const byte of data.subarray(0, REWRITE_SCAN_BYTES)) head += String.fromCharCode(byte);
  const match = head.match(REGISTER_UDP_PORT);
  if (!match || match[2] !== String(from)) return data;
  const start = match[1]!.length;
  const end = start + match[2].length;
  const port = new TextEncoder().encode(String(to));
  const out = new Uint8Array(data.length - (end - start) + port.length);
  out.set(data.subarray(0, start), 0);
  out.set(port, start);
  out.set(data.subarray(end), start + port.length);
  return out;
}

/** Most datagrams {@linkcode FaultyProxy.sentToServer} keeps. */
const MAX_CAPTURED = 10_000;

/**
 * A UDP proxy between peers and a server that injects seeded faults in both
 * directions. Hold it with `await using`.
 */

export class FaultyProxy implements AsyncDisposable {
  readonly #front: Deno.DatagramConn;
  readonly #frontOutbox: Outbox;
  readonly #server: Deno.NetAddr;
  readonly #hostname: string;
  readonly #rewrite: boolean;
  readonly #maxPeers: number;
  readonly #maxPending: number;
  readonly #routes = new Map<string, Route>();
  readonly #timers = new Set<Timer>();
  readonly #random: Record<Direction, Random>;
  readonly #faults: Record<Direction, Faults>;
  readonly #stats: Record<Direction, DirectionStats> = {
    toServer: emptyStats(),
    toPeer: emptyStats(),
  };
  #pending = 0;
  #closed = false;
  #frontLoop: Promise<void> | undefined;
  /**
   * The last datagrams forwarded to the server, oldest first, with the
   * peer's port: a capture an attacker on the path could make, for
   * {@linkcode FaultyProxy.replayToServer}.
   */
  readonly sentToServer: { readonly data: Uint8Array; readonly peerPort: number }[] = [];

  private constructor(options: FaultyProxyOptions) {
    if (!Number.isInteger(options.seed)) {
      throw new TypeError(`Cannot use seed "${options.seed}": expected an integer`);
    }
    this.#faults = {
      toServer: checkFaults("toServer", options.toServer ?? NO_FAULTS),
      toPeer: checkFaults("toPeer", options.toPeer ?? NO_FAULTS),
    };
    // Two independent streams, so the traffic of one direction never shifts
    // the decisions of the other.
    const root = new Random(options.seed);
    this.#random = {
      toServer: new Random(root.int(0, 0xffffffff)),
      toPeer: new Random(root.int(0, 0xffffffff)),
    };
    this.#server = { transport: "udp", ...options.server };
    this.#hostname = options.hostname ?? "127.0.0.1";
    this.#rewrite = options.rewriteRegister ?? true;
    this.#maxPeers = options.maxPeers ?? 256;
    this.#maxPending = options.maxPending ?? 4096;
    this.#front = Deno.listenDatagram({ transport: "udp", hostname: this.#hostname, port: 0 });
    this.#frontOutbox = new Outbox(this.#front);
  }

  /**
   * Binds the front socket on a free port and starts forwarding.
   *
   * @param options The server's address, the seed and the faults.
   * @returns The running proxy; peers use `127.0.0.1:<proxy.port>` as server.
   * @throws {RangeError} If a fault is out of range.
   */
  static start(options: FaultyProxyOptions): Promise<FaultyProxy> {
    try {
      const proxy = new FaultyProxy(options);
      proxy.#frontLoop = proxy.#receiveFront();
      return Promise.resolve(proxy);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The front socket's port, which peers use as the server's. */
  get port(): number {
    return (this.#front.addr as Deno.NetAddr).port;
  }

  /** A snapshot of the counters of both directions. */
  get stats(): ProxyStats {
    return {
      toServer: { ...this.#stats.toServer },
      toPeer: { ...this.#stats.toPeer },
      peers: this.#routes.size,
    };
  }

  /**
   * The port of the back socket the server sees for a peer, once the peer
   * has sent a datagram through the proxy.
   *
   * @param peerPort The peer's source port on the proxy's hostname.
   */
  backPort(peerPort: number, peerHostname = this.#hostname): number | undefined {
    return this.#routes.get(`${peerHostname}:${peerPort}`)?.backPort;
  }

  /**
   * Replaces the faults of one direction from the next datagram on (for
   * example none while peers register, then some). Datagrams already
   * delayed or held back keep their fate.
   *
   * @throws {RangeError} If a fault is out of range.
   */
  setFaults(direction: Direction, faults: Faults): void {
    this.#faults[direction] = checkFaults(direction, faults);
  }

  async #receiveFront(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [bytes, addr] = await this.#front.receive();
        data = bytes;
        from = addr as Deno.NetAddr;
      } catch (error) {
        if (this.#closed || isClosedError(error)) return;
        continue;
      }
      const route = this.#route(from);
      if (!route) {
        this.#stats.toServer.received++;
        this.#stats.toServer.overflowed++;
        continue;
      }
      if (this.#rewrite) data = rewriteRegister(data, from.port, route.backPort);
      this.#process("toServer", route, data);
    }
  }

  async #receiveBack(route: Route): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array;
      try {
        [data] = await route.back.receive();
      } catch (error) {
        if (this.#closed || isClosedError(error)) return;
        continue;
      }
      this.#process("toPeer", route, data);
    }
  }

  #route(from: Deno.NetAddr): Route | undefined {
    const key = `${from.hostname}:${from.port}`;
    const known = this.#routes.get(key);
    if (known || this.#routes.size >= this.#maxPeers) return known;
    const back = Deno.listenDatagram({ transport: "udp", hostname: this.#hostname, port: 0 });
    const route: Route = {
      peer: { transport: "udp", hostname: from.hostname, port: from.port },
      back,
      backPort: (back.addr as Deno.NetAddr).port,
      outbox: new Outbox(back),
      held: {},
    };
    this.#routes.set(key, route);
    route.loop = this.#receiveBack(route);
    return route;
  }

  #process(direction: Direction, route: Route, data: Uint8Array): void {
    const stats = this.#stats[direction];
    const faults = this.#faults[direction];
    const random = this.#random[direction];
    stats.received++;
    // Always five draws per datagram, whatever the faults, so changing one
    // fault does not shift the decisions of the others.
    const dropRoll = random.next();
    const duplicateRoll = random.next();
    const reorderRoll = random.next();
    const delayRoll = random.next();
    const copyDelayRoll = random.next();
    if (dropRoll < (faults.drop ?? 0)) {
      stats.dropped++;
      return;
    }
    const reorder = reorderRoll < (faults.reorder ?? 0);
    this.#schedule(direction, route, data, reorder, this.#delay(faults, delayRoll));
    if (duplicateRoll < (faults.duplicate ?? 0)) {
      stats.duplicated++;
      this.#schedule(direction, route, data, false, this.#delay(faults, copyDelayRoll));
    }
  }

  #delay(faults: Faults, roll: number): number {
    if (!faults.delayMs) return 0;
    const [min, max] = faults.delayMs;
    return min + roll * (max - min);
  }

  #schedule(
    direction: Direction,
    route: Route,
    data: Uint8Array,
    reorder: boolean,
    delayMs: number,
  ): void {
    if (delayMs <= 0) return this.#emit(direction, route, data, reorder);
    const stats = this.#stats[direction];
    if (!this.#reserve(stats)) return;
    stats.delayed++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#pending--;
      this.#emit(direction, route, data, reorder);
    }, delayMs);
    this.#timers.add(timer);
  }

  #emit(direction: Direction, route: Route, data: Uint8Array, reorder: boolean): void {
    if (this.#closed) return;
    const held = route.held[direction];
    if (reorder && !held && this.#reserve(this.#stats[direction])) {
      const faults = this.#faults[direction];
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#pending--;
        route.held[direction] = undefined;
        this.#send(direction, route, data);
      }, faults.reorderMs ?? DEFAULT_REORDER_MS);
      this.#timers.add(timer);
      route.held[direction] = { data, timer };
      return;
    }
    this.#send(direction, route, data);
    if (held) {
      clearTimeout(held.timer);
      this.#timers.delete(held.timer);
      this.#pending--;
      route.held[direction] = undefined;
      this.#stats[direction].reordered++;
      this.#send(direction, route, held.data);
    }
  }

  #send(direction: Direction, route: Route, data: Uint8Array): void {
    const stats = this.#stats[direction];
    if (this.#closed || !this.#reserve(stats)) return;
    stats.forwarded++;
    const done = () => this.#pending--;
    if (direction === "toServer") {
      this.sentToServer.push({ data, peerPort: route.peer.port });
      if (this.sentToServer.length > MAX_CAPTURED) this.sentToServer.shift();
      route.outbox.push(data, this.#server, done);
    } else this.#frontOutbox.push(data, route.peer, done);
  }

  /**
   * Sends a captured datagram to the server again, from the same back
   * socket it first came from: a replay from the very same address.
   */
  replayToServer(captured: { readonly data: Uint8Array; readonly peerPort: number }): void {
    const route = this.#routes.get(`${this.#hostname}:${captured.peerPort}`);
    if (!route) throw new RangeError(`No route for peer port ${captured.peerPort}`);
    this.#pending++;
    route.outbox.push(captured.data, this.#server, () => this.#pending--);
  }

  /** Counts one more pending datagram, or the overflow if at the bound. */
  #reserve(stats: DirectionStats): boolean {
    if (this.#pending >= this.#maxPending) {
      stats.overflowed++;
      return false;
    }
    this.#pending++;
    return true;
  }

  /** Closes every socket and cancels every delayed or held-back datagram. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    // Let sends already handed to a socket finish before closing it.
    await Promise.all([
      this.#frontOutbox.drained(),
      ...[...this.#routes.values()].map((route) => route.outbox.drained()),
    ]);
    this.#front.close();
    for (const route of this.#routes.values()) route.back.close();
    await Promise.all([
      this.#frontLoop,
      ...[...this.#routes.values()].map((route) => route.loop),
    ]);
  }
}
