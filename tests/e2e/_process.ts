/**
 * Test helpers for real processes: the demo's process drivers, with servers
 * that also admit classic peers (the raw-socket tests play classic peers),
 * temporary directories, and the audit that fails a test which leaves a card
 * number or an expiry date in its files or its output.
 *
 * @module
 */
import { join } from "node:path";
import { ServerProcess as BaseServerProcess, ShopProcess } from "../../demo/processes.ts";

export { PeerProcess, ShopProcess } from "../../demo/processes.ts";

/**
 * The card numbers and expiry dates the tests use. Whatever a test leaves
 * behind is searched for them where it is produced: each process's output
 * when the process is disposed, each file of a temporary directory when the
 * directory is disposed. A hit fails the test that produced it.
 */
export const SECRETS = [
  "4111111111111111",
  "4111111111111112",
  "5555555555554444",
  "378282246310005",
  "12/39",
  "11/38",
];

/**
 * How much this test module's audit has looked at so far. A test compares
 * the counts before and after to show that its evidence was searched.
 */
export const audit = { files: 0, outputs: 0 };

/** Thrown when a test left a card number or an expiry date behind. */
export class CardDataFound extends Error {
  override name = "CardDataFound";
}

/** The secrets a text holds, each described with where it was found. */
function search(text: string, where: string): string[] {
  return SECRETS.filter((secret) => text.includes(secret)).map((secret) => `${secret} in ${where}`);
}

/**
 * Fails when a text (a command's output, say) holds a card number or an
 * expiry date.
 *
 * @throws {CardDataFound} Naming each secret and where it was.
 */
export function assertNoCardData(text: string, where: string): void {
  audit.outputs++;
  const found = search(text, where);
  if (found.length > 0) throw new CardDataFound(`Card data left behind: ${found.join("; ")}`);
}

ShopProcess.onEnded = (process) => {
  assertNoCardData(
    [...process.lines, ...process.stderr].join("\n"),
    `the output of process ${process.pid}`,
  );
};

/** Searches every file below a directory, but the payment files the tests wrote on purpose. */
async function auditFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    // A test may remove a directory itself; there is nothing left to search.
    if (error instanceof Deno.errors.NotFound) return found;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await auditFiles(path));
    if (!entry.isFile || entry.name.endsWith(".json")) continue;
    audit.files++;
    found.push(...search(new TextDecoder("latin1").decode(await Deno.readFile(path)), path));
  }
  return found;
}

/**
 * Disposes every resource in order, even when one fails, then throws the
 * first failure (a process whose output held card data, say).
 */
export async function disposeAll(resources: Iterable<AsyncDisposable>): Promise<void> {
  const errors: unknown[] = [];
  for (const resource of resources) {
    try {
      await resource[Symbol.asyncDispose]();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
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
 * A fresh temporary directory, removed when disposed (kept, for reading its
 * logs, when `SHOP_KEEP_TEST_DATA` is set). Disposal searches every file but
 * the payment files for card data first.
 *
 * @throws {CardDataFound} On disposal, when a file holds a card number or an
 *   expiry date (the directory is removed all the same).
 */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "shop-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      const found = await auditFiles(path);
      if (Deno.env.get("SHOP_KEEP_TEST_DATA")) {
        console.error(`test data kept in ${path}`);
      } else {
        await Deno.remove(path, { recursive: true }).catch(() => {});
      }
      if (found.length > 0) throw new CardDataFound(`Card data left behind: ${found.join("; ")}`);
    },
  };
}
