/**
 * The gate every request to a page passes before any handler sees it. A
 * page on localhost can be driven by any website its user visits, so
 * nothing is served or changed unless the request
 *
 * - names this server in its Host header: the bound address, `localhost`,
 *   or an IP literal, with the bound port (a DNS-rebinding site sends its
 *   own name);
 * - carries the token: once in the URL printed at start, which is
 *   exchanged for an HttpOnly, SameSite=Strict cookie and a redirect that
 *   drops it from the address bar (as Jupyter does), then in that cookie
 *   (or an `Authorization: Bearer` header, for scripts);
 * - is not a cross-site request (`Sec-Fetch-Site`);
 * - for anything but GET and HEAD, carries an Origin equal to this server's
 *   own (CSRF) and a JSON body (no HTML form can send one).
 *
 * Every response, refusals included, gets a strict Content-Security-Policy
 * (scripts and styles from this server only, no inline code), no referrer
 * (the token never leaks in a Referer), no framing and no caching.
 *
 * @module
 */
import { isLoopback } from "../protocol/mod.ts";

/** Options for {@linkcode WebGate}. */
export interface WebGateOptions {
  /** The address the page is bound to. */
  readonly hostname: string;
  /** The bound port (read back when 0 was asked for). */
  readonly port: number;
  /** The secret; a random one by default. */
  readonly token?: string;
  /** Whether the page is served over HTTPS. */
  readonly secure?: boolean;
}

/** The Content-Security-Policy of every response. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** Adds the security headers to a response (in place) and returns it. */
export function secured(response: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!response.headers.has(name)) response.headers.set(name, value);
  }
  return response;
}

/** A refusal: plain text saying what to do, with the security headers. */
export function refusal(status: number, text: string): Response {
  return secured(
    new Response(`${text}\n`, {
      status,
      headers: { "content-type": "text/plain; charset=utf-8" },
    }),
  );
}

/** A fresh random token: 32 bytes, base64url. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Compares two strings in time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Whether card data may be sent on this connection: only from this
 * machine (loopback) or over HTTPS, so that it never crosses a network in
 * clear.
 *
 * @example
 * ```ts
 * cardDataAllowed("127.0.0.1", false); // true
 * cardDataAllowed("192.0.2.7", false); // false
 * cardDataAllowed("192.0.2.7", true); // true
 * ```
 */
export function cardDataAllowed(remoteHostname: string, secure: boolean): boolean {
  return secure || isLoopback(remoteHostname.replace(/^::ffff:(?=127\.)/i, ""));
}

/** The gate of one page server (see the module's documentation). */
export class WebGate {
  readonly #hostname: string;
  readonly #port: number;
  readonly #token: string;
  readonly #secure: boolean;

  constructor(options: WebGateOptions) {
    this.#hostname = options.hostname;
    this.#port = options.port;
    this.#token = options.token ?? newToken();
    this.#secure = options.secure ?? false;
  }

  /**
   * The cookie's name. It names the port: cookies are not kept apart by
   * port, and two peers on one machine must not overwrite each other's.
   */
  get cookieName(): string {
    return `shop-token-${this.#port}`;
  }

  /** Whether the page is served over HTTPS. */
  get secure(): boolean {
    return this.#secure;
  }

  /** The URL to open, with the token. */
  get url(): string {
    const wildcard = this.#hostname === "0.0.0.0" || this.#hostname === "::";
    const host = wildcard ? "127.0.0.1" : this.#hostname;
    const shown = host.includes(":") ? `[${host}]` : host;
    return `${this.#secure ? "https" : "http"}://${shown}:${this.#port}/?token=${this.#token}`;
  }

  /** The token, for tests and scripts that send it as a Bearer header. */
  get token(): string {
    return this.#token;
  }

  /**
   * Whether a Host header names this server: its bound name, `localhost`
   * or an IP literal, with its port. A name that only resolves here (DNS
   * rebinding) is refused.
   */
  hostAllowed(host: string | null): boolean {
    if (!host) return false;
    const match = host.toLowerCase().match(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/);
    if (!match) return false;
    const name = match[1]!.replace(/^\[(.*)\]$/, "$1");
    const port = Number(match[2] ?? (this.#secure ? 443 : 80));
    if (port !== this.#port) return false;
    return name === "localhost" || IPV4.test(name) || name.includes(":") ||
      name === this.#hostname.toLowerCase();
  }

  /**
   * Checks a request. Returns the response to send instead of serving it
   * (a refusal, or the redirect that sets the cookie), or `undefined` when
   * the request may be served.
   */
  check(request: Request): Response | undefined {
    const url = new URL(request.url);
    const host = request.headers.get("host");
    if (!this.hostAllowed(host)) {
      return refusal(
        403,
        `Refused: the Host header ${
          JSON.stringify(host ?? "")
        } does not name this server; open the URL shop printed`,
      );
    }
    if (request.headers.get("sec-fetch-site") === "cross-site") {
      return refusal(403, "Refused: a request from another site");
    }
    const read = request.method === "GET" || request.method === "HEAD";
    const given = url.searchParams.get("token");
    if (given !== null) {
      if (!read || !sameSecret(given, this.#token)) {
        return refusal(401, "Refused: wrong token; open the URL shop printed");
      }
      url.searchParams.delete("token");
      const location = `${url.pathname}${url.search}`;
      return secured(
        new Response(null, {
          status: 303,
          headers: {
            location,
            "set-cookie": `${this.cookieName}=${this.#token}; Path=/; HttpOnly; SameSite=Strict${
              this.#secure ? "; Secure" : ""
            }`,
          },
        }),
      );
    }
    if (!this.#authenticated(request)) {
      return refusal(
        401,
        "Refused: no token; open the URL with ?token=... that shop printed when it started",
      );
    }
    if (!read) {
      const origin = request.headers.get("origin");
      const own = `${this.#secure ? "https" : "http"}://${host!.toLowerCase()}`;
      if (origin === null || origin.toLowerCase() !== own) {
        return refusal(403, `Refused: a change from another origin (${origin ?? "none"})`);
      }
      const type = request.headers.get("content-type") ?? "";
      if (!/^application\/json\b/i.test(type)) {
        return refusal(415, "Refused: a change must be sent as application/json");
      }
    }
    return undefined;
  }

  #authenticated(request: Request): boolean {
    const bearer = request.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (bearer !== undefined) return sameSecret(bearer, this.#token);
    const cookies = request.headers.get("cookie") ?? "";
    for (const part of cookies.split(";")) {
      const at = part.indexOf("=");
      if (at < 0 || part.slice(0, at).trim() !== this.cookieName) continue;
      if (sameSecret(part.slice(at + 1).trim(), this.#token)) return true;
    }
    return false;
  }
}
