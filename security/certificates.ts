/**
 * TLS certificates for a peer's transaction port, made with
 * @peculiar/x509: a small certificate authority whose key is the peer's
 * identity key (the server pins it at registration), and a leaf for the
 * TLS listener naming the peer's IP addresses. A wrong certificate fails
 * the server's handshake before any card data moves.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { fromBase64Url, toBase64Url } from "./encoding.ts";
import type { Identity } from "./identity.ts";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const YEAR_MS = 365 * 24 * 3600_000;

/** What a TLS listener needs, and what the server pins. */
export interface PeerCertificates {
  /** The authority, base64url DER: sent in REGISTER as `ca=`. */
  readonly caText: string;
  /** Certificate chain (leaf, then authority) as PEM, for Deno.listenTls. */
  readonly chainPem: string;
  /** The leaf's private key as PEM. */
  readonly keyPem: string;
}

/**
 * Makes the authority (signed by the identity key) and a fresh leaf.
 *
 * @param ips The addresses the server may connect to.
 */
export async function peerCertificates(
  identity: Identity,
  name: string,
  ips: readonly string[],
): Promise<PeerCertificates> {
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 10 * YEAR_MS);
  const keys = { publicKey: identity.publicKey, privateKey: identity.privateKey };
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${name} shop peer`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const leafKeys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const serial = toBase64Url(crypto.getRandomValues(new Uint8Array(8)));
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: [...fromBase64Url(serial)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    subject: `CN=${name}`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(Date.now() + YEAR_MS),
    publicKey: leafKeys.publicKey,
    signingKey: identity.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension(
        [...new Set(ips)].map((ip) => ({ type: "ip" as const, value: ip })),
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey);
  return {
    caText: toBase64Url(ca.rawData),
    chainPem: `${leaf.toString("pem")}\n${ca.toString("pem")}\n`,
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  };
}

/** A pinned authority (base64url DER, as sent in REGISTER) as PEM for `caCerts`. */
export function authorityPem(caText: string): string {
  return x509.PemConverter.encode(fromBase64Url(caText).buffer, "CERTIFICATE");
}
