/**
 * What an attacker on the network can make: signed REGISTERs under keys of
 * its own (a valid signature proves a key, not an address), with or
 * without a cookie the server gave it.
 *
 * @module
 */
import { encode } from "../../protocol/mod.ts";
import { peerCertificates } from "../../security/certificates.ts";
import { ephemeral } from "../../security/channel.ts";
import { createIdentity, type Identity, sign } from "../../security/identity.ts";

/** A forger: one certificate authority, and a key per forged name unless given. */
export async function forger(): Promise<
  (options: {
    rq: string;
    name: string;
    udpPort: number;
    cookie?: string;
    identity?: Identity;
  }) => Promise<string>
> {
  const { identity: own } = await createIdentity();
  const ca = (await peerCertificates(own, "forger", ["127.0.0.1"])).caText;
  return async ({ rq, name, udpPort, cookie, identity }) => {
    const key = identity ?? (await createIdentity()).identity;
    const body = encode({
      type: "REGISTER",
      rq,
      name,
      ip: "127.0.0.1",
      udpPort,
      tcpPort: 9,
      extensions: [
        "from",
        "ack",
        "no-offer",
        "auth",
        ...(cookie ? [`cookie=${cookie}`] : []),
        `key=${key.publicText}`,
        `dh=${(await ephemeral()).publicText}`,
        `ca=${ca}`,
        `ts=${Date.now()}`,
      ],
    });
    return `${body} sig=${await sign(key, body)}`;
  };
}
