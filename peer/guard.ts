/**
 * The peer's side of the security handshake, used by its shell: this
 * peer's identity and TLS certificates, the signed REGISTER, the check of
 * the server's signed REGISTERED against the pinned key, and the MAC
 * channel every later datagram (and the server's TCP messages) goes
 * through. All the crypto is here, async; the agent stays pure and is told
 * only what was verified.
 *
 * @module
 */
import {
  type Address,
  decode,
  type DecodeError,
  encode,
  formatAddress,
  MAX_MESSAGE_BYTES,
  type Message,
  Rq,
} from "../protocol/mod.ts";
import { type PeerCertificates, peerCertificates } from "../security/certificates.ts";
import {
  Channel,
  deriveSession,
  type Ephemeral,
  ephemeral,
  type SessionKeys,
} from "../security/channel.ts";
import { fromBase64Url } from "../security/encoding.ts";
import { MAX_CLOCK_SKEW_MS, replySigningText, splitSigned, tokens } from "../security/handshake.ts";
import {
  createIdentity,
  fingerprint,
  type Identity,
  loadIdentity,
  sign,
  verify,
} from "../security/identity.ts";
import { ExtensionSet } from "../protocol/extensions.ts";
import { type Clock, systemClock } from "../shell/clock.ts";
import type { KeyInfo } from "./agent.ts";
import type { PeerStore } from "./store.ts";

/** What came of one datagram from the server's address. */
export type Incoming =
  | {
    readonly kind: "message";
    readonly message: Message;
    /** For a REGISTERED whose signature was verified: the server's key. */
    readonly serverKey?: KeyInfo;
  }
  | { readonly kind: "invalid"; readonly error: DecodeError }
  /** Not acted on: logged only. */
  | { readonly kind: "dropped"; readonly why: string }
  /** An answer to REGISTER the peer must not accept: the agent is told why. */
  | { readonly kind: "refused"; readonly rq: string; readonly reason: string };

/** Options for {@linkcode PeerGuard.open}. */
export interface PeerGuardOptions {
  readonly name: string;
  /** The server's UDP address: pins and sessions are per server. */
  readonly server: Address;
  /** The addresses the server may reach the TCP port at (the certificate names them). */
  readonly ips: readonly string[];
  /** The server's key given with `--server-key`: any other is refused. */
  readonly serverKey?: string;
  /** The clock for REGISTER timestamps, pins and the skew check (the system's by default). */
  readonly clock?: Clock;
}

interface Handshake {
  readonly text: string;
  readonly ephemeral: Ephemeral;
  readonly ts: number;
  readonly sig: string;
}

/** How many signed REGISTERs are remembered for their answers. */
const MAX_HANDSHAKES = 16;
/** How many sequence numbers of accepted datagrams are remembered against replays on TCP. */
const MAX_SEEN = 4096;
const SEQ = / mac=([0-9]{1,16})\.[A-Za-z0-9_-]{22}\r?\n?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const bytes = new TextEncoder();

/**
 * Checks the text of a `--server-key` value: the base64url of a raw P-256
 * public key.
 *
 * @throws {TypeError} If it is not one.
 */
export function parseServerKey(text: string): string {
  let raw: Uint8Array | undefined;
  try {
    raw = fromBase64Url(text);
  } catch {
    raw = undefined;
  }
  if (raw?.length !== 65 || raw[0] !== 4) {
    throw new TypeError(
      `Cannot use server key ${JSON.stringify(text.slice(0, 24))}: expected the server's ` +
        "public key, 87 base64url characters (the server's operator can print it)",
    );
  }
  return text;
}

/** The peer's keys, pins and session. */
export class PeerGuard {
  readonly #identity: Identity;
  readonly #store: PeerStore;
  readonly #server: string;
  /** This peer's key, for the agent. */
  readonly key: KeyInfo;
  /** The TLS listener's certificate chain and key, and the authority the server pins. */
  readonly certificates: PeerCertificates;
  #expected: KeyInfo | undefined;
  readonly #given: boolean;
  /** The key stored as pinned for this server, if any. */
  #pinned: string | undefined;
  #channel: Channel | undefined;
  #sessionKeys: SessionKeys | undefined;
  /** Sequence numbers of the server's datagrams accepted lately, oldest first. */
  readonly #seen = new Set<string>();
  readonly #handshakes = new Map<string, Handshake>();
  readonly #clock: Clock;

  private constructor(
    identity: Identity,
    store: PeerStore,
    options: {
      server: string;
      key: KeyInfo;
      certificates: PeerCertificates;
      expected?: KeyInfo;
      given: boolean;
      pinned?: string;
      clock: Clock;
    },
  ) {
    this.#clock = options.clock;
    this.#identity = identity;
    this.#store = store;
    this.#server = options.server;
    this.key = options.key;
    this.certificates = options.certificates;
    this.#expected = options.expected;
    this.#given = options.given;
    this.#pinned = options.pinned;
  }

