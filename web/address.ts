/**
 * The `--web [HOST:]PORT` option value: where a page is served. The host
 * defaults to 127.0.0.1, so a page is reachable from this machine only
 * unless the user names another address.
 *
 * @module
 */
import type { ValueParser } from "@optique/core/valueparser";
import { z } from "zod";
import { fromZod, type HostPort } from "../cli/value_parsers.ts";
import type { PlannedListen } from "../shell/listen_check.ts";

/** The host a page binds when `--web` names only a port. */
export const DEFAULT_WEB_HOST = "127.0.0.1";

/** `[HOST:]PORT`: `8080`, `127.0.0.1:8080`, `[::1]:8080`; port 0 picks a free one. */
export const WebAddressText = z.string().regex(
  /^((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?[0-9]{1,5}$/,
  "expected [HOST:]PORT like 8080 or 127.0.0.1:8080",
).transform((value, ctx): HostPort => {
  const at = value.lastIndexOf(":");
  const hostname = at < 0 ? DEFAULT_WEB_HOST : value.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const port = Number(value.slice(at + 1));
  if (port > 65535) {
    ctx.addIssue({ code: "custom", message: "port must be 0 to 65535" });
    return z.NEVER;
  }
  return { hostname, port };
});

/** A `--web` option value. */
export function webAddress(): ValueParser<"sync", HostPort> {
  return fromZod(WebAddressText, {
    metavar: "[HOST:]PORT",
    placeholder: { hostname: DEFAULT_WEB_HOST, port: 0 },
    format: (value) =>
      value.hostname.includes(":")
        ? `[${value.hostname}]:${value.port}`
        : `${value.hostname}:${value.port}`,
  });
}

/**
 * What a page given `--web` listens on, for `checkListen`: a port in use
 * is named with the `--web` address to change.
 *
 * @param serves What the page is, like `the page` or `the dashboard`.
 */
export function pageListen(address: HostPort, serves: string): PlannedListen {
  return {
    transport: "tcp",
    hostname: address.hostname,
    port: address.port,
    portOption: "--web",
    hostOption: "--web",
    serves,
  };
}
