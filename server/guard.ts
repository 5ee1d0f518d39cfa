/**
 * The server's gate for datagrams: a flood limit per source, the signed
 * registration of our peers, and the MAC on every datagram to and from
 * them. What passes reaches the state machine marked with the name it
 * proved; what fails is logged and dropped.
 *
 * @module
 */
import {
  type Address,
  decode,
  type DecodeError,
  formatAddress,
  type Message,
} from "../protocol/mod.ts";
import {
  Channel,
  deriveSession,
  type Ephemeral,
  ephemeral,
  type SessionKeys,
} from "../security/channel.ts";
import {
  type RegistrationProof,
  replySigningText,
  verifyRegistration,
} from "../security/handshake.ts";
import { type Identity, sign } from "../security/identity.ts";
import type { RegisteredPeer } from "./market.ts";

/** What came of one datagram. */
export type Admission =
  | {
    readonly kind: "message";
    readonly message: Message;
    /** The peer whose session key authenticated it. */
    readonly authenticated?: string;
    /** A verified signed registration, with its new session keys. */
    readonly registration?: { readonly proof: RegistrationProof; readonly keys: SessionKeys };
  }
  | { readonly kind: "invalid"; readonly error: DecodeError }
  | { readonly kind: "dropped"; readonly why: string };

