/**
 * The signed registration of our peers: REGISTER carries the peer's public
 * key, an ephemeral key-exchange key, its certificate authority (for TLS),
 * a timestamp and a signature over all of it; REGISTERED carries the
 * server's key, its ephemeral key and a signature over the reply and the
 * peer's signature. Both sides then derive the session keys.
 *
 * Tokens ride in the classic messages' extension words:
 * `REGISTER rq name ip udp tcp shop/1 … auth key=K dh=D ca=C ts=T sig=S`.
 *
 * @module
 */
import { verify } from "./identity.ts";

/** How far a registration's timestamp may be from the server's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The `name=value` tokens among extension words. */
export function tokens(extensions: readonly string[] | undefined): Map<string, string> {
  const found = new Map<string, string>();
  for (const word of extensions ?? []) {
    const at = word.indexOf("=");
    if (at > 0) found.set(word.slice(0, at), word.slice(at + 1));
  }
  return found;
}

/** The feature words among extension words (those without `=`). */
export function features(extensions: readonly string[] | undefined): string[] {
  return (extensions ?? []).filter((word) => !word.includes("="));
}

/** Splits a signed text into what was signed and the signature. */
export function splitSigned(text: string): { body: string; sig: string } | undefined {
  const match = /^(.*) sig=([A-Za-z0-9_-]{86})$/s.exec(text.replace(/\r?\n$/, ""));
  return match ? { body: match[1]!, sig: match[2]! } : undefined;
}

/** What a verified registration proves. */
export interface RegistrationProof {
  /** The peer's public key (wire form). */
  readonly key: string;
  /** Its ephemeral key-exchange key. */
  readonly dh: string;
  /** Its certificate authority, base64url DER. */
  readonly ca: string;
  readonly ts: number;
  readonly sig: string;
}

/**
 * Checks a signed REGISTER's signature and freshness.
 *
 * @param text The datagram as received.
 * @param now The server's clock.
 * @returns The proof, or why it fails.
 */
export async function verifyRegistration(
  text: string,
  now: number,
): Promise<{ ok: true; proof: RegistrationProof } | { ok: false; why: string }> {
  const signed = splitSigned(text);
  if (!signed) return { ok: false, why: "the registration is not signed" };
  const words = signed.body.split(" ");
  const values = tokens(words.slice(6));
  const key = values.get("key"), dh = values.get("dh"), ca = values.get("ca");
  const ts = Number(values.get("ts"));
  if (!key || !dh || !ca || !Number.isSafeInteger(ts)) {
    return { ok: false, why: "the registration lacks key, dh, ca or ts" };
  }
  if (Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) {
    return { ok: false, why: "the registration's clock is more than 5 minutes off" };
  }
  if (!await verify(key, signed.sig, signed.body)) {
    return { ok: false, why: "the registration's signature does not match its key" };
  }
  return { ok: true, proof: { key, dh, ca, ts, sig: signed.sig } };
}

/** The text the server signs in REGISTERED: the reply bound to the request. */
export function replySigningText(replyBody: string, requestSig: string): string {
  return `${replyBody} ${requestSig}`;
}
