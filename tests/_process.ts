/**
 * Test helpers for real processes: the demo's process drivers, with servers
 * that also admit classic peers (the raw-socket tests play classic peers),
 * and temporary directories.
 *
 * @module
 */
import { ServerProcess as BaseServerProcess } from "../demo/processes.ts";

export { PeerProcess, ShopProcess } from "../demo/processes.ts";

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

/** A fresh temporary directory, removed when disposed. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "shop-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
