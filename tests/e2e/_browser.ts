/**
 * Headless Chromium for the browser tests, through `playwright-core`
 * (which brings no browser of its own): Debian's `chromium` package.
 *
 * @module
 */
import { type Browser, chromium } from "playwright-core";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = Deno.env.get("SHOP_CHROMIUM") ?? "/usr/lib/chromium/chromium";

/** Why the browser tests cannot run here, or `undefined` when they can. */
export function browserMissing(): string | undefined {
  try {
    Deno.statSync(CHROMIUM);
    return undefined;
  } catch {
    return `Skipped: no Chromium at ${CHROMIUM}; install it with \`apt-get install -y chromium\` ` +
      "(or set SHOP_CHROMIUM to a Chromium binary)";
  }
}

/** Launches headless Chromium; close it in `finally` (it outlives the test otherwise). */
export async function launch(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  return Object.assign(browser, {
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  });
}
