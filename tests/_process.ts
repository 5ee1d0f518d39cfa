/**
 * Test helpers for real processes: the demo's process drivers, with servers
 * that also admit classic peers (the raw-socket tests play classic peers),
 * and temporary directories.
 *
 * @module
 */
import { join } from "node:path";
import { ServerProcess as BaseServerProcess, ShopProcess } from "../demo/processes.ts";

export { PeerProcess, ShopProcess } from "../demo/processes.ts";

/**
 * The card numbers and expiry dates the tests use. Whatever the tests leave
 * behind (files in their temporary directories, the output of every
 * process) is searched for them; tests/zz_no_card_data_test.ts, which runs
 * last, fails if any was found.
 */
export const SECRETS = [
  "4111111111111111",
  "4111111111111112",
  "5555555555554444",
  "378282246310005",
  "12/39",
  "11/38",
];

/** What the audit found and how much it looked at. */
export const audit = { files: 0, outputs: 0, found: [] as string[] };

function search(text: string, where: string): void {
  for (const secret of SECRETS) {
    if (text.includes(secret)) audit.found.push(`${secret} in ${where}`);
  }
}

ShopProcess.onEnded = (process) => {
  audit.outputs++;
  search([...process.lines, ...process.stderr].join("\n"), `the output of process ${process.pid}`);
};

/** Searches every file below a directory, but the payment files the tests wrote on purpose. */
async function auditFiles(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) await auditFiles(path);
    if (!entry.isFile || entry.name.endsWith(".json")) continue;
    audit.files++;
    search(new TextDecoder("latin1").decode(await Deno.readFile(path)), path);
  }
}

/** A `shop server` on 127.0.0.1 with a free port that admits classic peers too. */
export class ServerProcess extends BaseServerProcess {
  /** Starts a server and waits until it listens. */
  static override start(dataDir: string, ...extra: string[]): Promise<BaseServerProcess> {
    return BaseServerProcess.start(dataDir, "--allow-plaintext", ...extra);
  }

  /** Restarts on the same data directory (and port, which is still free). */
  static override restart(
    previous: BaseServerProcess,
    dataDir: string,
    ...extra: string[]
  ): Promise<BaseServerProcess> {
    return BaseServerProcess.restart(previous, dataDir, "--allow-plaintext", ...extra);
  }
}

/**
 * A fresh temporary directory, audited for card data and removed when
 * disposed (kept, for reading its logs, when `SHOP_KEEP_TEST_DATA` is set).
 */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "shop-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await auditFiles(path).catch(() => {});
      if (Deno.env.get("SHOP_KEEP_TEST_DATA")) {
        console.error(`test data kept in ${path}`);
        return;
      }
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