  /**
   * Loads this peer's identity (making it on first start), makes its TLS
   * certificates, and restores the pinned server key and the last session.
   */
  static async open(store: PeerStore, options: PeerGuardOptions): Promise<PeerGuard> {
    let stored = await store.identity();
    if (!stored) {
      const made = await createIdentity();
      // Another process may have stored one meanwhile: the stored one wins.
      if (!await store.saveIdentity(made.stored)) stored = await store.identity();
      stored ??= made.stored;
    }
    const identity = await loadIdentity(stored);
    const key = { key: identity.publicText, fingerprint: await fingerprint(identity.publicText) };
    const certificates = await peerCertificates(identity, options.name, options.ips);
    const server = formatAddress(options.server);
    const pinned = await store.pinnedKey(server);
    const given = options.serverKey;
    const expected = given === undefined
      ? pinned && { key: pinned.key, fingerprint: pinned.fingerprint }
      : { key: given, fingerprint: await fingerprint(given) };
    const guard = new PeerGuard(identity, store, {
      server,
      key,
      certificates,
      expected,
      given: given !== undefined,
      ...(pinned ? { pinned: pinned.key } : {}),
      clock: options.clock ?? systemClock,
    });
    const session = await store.session();
    if (session?.server === server && session.serverKey === expected?.key) {
      guard.#useSession(session.keys);
    }
    return guard;
  }

  /** The server key expected: given with `--server-key`, or pinned. */
  get serverKey(): KeyInfo | undefined {
    return this.#expected;
  }

  /** Whether the expected key came from `--server-key`. */
  get serverKeyGiven(): boolean {
    return this.#given;
  }

  /** Whether datagrams are sealed (an authenticated session exists). */
  get sealing(): boolean {
    return this.#channel !== undefined;
  }

  /**
   * The text to send for a message: a REGISTER offering `auth` signed (the
   * same text for every send of one RQ#), anything else sealed with the
   * session's MAC once there is one.
   *
   * @throws {RangeError} If a signed REGISTER would not fit in a datagram.
   */
  async outgoing(message: Message): Promise<string> {
    if (message.type === "REGISTER") {
      if (!message.extensions || !ExtensionSet.from(message.extensions).has("auth")) {
        return encode(message);
      }
      const known = this.#handshakes.get(message.rq);
      if (known) return known.text;
      const own = await ephemeral();
      const ts = this.#clock.now();
      const body = encode({
        ...message,
        extensions: [
          ...message.extensions,
          `key=${this.#identity.publicText}`,
          `dh=${own.publicText}`,
          `ca=${this.certificates.caText}`,
          `ts=${ts}`,
        ],
      });
      const sig = await sign(this.#identity, body);
      const text = `${body} sig=${sig}`;
      const size = bytes.encode(text).length;
      if (size > MAX_MESSAGE_BYTES) {
        throw new RangeError(
          `The signed REGISTER takes ${size} bytes, over the limit of ${MAX_MESSAGE_BYTES}: use a shorter name`,
        );
      }
      this.#handshakes.set(message.rq, { text, ephemeral: own, ts, sig });
      if (this.#handshakes.size > MAX_HANDSHAKES) {
        this.#handshakes.delete(this.#handshakes.keys().next().value!);
      }
      return text;
    }
    const text = encode(message);
    return this.#channel?.seal(text) ?? text;
  }

  /**
   * Checks a datagram from the server's address. Once a session exists,
   * only sealed datagrams pass, besides a signed REGISTERED and the answers
   * the server cannot seal (see {@linkcode awaits}).
   *
   * @param awaits Whether an unsealed message answers a request of ours
   *   that the server answers without its MAC.
   */
  async incoming(
    data: Uint8Array,
    awaits: (message: Message) => boolean,
  ): Promise<Incoming> {
    let text: string;
    try {
      text = utf8.decode(data);
    } catch {
      if (this.#channel) return { kind: "dropped", why: "not UTF-8" };
      const result = decode(data);
      return result.ok
        ? { kind: "message", message: result.message }
        : { kind: "invalid", error: result.error };
    }
    if (this.#channel) {
      const opened = this.#channel.open(text);
      if (opened.ok) {
        this.#noteSeen(text);
        const result = decode(opened.text);
        return result.ok
          ? { kind: "message", message: result.message }
          : { kind: "invalid", error: result.error };
      }
      if (opened.why !== "no mac") return { kind: "dropped", why: opened.why };
    }
    const result = decode(text);
    if (!result.ok) {
      return this.#channel
        ? { kind: "dropped", why: `no mac on what does not parse: ${result.error.message}` }
        : { kind: "invalid", error: result.error };
    }
    const message = result.message;
    if (message.type === "REGISTERED") return await this.#registered(text, message);
    if (!this.#channel || awaits(message)) return { kind: "message", message };
    return { kind: "dropped", why: `no mac on ${message.type} ${message.rq}` };
  }

  /**
   * A REGISTERED: with `auth`, its signature over our REGISTER's must be
   * the expected server key's; without, it must not come from a server
   * whose key is pinned (a downgrade).
   */
  async #registered(
    text: string,
    message: Extract<Message, { type: "REGISTERED" }>,
  ): Promise<Incoming> {
    const server = this.#server;
    const expected = this.#expected;
    const whose = this.#given ? "the key given with --server-key" : "the key pinned for it";
    if (!ExtensionSet.from(message.extensions).has("auth")) {
      if (!expected) return { kind: "message", message };
      return {
        kind: "refused",
        rq: message.rq,
        reason: `the server at ${server} answered without its signature, but ${whose} is ` +
          `${expected.fingerprint}: refusing to fall back to an unauthenticated session`,
      };
    }
    const signed = splitSigned(text);
    const values = tokens(message.extensions);
    const key = values.get("key"), dh = values.get("dh");
    if (!signed || !key || !dh) {
      return { kind: "dropped", why: `REGISTERED ${message.rq} claims auth without a signature` };
    }
    const handshake = this.#handshakes.get(message.rq);
    if (!handshake) {
      return { kind: "dropped", why: `REGISTERED ${message.rq} answers no signed REGISTER here` };
    }
    if (!await verify(key, signed.sig, replySigningText(signed.body, handshake.sig))) {
      return { kind: "dropped", why: `REGISTERED ${message.rq} has a bad signature` };
    }
    const serverKey = { key, fingerprint: await fingerprint(key) };
    if (expected && key !== expected.key) {
      return {
        kind: "refused",
        rq: message.rq,
        reason: `the server at ${server} signed with key ${serverKey.fingerprint}, not ` +
          `${whose} (${expected.fingerprint}); if the server's key really changed, ` +
          "start the peer with --server-key and its new key",
      };
    }
    let keys;
    try {
      keys = await deriveSession(
        handshake.ephemeral,
        dh,
        `${message.rq} ${handshake.ts}`,
        "peer",
      );
    } catch {
      return { kind: "dropped", why: `REGISTERED ${message.rq} has a bad exchange key` };
    }
    // Trust on first use, or the key given with --server-key from now on.
    await this.#store.saveSession(
      { server, serverKey: key, keys },
      this.#pinned === key ? undefined : { ...serverKey, pinnedAt: this.#clock.now() },
    );
    this.#pinned = key;
    this.#expected = serverKey;
    this.#useSession(keys);
    return { kind: "message", message, serverKey };
  }

  /** Seals and opens with these keys from now on (kept if they are the current ones). */
  #useSession(keys: SessionKeys): void {
    const current = this.#sessionKeys;
    if (current?.send === keys.send && current.receive === keys.receive) return;
    this.#sessionKeys = keys;
    this.#channel = new Channel(keys);
  }

