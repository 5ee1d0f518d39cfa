/**
 * A disk that fills up under the embedded store, tried as an operator would
 * (issue 19): `shop server --data` on a 3 MB tmpfs, classic REGISTERs one
 * at a time from 50 sockets, resent while unanswered as classic peers do,
 * until the disk is full and beyond; then room is made, and the data is
 * copied to a roomy directory and served again. Every REGISTERED that left
 * must be stored; standard error must say in one line that the store
 * failed and in one that it works again, with no stack trace. With the
 * disk kept full, the server must stop within `--store-timeout` with a
 * one-line reason and a non-zero exit.
 *
 * Mounting a tmpfs needs root. Without it the tests are ignored (with a
 * message), except in CI (`CI=true`), where they fail.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { KvStore } from "../../server/store/mod.ts";
import { fill, mountTmpfs, tmpfsRefused } from "../_tmpfs.ts";
import { ServerProcess, tempDir } from "./_process.ts";
import type { ServerProcess as BaseServerProcess } from "../../demo/processes.ts";

const refused = await tmpfsRefused();
const inCi = Deno.env.get("CI") === "true";
if (refused && !inCi) {
  console.warn(`The disk-full tests are ignored: they mount a tmpfs, and ${refused}`);
}
const ignore = refused !== undefined && !inCi;

/** Names per host and datagrams per second unbounded: 50 sockets on one host register thousands. */
const FLAGS = ["--classic-names-per-host", "0", "--names-per-host", "0", "--rate-limit", "1000000"];
const SOCKETS = 50;
/** A classic peer resends an unanswered REGISTER this often, this many times, then moves on. */
const RESEND_MS = 250;
const TRIES = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What `promise` resolves to within `ms`, or `undefined` (and no timer left behind). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) =>
    timer = setTimeout(() => resolve(undefined), ms)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
const utf8 = new TextEncoder();

/** Bytes free on the filesystem holding `path`. */
async function available(path: string): Promise<number> {
  const output = await new Deno.Command("df", { args: ["-B1", "--output=avail", path] }).output();
  return Number(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1));
}

/**
 * Classic peers registering new names without pause: each of `sockets`
 * sockets sends one REGISTER, resends it every {@linkcode RESEND_MS} while
 * unanswered, up to {@linkcode TRIES} times, then goes on to its next name.
 */
class Registrations implements AsyncDisposable {
  /** REGISTERED received, by name. */
  readonly acknowledged = new Map<string, number>();
  /** When each REGISTERED came (ms since the epoch), in order. */
  readonly times: number[] = [];
  /** Answers other than REGISTERED (a denial would mean the flags are wrong). */
  readonly others: string[] = [];
  /** Names given up on, unanswered after every try. */
  unanswered = 0;
  sent = 0;
  readonly #sockets: Deno.DatagramConn[] = [];
  readonly #waiting = new Map<string, () => void>();
  readonly #names = new Map<string, string>();
  #stopped = false;
  /** New names the sockets may still start (no bound until {@linkcode Registrations.limit}). */
  #budget = Infinity;
  readonly #loops: Promise<void>[] = [];

  constructor(serverPort: number, sockets = SOCKETS) {
    const server = { transport: "udp" as const, hostname: "127.0.0.1", port: serverPort };
    for (let i = 0; i < sockets; i++) {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      this.#sockets.push(socket);
      this.#loops.push(this.#receive(socket), this.#register(socket, i, server));
    }
  }

  /** From now on at most `count` new names are started (those under way go on). */
  limit(count: number): void {
    this.#budget = count;
  }

