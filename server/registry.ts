/**
 * The registered peers and how to reach them: by name, by the address
 * their datagrams come from, where to send to, and which extensions each
 * speaks.
 *
 * A stored {@linkcode RegisteredPeer} keeps its extensions as words; the
 * registry turns them into an {@linkcode ExtensionSet} once, at
 * registration, and shares one set among the peers that agreed the same
 * words, so a check per datagram costs a map lookup and nothing else.
 *
 * @module
 */
import { type Address, formatAddress, type MessageOf } from "../protocol/mod.ts";
import { type Extension, ExtensionSet } from "../protocol/extensions.ts";
import type { RegisteredPeer } from "./records.ts";

/** The registered peers, indexed. */
export class Registry {
  readonly #byName = new Map<string, RegisteredPeer>();
  /** `host:port` of a peer's socket and of its announced UDP port → its name. */
  readonly #bySource = new Map<string, string>();
  /** The extensions of peers that agreed some; absent means none. */
  readonly #extensions = new Map<string, ExtensionSet>();
  /** One set per distinct list of words. */
  readonly #sets = new Map<string, ExtensionSet>();
  /** Names held per IP, and how many of them are classic. */
  readonly #perHost = new Map<string, { all: number; classic: number }>();
  /** Names held per key. */
  readonly #perKey = new Map<string, number>();
  /** Peers that do not speak `book` (classic ones, older ones of ours): SEARCH asks them. */
  readonly #unlisted = new Set<string>();

  /** How many peers are registered. */
  get size(): number {
    return this.#byName.size;
  }

  /** The peer registered under `name`. */
  get(name: string): RegisteredPeer | undefined {
    return this.#byName.get(name);
  }

  /** Whether `name` is registered. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Every registered peer, in the order they registered. */
  values(): IterableIterator<RegisteredPeer> {
    return this.#byName.values();
  }

  /** The peers a search asks with SEARCH: those that cannot list (no `book`). */
  unlisted(): IterableIterator<string> {
    return this.#unlisted.values();
  }

  /** The name of the peer whose datagrams come from `from`, if any. */
  nameAt(from: Address): string | undefined {
    return this.#bySource.get(formatAddress(from));
  }

  /** Whether `from` is a registered peer's address. */
  knows(from: Address): boolean {
    return this.#bySource.has(formatAddress(from));
  }

  /** Adds (or, under the same name, replaces the index entries of) a peer. */
  add(peer: RegisteredPeer): void {
    const previous = this.#byName.get(peer.name);
    if (previous) this.#count(previous, -1);
    this.#byName.set(peer.name, peer);
    this.#count(peer, 1);
    this.#bySource.set(formatAddress(peer.source), peer.name);
    if (!isOurs(peer)) {
      // A classic peer listens on the port it announced, which proves
      // nothing: it never takes that address from another peer.
      const announced = formatAddress({ hostname: peer.source.hostname, port: peer.udpPort });
      if (!this.#bySource.has(announced)) this.#bySource.set(announced, peer.name);
    }
    const words = peer.extensions;
    if (words && words.length > 0) this.#extensions.set(peer.name, this.#intern(words));
    else this.#extensions.delete(peer.name);
    if (this.speaks(peer.name, "book")) this.#unlisted.delete(peer.name);
    else this.#unlisted.add(peer.name);
  }

  /** Removes a peer; addresses another peer took over since stay with that one. */
  remove(peer: RegisteredPeer): void {
    const held = this.#byName.get(peer.name);
    if (held) this.#count(held, -1);
    this.#byName.delete(peer.name);
    this.#extensions.delete(peer.name);
    this.#unlisted.delete(peer.name);
    for (const port of [peer.source.port, peer.udpPort]) {
      const key = formatAddress({ hostname: peer.source.hostname, port });
      if (this.#bySource.get(key) === peer.name) this.#bySource.delete(key);
    }
  }

  /**
   * Whether a datagram comes from `peer` ({@linkcode isFrom}), or, for a
   * classic peer, from another port of its IP that no registered peer
   * holds: some classic clients send each request from a fresh socket and
   * listen on the port they announced. A classic peer proves no more than
   * its IP anyway.
   */
  sentBy(peer: RegisteredPeer, from: Address, authenticated: string | undefined): boolean {
    if (isFrom(peer, from, authenticated)) return true;
    return !peer.auth && !isOurs(peer) && peer.source.hostname === from.hostname &&
      !this.#bySource.has(formatAddress(from));
  }

  /** How many names `host` holds, and how many of them are classic. */
  namesAt(host: string): { readonly all: number; readonly classic: number } {
    return this.#perHost.get(host) ?? { all: 0, classic: 0 };
  }

  /** How many names `key` holds. */
  namesOfKey(key: string): number {
    return this.#perKey.get(key) ?? 0;
  }

  #count(peer: RegisteredPeer, change: 1 | -1): void {
    const host = peer.source.hostname;
    const held = this.#perHost.get(host) ?? { all: 0, classic: 0 };
    held.all += change;
    if (!peer.auth) held.classic += change;
    if (held.all <= 0) this.#perHost.delete(host);
    else this.#perHost.set(host, held);
    const key = peer.auth?.key;
    if (key === undefined) return;
    const names = (this.#perKey.get(key) ?? 0) + change;
    if (names <= 0) this.#perKey.delete(key);
    else this.#perKey.set(key, names);
  }

  /** The extensions `name` agreed at registration (none for classic peers and strangers). */
  extensions(name: string): ExtensionSet {
    return this.#extensions.get(name) ?? ExtensionSet.NONE;
  }

  /** Whether the peer registered as `name` speaks `extension`. */
  speaks(name: string, extension: Extension): boolean {
    return this.#extensions.get(name)?.has(extension) ?? false;
  }

  #intern(words: readonly string[]): ExtensionSet {
    const key = words.join(" ");
    let set = this.#sets.get(key);
    if (!set) this.#sets.set(key, set = ExtensionSet.from(words));
    return set;
  }
}

/** Whether a peer is one of ours (it offered extensions), not a classic one. */
export function isOurs(peer: RegisteredPeer): boolean {
  return peer.extensions !== undefined;
}

/**
 * Where to send a peer's datagrams. Classic peers listen on the UDP port
 * they announced; our peers send from the socket they listen on, so their
 * source address is the one to use, and it also holds behind address
 * translation.
 */
export function addressOf(peer: RegisteredPeer): Address {
  return isOurs(peer) ? peer.source : { hostname: peer.source.hostname, port: peer.udpPort };
}

/** The port of {@linkcode addressOf}, without making an address (its host is the source's). */
export function sendPort(peer: RegisteredPeer): number {
  return isOurs(peer) ? peer.source.port : peer.udpPort;
}

/**
 * Whether a datagram comes from a registered peer: for our authenticated
 * peers, its session key vouched for it; for the others, its IP and either
 * the port it registered from or its announced UDP port.
 */
export function isFrom(
  peer: RegisteredPeer,
  from: Address,
  authenticated: string | undefined,
): boolean {
  if (peer.auth) return authenticated === peer.name;
  return peer.source.hostname === from.hostname &&
    (peer.source.port === from.port || peer.udpPort === from.port);
}

/** Whether a REGISTER repeats the one a peer registered with, from the same address. */
export function sameRegistration(
  peer: RegisteredPeer,
  message: MessageOf<"REGISTER">,
  from: Address,
): boolean {
  return peer.ip === message.ip && peer.udpPort === message.udpPort &&
    peer.tcpPort === message.tcpPort &&
    peer.source.hostname === from.hostname && peer.source.port === from.port;
}
