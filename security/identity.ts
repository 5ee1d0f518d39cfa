/**
 * Long-term identity keys: an ECDSA P-256 key pair made with WebCrypto on
 * first start and kept (as JWK) in the owner's KV store. The public key
 * travels as the base64url of its raw (uncompressed) point.
 *
 * @module
 */
import { fromBase64Url, toBase64Url } from "./encoding.ts";

const SIGNING = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_PARAMS = { name: "ECDSA", hash: "SHA-256" } as const;

/** A key pair as stored: both halves as JWK. */
export interface StoredIdentity {
  readonly publicJwk: JsonWebKey;
  readonly privateJwk: JsonWebKey;
}

/** A usable identity. */
export interface Identity {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
  /** The public key as sent on the wire. */
  readonly publicText: string;
}

/** Makes a new identity and the form to store it in. */
export async function createIdentity(): Promise<{ identity: Identity; stored: StoredIdentity }> {
  const pair = await crypto.subtle.generateKey(SIGNING, true, ["sign", "verify"]) as CryptoKeyPair;
  const stored = {
    publicJwk: await crypto.subtle.exportKey("jwk", pair.publicKey),
    privateJwk: await crypto.subtle.exportKey("jwk", pair.privateKey),
  };
  return { identity: await loadIdentity(stored), stored };
}

/** Imports a stored identity. */
export async function loadIdentity(stored: StoredIdentity): Promise<Identity> {
  const publicKey = await crypto.subtle.importKey("jwk", stored.publicJwk, SIGNING, true, [
    "verify",
  ]);
  const privateKey = await crypto.subtle.importKey("jwk", stored.privateJwk, SIGNING, true, [
    "sign",
  ]);
  const raw = await crypto.subtle.exportKey("raw", publicKey);
  return { publicKey, privateKey, publicText: toBase64Url(raw) };
}

/** Signs text; the signature as base64url (64 bytes, IEEE P1363). */
export async function sign(identity: Identity, text: string): Promise<string> {
  const signature = await crypto.subtle.sign(
    SIGN_PARAMS,
    identity.privateKey,
    new TextEncoder().encode(text),
  );
  return toBase64Url(signature);
}

/**
 * Checks a signature made by the holder of a wire-format public key.
 *
 * @returns false for a bad key or signature, never throws.
 */
export async function verify(
  publicText: string,
  signature: string,
  text: string,
): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey("raw", fromBase64Url(publicText), SIGNING, false, [
      "verify",
    ]);
    return await crypto.subtle.verify(
      SIGN_PARAMS,
      key,
      fromBase64Url(signature),
      new TextEncoder().encode(text),
    );
  } catch {
    return false;
  }
}

/** A short, stable fingerprint of a public key, for logs and `status`. */
export async function fingerprint(publicText: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", fromBase64Url(publicText));
  return toBase64Url(new Uint8Array(digest).subarray(0, 9));
}
