/**
 * The files a page is made of, served from memory: the browser modules of
 * Preact, htm and uPlot, text-imported from their npm packages, and the
 * pages' own scripts and styles, text-imported from this folder. Text
 * imports are part of the module graph, so `deno compile` embeds them and
 * a compiled `shop` serves its pages without any file beside it.
 *
 * @module
 */
import preact from "preact" with { type: "text" };
import hooks from "preact/hooks" with { type: "text" };
import htm from "htm" with { type: "text" };
import uplot from "uplot/dist/uPlot.esm.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import common from "./client/common.js" with { type: "text" };
import style from "./client/style.css" with { type: "text" };

/** A file to serve: its body and its media type. */
export interface Asset {
  readonly body: string;
  readonly type: string;
}

/** A JavaScript module. */
export function script(body: string): Asset {
  return { body, type: "text/javascript; charset=utf-8" };
}

/** A style sheet. */
export function styleSheet(body: string): Asset {
  return { body, type: "text/css; charset=utf-8" };
}

/** An HTML page. */
export function page(body: string): Asset {
  return { body, type: "text/html; charset=utf-8" };
}

/**
 * The hooks module imports the bare name `preact`, which a browser without
 * an import map (an inline one would need an exception in the CSP) cannot
 * resolve: it is pointed at the served file instead.
 */
function relinked(source: string): string {
  const linked = source.replaceAll(/from\s*"preact"/g, 'from"./preact.js"');
  if (linked === source) throw new TypeError("Cannot find the preact import in preact/hooks");
  return linked;
}

/** The files both pages share, by path. */
export const SHARED_ASSETS: Readonly<Record<string, Asset>> = {
  "/vendor/preact.js": script(preact),
  "/vendor/hooks.js": script(relinked(hooks)),
  "/vendor/htm.js": script(htm),
  "/vendor/uplot.js": script(uplot),
  "/vendor/uplot.css": styleSheet(uplotCss),
  "/common.js": script(common),
  "/style.css": styleSheet(style),
};
