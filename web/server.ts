/**
 * A page server: `Deno.serve` behind the {@linkcode WebGate}, a table of
 * routes, the files of {@linkcode SHARED_ASSETS} and the page's own, and
 * the event streams it closes before it shuts down. Request bodies are
 * never logged (the payment form sends card data); a refused request is
 * logged with its method and path only (the query may hold the token).
 *
 * @module
 */
import { logger } from "../log/setup.ts";
import { type Asset, SHARED_ASSETS } from "./assets.ts";
import type { EventHub } from "./events.ts";
import { secured, WebGate } from "./gate.ts";

/** What a route handler gets. */
export interface RouteContext {
  readonly request: Request;
  readonly url: URL;
  /** The address the request came from. */
  readonly remote: Deno.NetAddr;
  /** Whether the page is served over HTTPS. */
  readonly secure: boolean;
}

/** A route handler. */
export type Route = (context: RouteContext) => Response | Promise<Response>;

/** Options for {@linkcode WebServer.start}. */
export interface WebServerOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Routes by `METHOD /path`, like `GET /api/state`. */
  readonly routes: Readonly<Record<string, Route>>;
  /** The page's own files by path (`/` is its HTML), served with the shared ones. */
  readonly assets: Readonly<Record<string, Asset>>;
  /** Streams to end before shutting down. */
  readonly hubs?: readonly EventHub[];
  /** The token; a random one by default. */
  readonly token?: string;
  /** Which logger category logs refusals. */
  readonly category?: string;
}

/** Most bytes of a request body read. */
export const MAX_BODY_BYTES = 16_384;

/** A JSON response. */
export function json(data: unknown, status = 200): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** A CSV file to download. */
export function csvFile(name: string, rows: readonly (readonly unknown[])[]): Response {
  const cell = (value: unknown) => {
    const text = value === undefined || value === null ? "" : String(value);
    // Quoted when needed; a leading = + - @ is defused for spreadsheets.
    const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return new Response(rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n", {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    },
  });
}

/**
 * Reads a JSON object body of at most {@linkcode MAX_BODY_BYTES}.
 *
 * @throws {SyntaxError} If the body is too long, not JSON, or not an object.
 */
export async function readJson(request: Request): Promise<Record<string, unknown>> {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES) throw new SyntaxError("The request body is too long");
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) throw new SyntaxError("The request body is too long");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SyntaxError("The request body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SyntaxError("The request body is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** A running page server. */
export class WebServer implements AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #gate: WebGate;
  readonly #hubs: readonly EventHub[];
  #closed = false;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, gate: WebGate, hubs: EventHub[]) {
    this.#server = server;
    this.#gate = gate;
    this.#hubs = hubs;
  }

  /**
   * Binds and serves.
   *
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   */
  static start(options: WebServerOptions): WebServer {
    const log = logger(options.category ?? "web");
    const assets = { ...SHARED_ASSETS, ...options.assets };
    // Made once the port is bound (the gate checks it).
    const bound: { gate?: WebGate } = {};
    const handle = async (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
      const url = new URL(request.url);
      const refused = bound.gate!.check(request);
      if (refused) {
        if (refused.status >= 400) {
          log.debug("Refused {method} {path}: {status}", {
            method: request.method,
            path: url.pathname,
            status: refused.status,
          });
        }
        return refused;
      }
      const route = options.routes[`${request.method} ${url.pathname}`];
      if (route) {
        try {
          return secured(
            await route({ request, url, remote: info.remoteAddr, secure: bound.gate!.secure }),
          );
        } catch (error) {
          if (error instanceof SyntaxError) return secured(json({ error: error.message }, 400));
          log.error("{method} {path} failed: {error}", {
            method: request.method,
            path: url.pathname,
            error: String(error),
          });
          return secured(json({ error: "Internal error: see the log" }, 500));
        }
      }
      const asset = request.method === "GET" || request.method === "HEAD"
        ? assets[url.pathname === "/index.html" ? "/" : url.pathname]
        : undefined;
      if (asset) {
        return secured(new Response(asset.body, { headers: { "content-type": asset.type } }));
      }
      return secured(json({ error: `Nothing at ${request.method} ${url.pathname}` }, 404));
    };
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
    }, handle);
    const gate = bound.gate = new WebGate({
      hostname: options.hostname,
      port: server.addr.port,
      ...(options.token ? { token: options.token } : {}),
    });
    return new WebServer(server, gate, [...(options.hubs ?? [])]);
  }

  /** The URL to open, with the token. */
  get url(): string {
    return this.#gate.url;
  }

  /** The token. */
  get token(): string {
    return this.#gate.token;
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Open event streams would keep the graceful shutdown waiting.
    for (const hub of this.#hubs) hub.close();
    await this.#server.shutdown();
  }
}
