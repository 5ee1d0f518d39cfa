/**
 * The peer's addresses: which IP to announce in REGISTER, whether a
 * connection comes from the server's IP, and binding a preferred port.
 *
 * @module
 */
import { isLoopback } from "../protocol/mod.ts";

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) as plain IPv4. */
export function unmapped(ip: string): string {
  return ip.replace(/^::ffff:(?=\d+\.)/i, "");
}

/**
 * Whether a connection from `remote` comes from the server at `server`: the
 * same IP, or both on loopback. `undefined` when the server is given by a
 * host name other than `localhost`, which must be looked up.
 *
 * @example
 * ```ts
 * isServerIp("10.0.0.5", "10.0.0.5"); // true
 * isServerIp("127.0.0.1", "localhost"); // true
 * isServerIp("10.0.0.6", "10.0.0.5"); // false
 * isServerIp("10.0.0.6", "shop.example"); // undefined
 * ```
 */
export function isServerIp(remote: string, server: string): boolean | undefined {
  const ip = unmapped(remote);
  const host = unmapped(server.replace(/^\[(.*)\]$/, "$1"));
  if (ip === host || isLoopback(ip) && isLoopback(host)) return true;
  const literal = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");
  return literal || isLoopback(host) ? false : undefined;
}

/**
 * A check of whether a connection comes from the server's IP: the same
 * address, any loopback address for a server on loopback, or one the
 * server's host name resolves to (looked up once, at the first need).
 *
 * @param server The server's host, as given.
 * @returns The check, given a connection's remote IP.
 */
export function serverIpCheck(server: string): (remote: string) => Promise<boolean> {
  let resolved: Promise<ReadonlySet<string>> | undefined;
  return async (remote) => {
    const known = isServerIp(remote, server);
    if (known !== undefined) return known;
    resolved ??= Promise.allSettled([
      Deno.resolveDns(server, "A"),
      Deno.resolveDns(server, "AAAA"),
    ]).then((results) =>
      new Set(results.flatMap((result) => result.status === "fulfilled" ? result.value : []))
    );
    return (await resolved).has(unmapped(remote));
  };
}

/**
 * Binds the preferred port; a remembered port that is taken now falls back
 * to a free one, a port the user asked for does not.
 */
export function bindPreferred<T>(
  preferred: number | undefined,
  bind: (port: number) => T,
  required = false,
): T {
  if (!preferred) return bind(0);
  try {
    return bind(preferred);
  } catch (error) {
    if (required || !(error instanceof Deno.errors.AddrInUse)) throw error;
    return bind(0);
  }
}

/**
 * The IP to announce in REGISTER: the bind address, or for a wildcard bind
 * the loopback address when the server is local, else the first external
 * IPv4 address of this host.
 */
export function announcedIp(bindHost: string, serverHost: string): string {
  if (bindHost !== "0.0.0.0" && bindHost !== "::") return bindHost;
  if (isLoopback(serverHost)) return "127.0.0.1";
  const external = Deno.networkInterfaces().find((nic) =>
    nic.family === "IPv4" && !nic.address.startsWith("127.")
  );
  return external?.address ?? "127.0.0.1";
}