  async #receive(socket: Deno.DatagramConn): Promise<void> {
    for (;;) {
      let data: Uint8Array;
      try {
        [data] = await socket.receive();
      } catch {
        return; // closed
      }
      const [type, rq] = new TextDecoder().decode(data).split(" ");
      const name = this.#names.get(rq ?? "");
      if (type === "REGISTERED" && name !== undefined) {
        this.acknowledged.set(name, (this.acknowledged.get(name) ?? 0) + 1);
        this.times.push(Date.now());
        this.#waiting.get(rq!)?.();
      } else {
        this.others.push(new TextDecoder().decode(data));
      }
    }
  }

  async #register(socket: Deno.DatagramConn, i: number, server: Deno.NetAddr): Promise<void> {
    const port = (socket.addr as Deno.NetAddr).port;
    for (let n = 0; !this.#stopped && this.#budget-- > 0; n++) {
      const name = `p${i}x${n}`;
      const rq = `${i}-${n}`;
      this.#names.set(rq, name);
      const answered = new Promise<void>((resolve) => this.#waiting.set(rq, resolve));
      let ok = false;
      for (let attempt = 0; attempt < TRIES && !ok && !this.#stopped; attempt++) {
        try {
          await socket.send(utf8.encode(`REGISTER ${rq} ${name} 127.0.0.1 ${port} 9`), server);
          this.sent++;
        } catch {
          return; // closed
        }
        ok = await within(answered.then(() => true), RESEND_MS) ?? false;
      }
      this.#waiting.delete(rq);
      if (!ok && !this.#stopped) this.unanswered++;
    }
  }

  /** REGISTERED received since `since` (ms since the epoch). */
  since(since: number): number {
    return this.times.filter((at) => at >= since).length;
  }

  /** Stops sending; answers still on their way are read for a moment more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await sleep(RESEND_MS);
    for (const socket of this.#sockets) socket.close();
    await Promise.all(this.#loops);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#stopped) await this.stop();
  }
}

/** Waits until `check` holds, polling; false after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

/**
 * The names a server restarted on `dataDir` has registered: the restart's
 * own count (its "with N registered peers" line), and the names as its
 * store holds them.
 */
async function restored(dataDir: string): Promise<{ logged: number; names: Set<string> }> {
  let logged: number;
  {
    await using server = await ServerProcess.start(dataDir);
    const line = await server.waitFor(/Serving on UDP \S+ with \d+ registered peers/, {
      stderr: true,
    });
    logged = Number(line.match(/with (\d+) registered peers/)![1]);
    await server.kill("SIGTERM");
  }
  await using store = await KvStore.openExisting(dataDir);
  const names = new Set([...(await store.load()).peers].map((peer) => peer.name));
  return { logged, names };
}

/** Copies a data directory as an operator would, with `cp -a`. */
async function copy(from: string, to: string): Promise<void> {
  const output = await new Deno.Command("cp", { args: ["-a", from, to], stderr: "piped" })
    .output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

function assertNoStackTrace(stderr: readonly string[]): void {
  assert.deepEqual(stderr.filter((line) => /^\s+at /.test(line)), [], "no stack trace");
}

/** The lines of the log file sink (log/file_sink.ts), which has its own test. */
const LOG_SINK = /^shop: (cannot write )?\S*server\.log\b/;
/** A line that tells of the store failing on the full disk. */
const STORE_FAILING = /No space left on device|os error 28|disk is full|disk full/i;
/** A line that tells of the store working again. */
const STORE_RECOVERED = /(store|commit|writ)\w*\b.*\b(again|recover|resum)/i;

function assertAcknowledgedStored(
  acknowledged: Map<string, number>,
  stored: Set<string>,
): void {
  const lost = [...acknowledged.keys()].filter((name) => !stored.has(name));
  assert.deepEqual(
    lost.length,
    0,
    `${acknowledged.size} names got REGISTERED, ${stored.size} are stored; ` +
      `${lost.length} acknowledged and lost, e.g. ${lost.slice(0, 5).join(", ")}`,
  );
}

Deno.test({
  name: "on a disk that fills up, every REGISTERED sent is stored, and stderr says so in one line",
  ignore,
  fn: async (t) => {
    if (refused) {
      throw new Error(`CI=true, but the disk-full tests cannot mount a tmpfs: ${refused}`);
    }
    await using roomy = await tempDir();
    const copied = join(roomy.path, "copy");
    let acknowledged: Map<string, number>;
    let stderr: readonly string[];
    {
      await using fs = await mountTmpfs("3m");
      const data = join(fs.path, "data");
      // Room to make later: a file the operator deletes once the disk is full
      // (enough for the registrations that follow, so that it does not fill again).
      const reserve = join(fs.path, "reserve");
      await Deno.writeFile(reserve, new Uint8Array(1536 * 1024));
      let server: BaseServerProcess | undefined = await ServerProcess.start(data, ...FLAGS);
      try {
        await using clients = new Registrations(server.port);
        await t.step("the server's writes fill the disk", async () => {
          // Full: the last pages taken, or a commit refused for want of one
          // (a batch may need more pages than are left).
          const full = async () =>
            server!.stderr.some((line) => !LOG_SINK.test(line) && STORE_FAILING.test(line)) ||
            await available(fs.path) < 16 * 1024;
          assert.ok(
            await until(full, 25_000),
            `the disk never filled: ${clients.acknowledged.size} names registered`,
          );
        });
        // And beyond: the peers keep sending for a while on the full disk.
        await sleep(3_000);
        const full = clients.acknowledged.size;
        await t.step("with room made again, registrations resume", async () => {
          // A bounded number of new names from here: the room made is not filled again.
          clients.limit(150);
          await Deno.remove(reserve);
          const freed = Date.now();
          assert.ok(
            await until(() => clients.since(freed) >= 50, 10_000),
            `${clients.since(freed)} REGISTERED in the 10 s after room was made`,
          );
        });
        await clients.stop();
        // The end of the outage is told once commits have worked for a
        // moment; what is on standard error then is what is checked (more
        // registrations could fill the disk again).
        await until(
          () => server!.stderr.some((line) => !LOG_SINK.test(line) && STORE_RECOVERED.test(line)),
          10_000,
        );
        stderr = [...server.stderr];
        acknowledged = clients.acknowledged;
        console.log(
          `${clients.sent} REGISTER sent, ${acknowledged.size} names acknowledged ` +
            `(${full} when the disk filled), ${clients.unanswered} given up on`,
        );
        assert.deepEqual(clients.others, [], "no answer but REGISTERED");
        await server.kill("SIGTERM");
        server = undefined;
      } finally {
        await server?.[Symbol.asyncDispose]();
      }
      await copy(data, copied);
    }
    await t.step("every name that got REGISTERED is registered after the restart", async () => {
      const { logged, names } = await restored(copied);
      console.log(`${acknowledged.size} acknowledged, ${names.size} stored`);
      assert.equal(logged, names.size);
      assertAcknowledgedStored(acknowledged, names);
    });
    await t.step(
      "standard error: no stack trace, one line when the store failed, one when it recovered",
      () => {
        assertNoStackTrace(stderr);
        const store = stderr.filter((line) => !LOG_SINK.test(line));
        const failing = store.filter((line) => STORE_FAILING.test(line));
        assert.equal(failing.length, 1, `store failures told once:\n${failing.join("\n")}`);
        const recovered = store.filter((line) => STORE_RECOVERED.test(line));
        assert.equal(recovered.length, 1, `recovery told once:\n${recovered.join("\n")}`);
        assert.ok(stderr.indexOf(failing[0]!) < stderr.indexOf(recovered[0]!));
      },
    );
  },
});

Deno.test({
  name:
    "on a disk kept full the server stops within --store-timeout, non-zero, with a one-line reason",
  ignore,
  fn: async () => {
    if (refused) {
      throw new Error(`CI=true, but the disk-full tests cannot mount a tmpfs: ${refused}`);
    }
    await using roomy = await tempDir();
    const copied = join(roomy.path, "copy");
    let acknowledged: Map<string, number>;
    {
      await using fs = await mountTmpfs("3m");
      const data = join(fs.path, "data");
      await using server = await ServerProcess.start(data, ...FLAGS, "--store-timeout", "3s");
      await fill(fs.path);
      const filled = Date.now();
      {
        await using clients = new Registrations(server.port, 5);
        // The first commit that needs room fails; from then on the bound runs.
        const status = await within(server.finished(), 15_000);
        await clients.stop();
        acknowledged = clients.acknowledged;
        assert.ok(status, `still running 15 s after the disk was filled`);
        const took = Date.now() - filled;
        assert.notEqual(status.code, 0);
        assert.ok(took < 3_000 + 5_000, `stopped ${took} ms after the disk was filled`);
      }
      assertNoStackTrace(server.stderr);
      // One line when the store started failing, and the reason it stopped
      // (logged, and the command's own error line): not a line per try.
      const failing = server.stderr.filter((line) =>
        !LOG_SINK.test(line) && STORE_FAILING.test(line)
      );
      assert.ok(failing.length >= 1 && failing.length <= 3, server.stderr.join("\n"));
      assert.match(failing.at(-1)!, /^Error: .*stor|commit/i);
      await copy(data, copied);
    }
    const { names } = await restored(copied);
    assertAcknowledgedStored(acknowledged, names);
  },
});