  #noteSeen(text: string): void {
    const seq = SEQ.exec(text)?.[1];
    if (seq === undefined) return;
    this.#seen.add(seq);
    if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.values().next().value!);
  }

  /**
   * The session's view for one TCP connection from the server. Each
   * connection keeps its own replay window: the server seals datagrams and
   * the messages of concurrent transactions from one counter, so a shared
   * window would refuse a TCP message overtaken by later datagrams. TLS
   * keeps others from injecting into the connection; what they could replay
   * on a connection of their own is a sealed datagram seen on the network,
   * so a message must also be fresh (its sequence number follows the
   * server's clock) and not one of the datagrams accepted lately.
   */
  tcpSession(): TcpSession {
    let channel: Channel | undefined;
    let keys: SessionKeys | undefined;
    return {
      open: (text) => {
        const current = this.#sessionKeys;
        if (!current) return { ok: false, why: "no session with the server" };
        if (keys !== current) {
          keys = current;
          channel = new Channel(current);
        }
        const seq = SEQ.exec(text)?.[1];
        if (seq !== undefined) {
          if (this.#seen.has(seq)) return { ok: false, why: "replayed" };
          const sealedAt = Number(seq) / 1000;
          if (Math.abs(this.#clock.now() - sealedAt) > MAX_CLOCK_SKEW_MS) {
            return { ok: false, why: "stale" };
          }
        }
        const opened = channel!.open(text);
        return opened.ok ? opened : { ok: false, why: opened.why };
      },
    };
  }
}

/** Opens the server's sealed messages on one TCP connection. */
export interface TcpSession {
  /**
   * Checks and strips the server's MAC of a message on the connection.
   *
   * @returns The message text, or why it is refused.
   */
  open(text: string): { ok: true; text: string } | { ok: false; why: string };
}

/** The RQ# of a message that could not be authenticated, if one can be read. */
export function rqOf(text: string): string | undefined {
  const token = text.split(" ")[1];
  return token !== undefined && Rq.safeParse(token).success ? token : undefined;
}
