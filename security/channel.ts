/**
 * Authenticated datagrams between our peers and our server. A key exchange
 * at registration (ephemeral ECDH P-256, HKDF-SHA256) gives each direction
 * its own key; every datagram afterwards ends in a token `mac=SEQ.TAG`,
 * TAG being the first 16 bytes of HMAC-SHA256(key, "SEQ text"). A sliding
 * window over SEQ rejects replays (as IPsec does) while tolerating the
 * reordering UDP brings. SEQ grows with the sender's clock (milliseconds
 * times 1000, plus a counter), so it keeps growing across restarts without
 * being stored.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { fromBase64Url, toBase64Url } from "./encoding.ts";

const ECDH = { name: "ECDH", namedCurve: "P-256" } as const;
/**
 * How far back (in sequence units: microseconds of the sender's clock) a
 * datagram may arrive after a later one: 30 s of reordering or delay.
 */
const WINDOW = 30_000_000n;
/** Most sequence numbers remembered inside the window. */
const MAX_SEEN = 8192;
const TAG_BYTES = 16;

/** An ephemeral key-exchange key pair and its public half for the wire. */
export interface Ephemeral {
  readonly pair: CryptoKeyPair;
  readonly publicText: string;
}

/** Makes an ephemeral ECDH key pair for one registration. */
export async function ephemeral(): Promise<Ephemeral> {
  const pair = await crypto.subtle.generateKey(ECDH, false, ["deriveBits"]) as CryptoKeyPair;
  return { pair, publicText: toBase64Url(await crypto.subtle.exportKey("raw", pair.publicKey)) };
}

/** The two directions' MAC keys of a session, as base64url (storable). */
export interface SessionKeys {
  readonly send: string;
  readonly receive: string;
}

/**
 * Derives the session keys from our ephemeral key and the other side's.
 *
 * @param salt Binds the keys to this registration (its RQ# and time).
 * @param role Which side we are: decides which key sends.
 * @throws {DOMException} If the other side's key is not a P-256 point.
 */
export async function deriveSession(
  own: Ephemeral,
  otherPublicText: string,
  salt: string,
  role: "peer" | "server",
): Promise<SessionKeys> {
  const other = await crypto.subtle.importKey(
    "raw",
    fromBase64Url(otherPublicText),
    ECDH,
    false,
    [],
  );
  const secret = await crypto.subtle.deriveBits(
    { name: "ECDH", public: other },
    own.pair.privateKey,
    256,
  );
  const hkdf = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const derive = async (info: string) =>
    toBase64Url(
      await crypto.subtle.deriveBits(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: new TextEncoder().encode(salt),
          info: new TextEncoder().encode(info),
        },
        hkdf,
        256,
      ),
    );
  const toServer = await derive("shop/1 peer to server");
  const toPeer = await derive("shop/1 server to peer");
  return role === "peer"
    ? { send: toServer, receive: toPeer }
    : { send: toPeer, receive: toServer };
}

/** Why an incoming datagram was not accepted. */
export type OpenFailure = "no mac" | "bad mac" | "replayed";

/** One side of an authenticated session. */
export class Channel {
  readonly #send: Uint8Array;
  readonly #receive: Uint8Array;
  #sent = 0;
  #highest = 0n;
  /** Numbers accepted above `#floor`; anything at or below it is refused. */
  readonly #seen = new Set<bigint>();
  #floor = 0n;
  readonly #clock: () => number;

  /**
   * @param keys The session's two keys.
   * @param clock The sender clock for sequence numbers.
   * @param options.floor Refuse every incoming number at or below this one:
   *   the highest accepted before a restart, so that nothing opened before
   *   it opens again.
   */
  constructor(
    keys: SessionKeys,
    clock: () => number = Date.now,
    options: { floor?: bigint } = {},
  ) {
    this.#send = fromBase64Url(keys.send);
    this.#receive = fromBase64Url(keys.receive);
    this.#clock = clock;
    this.#floor = this.#highest = options.floor ?? 0n;
  }

  /** The highest incoming sequence number accepted so far (the floor before any). */
  get highest(): bigint {
    return this.#highest;
  }

  /** Appends the MAC token to an outgoing message. */
  seal(text: string): string {
    const seq = this.#sent = Math.max(this.#sent + 1, this.#clock() * 1000);
    return `${text} mac=${seq}.${tag(this.#send, seq, text)}`;
  }

  /**
   * Checks and strips the MAC token of an incoming message.
   *
   * @returns The message text, or why it was refused.
   */
  open(text: string): { ok: true; text: string } | { ok: false; why: OpenFailure } {
    const trimmed = text.replace(/\r?\n$/, "");
    const match = /^(.*) mac=([0-9]{1,16})\.([A-Za-z0-9_-]{22})$/s.exec(trimmed);
    if (!match) return { ok: false, why: "no mac" };
    const [, body, seqText, given] = match as unknown as [string, string, string, string];
    const seq = BigInt(seqText);
    const expected = fromBase64Url(tag(this.#receive, Number(seq), body));
    const actual = fromBase64Url(given);
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return { ok: false, why: "bad mac" };
    }
    if (!this.#accept(seq)) return { ok: false, why: "replayed" };
    return { ok: true, text: body };
  }

  /**
   * Replay check over a sliding window: a number is accepted once, if it is
   * above the floor (the highest seen less the window, raised further when
   * too many numbers are remembered).
   */
  #accept(seq: bigint): boolean {
    if (seq <= this.#floor || this.#seen.has(seq)) return false;
    this.#seen.add(seq);
    if (seq > this.#highest) {
      this.#highest = seq;
      if (seq - WINDOW > this.#floor) this.#floor = seq - WINDOW;
    }
    if (this.#seen.size > MAX_SEEN) {
      // Keep the newest half; the floor rises to the newest number dropped.
      const sorted = [...this.#seen].filter((n) => n > this.#floor).sort((
        a,
        b,
      ) => (a < b ? -1 : 1));
      const keep = sorted.slice(-MAX_SEEN / 2);
      if (sorted.length > keep.length) this.#floor = sorted[sorted.length - keep.length - 1]!;
      this.#seen.clear();
      for (const n of keep) this.#seen.add(n);
    }
    return true;
  }
}

function tag(key: Uint8Array, seq: number, text: string): string {
  return toBase64Url(
    createHmac("sha256", key).update(`${seq} ${text}`).digest().subarray(0, TAG_BYTES),
  );
}
