/**
 * Address validation before state, as QUIC's Retry (RFC 9000 §8.1) and
 * DTLS's cookie exchange (RFC 9147 §5.1) do it: the server answers a
 * signed REGISTER that carries no valid cookie with a small `RETRY rq
 * COOKIE`, keeps nothing, and sends no more bytes than it received. The
 * cookie is a MAC over the source address and a 30-second epoch under a
 * secret only this server process knows, so only a peer that receives at
 * that address can echo it; the peer signs it into its next REGISTER, so
 * a REGISTER captured at one address is worthless at any other.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { fromBase64Url, toBase64Url } from "./encoding.ts";

/** How long one epoch lasts; a cookie is good in its epoch and the next. */
export const COOKIE_EPOCH_MS = 30_000;
const TAG_BYTES = 16;
/** The epoch in base 36, then the 22-character tag: all word characters, fit for a token. */
const COOKIE = /^([0-9a-z]{1,11})([A-Za-z0-9_-]{22})$/;

/** Makes and checks address cookies. */
export class Cookies {
  readonly #secret: Uint8Array;

  /** @param secret The MAC key; a fresh random one by default (cookies die with the process). */
  constructor(secret: Uint8Array = randomBytes(32)) {
    this.#secret = secret;
  }

  /**
   * The cookie for an address now.
   *
   * @param address The source as `host:port`.
   */
  issue(address: string, now: number): string {
    const epoch = Math.floor(now / COOKIE_EPOCH_MS);
    return `${epoch.toString(36)}${this.#tag(address, epoch)}`;
  }

  /** Whether `cookie` was issued to `address` in this epoch or the one before. */
  valid(address: string, cookie: string | undefined, now: number): boolean {
    const match = cookie === undefined ? null : COOKIE.exec(cookie);
    if (!match) return false;
    const epoch = parseInt(match[1]!, 36);
    const current = Math.floor(now / COOKIE_EPOCH_MS);
    if (epoch !== current && epoch !== current - 1) return false;
    const expected = fromBase64Url(this.#tag(address, epoch));
    const given = fromBase64Url(match[2]!);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #tag(address: string, epoch: number): string {
    return toBase64Url(
      createHmac("sha256", this.#secret).update(`shop/1 cookie ${epoch} ${address}`).digest()
        .subarray(0, TAG_BYTES),
    );
  }
}
