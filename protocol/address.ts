/**
 * Where datagrams come from and go to.
 *
 * @module
 */

/** A UDP or TCP endpoint. */
export interface Address {
  readonly hostname: string;
  readonly port: number;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(address: Address): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/** Whether a host name or IP is this machine's loopback. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname.startsWith("127.") || hostname === "::1";
}
