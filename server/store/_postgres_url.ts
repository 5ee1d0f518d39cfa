/**
 * Reads a PostgreSQL URL for the store: refuses credentials in it, takes
 * the TLS settings out (postgres.js would send `sslrootcert` to the server
 * as a run-time parameter, and reads neither PGSSLMODE nor PGSSLROOTCERT)
 * and names the database for messages without any secret.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** What `sslmode` asks for, as libpq spells it. */
export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";

const SSL_MODES: readonly SslMode[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

/** The TLS parameters the URL may carry; postgres.js gets them as its `ssl` option instead. */
const SSL_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/** A store URL taken apart. */
export interface StoreUrl {
  /** The URL for postgres.js: no TLS parameters (they are in {@linkcode ssl}). */
  readonly url: string;
  /** The URL without user, for messages. */
  readonly where: string;
  /** postgres.js's `ssl` option. */
  readonly ssl: false | "prefer" | "allow" | Record<string, unknown>;
  readonly sslmode: SslMode;
  /** The query parameters left (`target_session_attrs`, `connect_timeout`, …). */
  readonly params: URLSearchParams;
}

/**
 * Takes a store URL apart: `postgres://[user@]host[:port][,host2[:port2]…]/db?…`.
 *
 * TLS: `sslmode` (or PGSSLMODE; default `prefer`, as libpq) with
 * `sslrootcert` (or PGSSLROOTCERT) naming the CA file (`system`: the
 * system's CAs, the default for the verifying modes). `require` encrypts
 * without checking the certificate unless a root certificate is given
 * (then it checks the CA, as libpq does); `verify-ca` checks the CA;
 * `verify-full` checks the CA and the host name. `sslcert` and `sslkey`
 * name a client certificate.
 *
 * @throws {TypeError} If the URL holds a password (`user:password@` or
 *   `?password=`), or a `sslmode` libpq does not know.
 */
export function parseStoreUrl(
  text: string,
  env: { get(name: string): string | undefined } = Deno.env,
): StoreUrl {
  const match = /^(postgres(?:ql)?:\/\/)(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i
    .exec(text);
  if (!match) {
    throw new TypeError(
      `Cannot read store URL "${text}": expected postgres://HOST[:PORT][,HOST2[:PORT2]…]/DATABASE`,
    );
  }
  const [, scheme, userinfo, hosts, path, query] = match;
  const params = new URLSearchParams(query ?? "");
  if (userinfo?.includes(":") || params.has("password")) {
    throw new TypeError(
      `Cannot use the password in store URL "${
        mask(text)
      }": leave it out of the URL (the command line is visible to every user of the machine) and set PGPASSWORD or use a password file`,
    );
  }
  const sslmode = (params.get("sslmode") ?? env.get("PGSSLMODE") ?? "prefer") as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    throw new TypeError(
      `Cannot use sslmode "${sslmode}" in store URL "${text}": expected one of ${
        SSL_MODES.join(", ")
      }`,
    );
  }
  const rootcert = params.get("sslrootcert") ?? env.get("PGSSLROOTCERT") ?? undefined;
  const ssl = sslOption(sslmode, rootcert, params.get("sslcert"), params.get("sslkey"));
  for (const name of SSL_PARAMS) params.delete(name);
  const rest = params.toString();
  const suffix = `${path ?? ""}${rest ? `?${rest}` : ""}`;
  const user = userinfo ? `${userinfo}@` : "";
  // `where` keeps the TLS mode: it is part of where (and how) the state is.
  const shown = new URLSearchParams(rest);
  if (sslmode !== "prefer") shown.set("sslmode", sslmode);
  const shownRest = shown.toString();
  return {
    url: `${scheme}${user}${hosts}${suffix}`,
    where: `${scheme}${hosts}${path ?? ""}${shownRest ? `?${shownRest}` : ""}`,
    ssl,
    sslmode,
    params,
  };
}

/** The URL with any password replaced by `***`, for an error message. */
function mask(text: string): string {
  return text
    .replace(/^([a-z]+:\/\/[^:@/?#]*):[^@/?#]*@/i, "$1:***@")
    .replace(/([?&]password=)[^&#]*/i, "$1***");
}

function sslOption(
  mode: SslMode,
  rootcert: string | undefined,
  cert: string | null,
  key: string | null,
): StoreUrl["ssl"] {
  if (mode === "disable") return false;
  const client = {
    ...(cert ? { cert: readPem(cert, "sslcert") } : {}),
    ...(key ? { key: readPem(key, "sslkey") } : {}),
  };
  const ca = rootcert && rootcert !== "system" ? { ca: readPem(rootcert, "sslrootcert") } : {};
  if (mode === "allow" || mode === "prefer") {
    return cert || key ? { ...client, rejectUnauthorized: false } : mode;
  }
  if (mode === "require" && !ca.ca) return { ...client, rejectUnauthorized: false };
  if (mode === "verify-full") return { ...client, ...ca, rejectUnauthorized: true };
  // verify-ca, or require with a root certificate: the chain, not the name.
  return { ...client, ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

function readPem(path: string, param: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new TypeError(
      `Cannot read the ${param} file "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Reads a password file: its first line (a trailing newline is not part of
 * the password).
 *
 * @throws {TypeError} If the file cannot be read or is empty.
 */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `Cannot read the store password file "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  const password = text.split(/\r?\n/)[0] ?? "";
  if (password === "") {
    throw new TypeError(`Cannot use the store password file "${path}": its first line is empty`);
  }
  return password;
}