/** Options for {@linkcode Guard}. */
export interface GuardOptions {
  /** Datagrams per second one source address may send (twice that in a burst). */
  readonly ratePerSecond: number;
  /** Most sources tracked by the flood limit. */
  readonly maxSources?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface Pending {
  readonly ephemeral: Ephemeral;
  readonly keys: SessionKeys;
  readonly sig: string;
  readonly at: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * How long a departed peer's session stays at its address, as long as the
 * reply cache keeps the answer: the DE-REGISTERED to it is sealed, and a
 * sealed DE-REGISTER it sends again (its reply was lost) still opens. That
 * is all a lingering session does: it proves no name (the name is free for
 * others at once), and anything else from the address is read as from a
 * stranger.
 */
export const LINGER_MS = 60_000;
/** Most departed sessions kept at once (the oldest go first). */
const MAX_LINGERING = 10_000;

/** The server's datagram gate. */
export class Guard {
  readonly #identity: Identity;
  readonly #options: Required<GuardOptions>;
  readonly #buckets = new Map<string, Bucket>();
  /** Sessions by the peer's `host:port` (both its source and UDP port). */
  readonly #sessions = new Map<string, { name: string; channel: Channel }>();
  /** The addresses each session is filed under, by peer name. */
  readonly #addresses = new Map<string, string[]>();
  /** Departed peers' sessions by address, oldest first, with when they end. */
  readonly #lingering = new Map<string, { name: string; channel: Channel; until: number }>();
  /** Key exchanges waiting for their REGISTERED, by `host:port rq`. */
  readonly #pending = new Map<string, Pending>();

  constructor(identity: Identity, options: GuardOptions) {
    this.#identity = identity;
    this.#options = { maxSources: 100_000, ...options };
  }

  /** The server's public key, as peers pin it. */
  get publicKey(): string {
    return this.#identity.publicText;
  }

  /**
   * Takes a peer record's session (or its removal) into account. A removed
   * peer's session lingers at its addresses for {@linkcode LINGER_MS},
   * unless another peer registers there.
   */
  update(name: string, peer: RegisteredPeer | undefined, now = Date.now()): void {
    for (const address of this.#addresses.get(name) ?? []) {
      const session = this.#sessions.get(address);
      if (session?.name !== name) continue;
      this.#sessions.delete(address);
      if (!peer) {
        this.#lingering.delete(address);
        this.#lingering.set(address, { ...session, until: now + LINGER_MS });
      }
    }
    this.#addresses.delete(name);
    this.#pruneLingering(now);
    if (!peer) return;
    const addresses = [
      formatAddress(peer.source),
      formatAddress({ hostname: peer.source.hostname, port: peer.udpPort }),
    ];
    for (const address of addresses) this.#lingering.delete(address);
    if (!peer.auth) return;
    const session = { name, channel: new Channel(peer.auth.keys) };
    for (const address of addresses) this.#sessions.set(address, session);
    this.#addresses.set(name, addresses);
  }

  /** Checks one datagram. */
  async admit(data: Uint8Array, from: Address, now: number): Promise<Admission> {
    const source = formatAddress(from);
    if (!this.#withinRate(source, now)) return { kind: "dropped", why: "over the flood limit" };
    const session = this.#sessions.get(source);
    const lingering = session ? undefined : this.#lingered(source, now);
    if (lingering) {
      const departed = this.#departed(data, lingering);
      if (departed) return departed;
    }
    if (session) {
      let text: string;
      try {
        text = utf8.decode(data);
      } catch {
        return { kind: "dropped", why: `not UTF-8 from ${session.name}'s address` };
      }
      const opened = session.channel.open(text);
      if (!opened.ok) {
        // A re-registration (after a restart of the peer) comes signed, not sealed.
        if (opened.why === "no mac" && text.startsWith("REGISTER ")) {
          return await this.#registration(text, from, now);
        }
        return {
          kind: "dropped",
          why: `${opened.why} on a datagram from ${session.name}'s address`,
        };
      }
      const result = decode(opened.text);
      return result.ok
        ? { kind: "message", message: result.message, authenticated: session.name }
        : { kind: "invalid", error: result.error };
    }
    const result = decode(data);
    if (!result.ok) return { kind: "invalid", error: result.error };
    if (result.message.type === "REGISTER" && result.message.extensions?.includes("auth")) {
      return await this.#registration(utf8.decode(data), from, now);
    }
    return { kind: "message", message: result.message };
  }

  /**
   * A datagram from where a peer left: its sealed DE-REGISTER, sent again, is
   * admitted (for the reply cache to answer; it proves no name); anything
   * else sealed is dropped; `undefined`: not sealed, a stranger's to read.
   */
  #departed(
    data: Uint8Array,
    lingering: { name: string; channel: Channel },
  ): Admission | undefined {
    let text: string;
    try {
      text = utf8.decode(data);
    } catch {
      return undefined;
    }
    const opened = lingering.channel.open(text);
    if (!opened.ok) {
      return opened.why === "no mac" ? undefined : {
        kind: "dropped",
        why: `${opened.why} on a datagram from where ${lingering.name} left`,
      };
    }
    const result = decode(opened.text);
    if (result.ok && result.message.type === "DE-REGISTER") {
      return { kind: "message", message: result.message };
    }
    return {
      kind: "dropped",
      why: `${
        result.ok ? result.message.type : "a bad message"
      } from ${lingering.name}, which left`,
    };
  }

  async #registration(text: string, from: Address, now: number): Promise<Admission> {
    const result = decode(text);
    if (!result.ok) return { kind: "invalid", error: result.error };
    const checked = await verifyRegistration(text, now);
    if (!checked.ok) {
      return {
        kind: "invalid",
        error: {
          code: "invalid_field",
          message: `Refused: ${checked.why}`,
          keyword: "REGISTER",
          rq: result.message.rq,
        },
      };
    }
    // A retransmitted REGISTER gets the same exchange key, so that whichever
    // REGISTERED reaches the peer, both sides hold the same session keys.
    const handshake = `${formatAddress(from)} ${result.message.rq}`;
    const previous = this.#pending.get(handshake);
    const reuse = previous?.sig === checked.proof.sig ? previous : undefined;
    const own = reuse?.ephemeral ?? await ephemeral();
    const keys = reuse?.keys ??
      await deriveSession(
        own,
        checked.proof.dh,
        `${result.message.rq} ${checked.proof.ts}`,
        "server",
      );
    this.#pending.set(handshake, { ephemeral: own, keys, sig: checked.proof.sig, at: now });
    for (const [key, pending] of this.#pending) {
      if (now - pending.at < 60_000 && this.#pending.size <= 10_000) break;
      this.#pending.delete(key);
    }
    return {
      kind: "message",
      message: result.message,
      registration: { proof: checked.proof, keys },
    };
  }

  /**
   * The text to send: REGISTERED to a signed registration gets the server's
   * key, its exchange key and signature (which takes a promise); anything
   * to a peer with a session gets a MAC, at once.
   */
  sealNow(to: Address, message: Message, text: string): string | Promise<string> {
    const address = formatAddress(to);
    if (message.type === "REGISTERED") {
      const pending = this.#pending.get(`${address} ${message.rq}`);
      if (pending) {
        const body = `${text} key=${this.#identity.publicText} dh=${pending.ephemeral.publicText}`;
        return sign(this.#identity, replySigningText(body, pending.sig)).then((sig) =>
          `${body} sig=${sig}`
        );
      }
    }
    const session = this.#sessions.get(address) ??
      (message.type === "DE-REGISTERED" ? this.#lingered(address, Date.now()) : undefined);
    return session?.channel.seal(text) ?? text;
  }

  /** A departed peer's session at this address, while it lingers. */
  #lingered(address: string, now: number): { name: string; channel: Channel } | undefined {
    if (this.#lingering.size === 0) return undefined;
    const lingering = this.#lingering.get(address);
    if (!lingering) return undefined;
    if (lingering.until > now) return lingering;
    this.#lingering.delete(address);
    return undefined;
  }

  #pruneLingering(now: number): void {
    for (const [address, lingering] of this.#lingering) {
      if (lingering.until > now && this.#lingering.size <= MAX_LINGERING) break;
      this.#lingering.delete(address);
    }
  }

  /** Seals text for a named peer's session (TCP messages); classic peers get it as is. */
  sealFor(name: string, text: string): string {
    const address = this.#addresses.get(name)?.[0];
    const session = address === undefined ? undefined : this.#sessions.get(address);
    return session?.channel.seal(text) ?? text;
  }

  /** Whether an address belongs to a registered peer with a session. */
  knows(address: Address): boolean {
    return this.#sessions.has(formatAddress(address));
  }

  #withinRate(source: string, now: number): boolean {
    const rate = this.#options.ratePerSecond;
    let bucket = this.#buckets.get(source);
    if (!bucket) {
      if (this.#buckets.size >= this.#options.maxSources) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: 2 * rate, at: now };
      this.#buckets.set(source, bucket);
    }
    bucket.tokens = Math.min(2 * rate, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
