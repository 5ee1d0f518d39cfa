/**
 * Base64url without padding, the encoding of keys, signatures and tags in
 * datagram tokens.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Bytes as base64url text. */
export function toBase64Url(bytes: Uint8Array | ArrayBuffer): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString(
    "base64url",
  );
}

/**
 * Base64url text as bytes.
 *
 * @throws {SyntaxError} If the text is not base64url.
 */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new SyntaxError(`Cannot decode ${JSON.stringify(text.slice(0, 20))}: expected base64url`);
  }
  const buffer = Buffer.from(text, "base64url");
  const bytes = new Uint8Array(buffer.length);
  bytes.set(buffer);
  return bytes;
}
