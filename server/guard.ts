/**
 * The server's gate for datagrams: flood limits, the signed registration
 * of our peers, and the MAC on every datagram to and from them. What passes
 * reaches the state machine marked with the name it proved; what fails is
 * logged and dropped.
 *
 * Flood limits are token buckets. A datagram from an address with a
 * session is counted against that session (it proves itself with its MAC,
 * so peers behind one address each get their own budget) and against its
 * host's sessions together ({@linkcode SESSIONS_PER_HOST_BUDGET} budgets);
 * everything else (strangers, classic peers, registrations) shares one
 * bucket per host, however many sockets the host opens. Signature checks, the expensive
 * part of a registration, have their own smaller bucket per host and are
 * counted before they are done.
 *
 * @module
 */
import {
  type Address,
  decode,
  type DecodeError,
  encode,
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
import { Cookies } from "../security/cookie.ts";
import {
  type RegistrationProof,
  replySigningText,
  tokens,
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
  /**
   * A signed REGISTER without a valid cookie for its source: send back
   * `text` (a RETRY, never longer than what came) and keep nothing.
   */
  | { readonly kind: "challenge"; readonly text: string }
  | { readonly kind: "dropped"; readonly why: string };

/** Options for {@linkcode Guard}. */
export interface GuardOptions {
  /**
   * Datagrams per second one host may send without a session, and one
   * session may send (twice that in a burst).
   */
  readonly ratePerSecond: number;
  /** Signed registrations one host may have checked per second (twice that in a burst). */
  readonly signaturesPerSecond?: number;
  /** Most hosts and sessions tracked by the flood limits. */
  readonly maxSources?: number;
  /**
   * Ask a signed REGISTER for an address cookie (RETRY) before any state
   * or signature check.
   */
  readonly validateAddresses?: boolean;
}

/**
 * How many sessions' budgets the sessions of one host share: peers behind
 * one address (a machine, a NAT) each get their own, up to this many in all.
 */
export const SESSIONS_PER_HOST_BUDGET = 8;

/** The default of {@linkcode GuardOptions.signaturesPerSecond}. */
export const SIGNATURES_PER_SECOND = 50;

/**
 * The replay high-water mark of one session, stored with the server's
 * state: `session` names the session's keys (a prefix of the receive key),
 * so a mark never applies to a later session.
 */
export interface SessionMark {
  readonly seq: string;
  readonly session: string;
}

/** Which session a mark belongs to. */
function sessionId(keys: SessionKeys): string {
  return keys.receive.slice(0, 16);
}

interface Bucket {
  tokens: number;
  at: number;
}

interface Pending {
  readonly ephemeral: Ephemeral;
  readonly keys: SessionKeys;
  readonly sig: string;
  /** The peer's key and the registration's timestamp, kept as accepted once answered. */
  readonly key: string;
  readonly ts: number;
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
  /** Flood buckets: `host` for datagrams without a session, `host:port` for sessions. */
  readonly #buckets = new Map<string, Bucket>();
  /** What all the sessions of one host may send together, by host. */
  readonly #sessionHosts = new Map<string, Bucket>();
  /** Signature-check buckets by host. */
  readonly #signatureBuckets = new Map<string, Bucket>();
  /**
   * The newest registration timestamp accepted for each key, and its
   * signature: a REGISTER must be newer, or be that one again while its
   * key exchange is pending (a retransmission).
   */
  readonly #accepted = new Map<string, { ts: number; sig: string }>();
  /** Sessions by the peer's proven source `host:port`, never by an announced port. */
  readonly #sessions = new Map<string, { name: string; id: string; channel: Channel }>();
  /** The addresses each session is filed under, by peer name. */
  readonly #addresses = new Map<string, string[]>();
  /** Departed peers' sessions by address, oldest first, with when they end. */
  readonly #lingering = new Map<string, { name: string; channel: Channel; until: number }>();
  /** Address cookies, when registrations must prove their source. */
  readonly #cookies: Cookies | undefined;
  /**
   * The highest sequence number each session accepted before a restart,
   * by name, with the session it belongs to: applied when that session is
   * set up again, so nothing it opened before opens again.
   */
  readonly #floors = new Map<string, SessionMark>();
  /** Sessions that accepted a datagram since {@linkcode Guard.takeMarks}. */
  readonly #marked = new Set<string>();
  /** Key exchanges waiting for their REGISTERED, by `host:port rq`. */
  readonly #pending = new Map<string, Pending>();

  constructor(identity: Identity, options: GuardOptions) {
    this.#identity = identity;
    this.#options = {
      maxSources: 100_000,
      signaturesPerSecond: SIGNATURES_PER_SECOND,
      validateAddresses: true,
      ...options,
    };
    this.#cookies = this.#options.validateAddresses ? new Cookies() : undefined;
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
    // A classic peer that had no session: nothing to file or to end.
    if (!peer?.auth && this.#lingering.size === 0 && !this.#addresses.has(name)) return;
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
    // Filed only under where its datagrams came from: an announced port
    // proves nothing, and a stranger could announce someone else's.
    const addresses = [formatAddress(peer.source)];
    for (const address of addresses) this.#lingering.delete(address);
    if (!peer.auth) return;
    const mark = this.#floors.get(name);
    this.#floors.delete(name);
    const floor = mark?.session === sessionId(peer.auth.keys) ? BigInt(mark.seq) : undefined;
    const ts = (peer.auth as { ts?: number }).ts;
    if (ts !== undefined && (this.#accepted.get(peer.auth.key)?.ts ?? -Infinity) < ts) {
      this.#accepted.set(peer.auth.key, { ts, sig: "" });
    }
    const session = {
      name,
      id: sessionId(peer.auth.keys),
      channel: new Channel(peer.auth.keys, Date.now, floor === undefined ? {} : { floor }),
    };
    for (const address of addresses) this.#sessions.set(address, session);
    this.#addresses.set(name, addresses);
  }

  /**
   * Checks one datagram: at once, unless it is a signed registration,
   * whose check takes a promise.
   */
  admit(data: Uint8Array, from: Address, now: number): Admission | Promise<Admission> {
    const source = formatAddress(from);
    const session = this.#sessions.get(source);
    // A session has its own budget, and all the sessions of one host share
    // a larger one: more names on a host do not buy it more than that.
    const withinRate = session
      ? this.#withinRate(this.#buckets, source, now) &&
        this.#withinRate(
          this.#sessionHosts,
          from.hostname,
          now,
          this.#options.ratePerSecond * SESSIONS_PER_HOST_BUDGET,
        )
      : this.#withinRate(this.#buckets, from.hostname, now);
    if (!withinRate) return { kind: "dropped", why: "over the flood limit" };
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
          return this.#registration(text, from, now);
        }
        return {
          kind: "dropped",
          why: `${opened.why} on a datagram from ${session.name}'s address`,
        };
      }
      this.#marked.add(session.name);
      const result = decode(opened.text);
      return result.ok
        ? { kind: "message", message: result.message, authenticated: session.name }
        : { kind: "invalid", error: result.error };
    }
    const result = decode(data);
    if (!result.ok) return { kind: "invalid", error: result.error };
    if (result.message.type === "REGISTER" && result.message.extensions?.includes("auth")) {
      return this.#registration(utf8.decode(data), from, now);
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
    const refused = (why: string): Admission => ({
      kind: "invalid",
      error: {
        code: "invalid_field",
        message: `Refused: ${why}`,
        keyword: "REGISTER",
        rq: result.message.rq,
      },
    });
    if (this.#cookies) {
      // Before any state or signature check: prove the source receives.
      const address = formatAddress(from);
      const extensions = result.message.type === "REGISTER" ? result.message.extensions : [];
      if (!this.#cookies.valid(address, tokens(extensions).get("cookie"), now)) {
        const retry = encode({
          type: "RETRY",
          rq: result.message.rq,
          cookie: this.#cookies.issue(address, now),
        });
        return retry.length <= text.length
          ? { kind: "challenge", text: retry }
          : { kind: "dropped", why: "a REGISTER too short to answer with a cookie" };
      }
    }
    // Counted before the check: a host cannot make the server verify
    // signatures faster than this, however many sockets it uses.
    if (
      !this.#withinRate(
        this.#signatureBuckets,
        from.hostname,
        now,
        this.#options.signaturesPerSecond,
      )
    ) {
      return { kind: "dropped", why: "over the signature-check limit" };
    }
    const checked = await verifyRegistration(text, now);
    if (!checked.ok) return refused(checked.why);
    // A retransmitted REGISTER gets the same exchange key, so that whichever
    // REGISTERED reaches the peer, both sides hold the same session keys.
    const handshake = `${formatAddress(from)} ${result.message.rq}`;
    const previous = this.#pending.get(handshake);
    const reuse = previous?.sig === checked.proof.sig ? previous : undefined;
    // Freshness: only a newer registration than the last one accepted for
    // this key, or that one again from where it is pending. A captured
    // REGISTER replayed later, from anywhere, is refused.
    const last = this.#accepted.get(checked.proof.key);
    if (!reuse && last && checked.proof.ts <= last.ts) {
      return refused("the registration is not newer than the last one accepted for this key");
    }
    const own = reuse?.ephemeral ?? await ephemeral();
    const keys = reuse?.keys ??
      await deriveSession(
        own,
        checked.proof.dh,
        `${result.message.rq} ${checked.proof.ts}`,
        "server",
      );
    this.#pending.set(handshake, {
      ephemeral: own,
      keys,
      sig: checked.proof.sig,
      key: checked.proof.key,
      ts: checked.proof.ts,
      at: now,
    });
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
    // A market of classic peers only: nothing to seal, sign or look up.
    if (this.#sessions.size === 0 && this.#pending.size === 0 && this.#lingering.size === 0) {
      return text;
    }
    const address = formatAddress(to);
    if (message.type === "REGISTERED") {
      const pending = this.#pending.get(`${address} ${message.rq}`);
      if (pending) {
        if ((this.#accepted.get(pending.key)?.ts ?? -Infinity) < pending.ts) {
          this.#accepted.set(pending.key, { ts: pending.ts, sig: pending.sig });
          if (this.#accepted.size > this.#options.maxSources) {
            this.#accepted.delete(this.#accepted.keys().next().value!);
          }
        }
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

  /**
   * Restores the marks stored before a restart; call before the first
   * {@linkcode Guard.update} of each peer.
   */
  restoreMarks(marks: Iterable<readonly [name: string, mark: SessionMark]>): void {
    for (const [name, mark] of marks) this.#floors.set(name, mark);
  }

  /**
   * The marks of the sessions that accepted datagrams since the last call,
   * to be stored in the same commit as what those datagrams did.
   */
  takeMarks(): [name: string, mark: SessionMark][] {
    const marks: [string, SessionMark][] = [];
    for (const name of this.#marked) {
      const address = this.#addresses.get(name)?.[0];
      const session = address === undefined ? undefined : this.#sessions.get(address);
      if (session?.name !== name) continue;
      marks.push([name, { seq: session.channel.highest.toString(), session: session.id }]);
    }
    this.#marked.clear();
    return marks;
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

  /** Takes a token from `key`'s bucket, if it has one. */
  #withinRate(
    buckets: Map<string, Bucket>,
    key: string,
    now: number,
    rate = this.#options.ratePerSecond,
  ): boolean {
    let bucket = buckets.get(key);
    if (!bucket) {
      if (buckets.size >= this.#options.maxSources) {
        buckets.delete(buckets.keys().next().value!);
      }
      bucket = { tokens: 2 * rate, at: now };
      buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(
      2 * rate,
      bucket.tokens + (Math.max(0, now - bucket.at) * rate) / 1000,
    );
    bucket.at = Math.max(bucket.at, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
