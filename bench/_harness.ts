/**
 * The load harness: what sends the bench's classic REGISTERs and receives
 * the SEARCH fan-outs. Two implementations with one interface:
 *
 * - **native**: `native/loadgen.c`, built here with `cc -O2` when a C
 *   compiler exists (cached by the source's hash, never committed), one
 *   epoll loop with `recvmmsg` over every socket, driven over its standard
 *   input. It is much faster than any server it measures, so that the
 *   figures are the server's and not the harness's.
 * - **deno**: the same load from Deno sockets in this process (`_load.ts`,
 *   `_udp.ts`), the fallback when no compiler is found.
 *
 * The harness in use is printed with the results and stored in
 * results.json; the floor is always measured with the same harness as the
 * server.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { registerMany, type RegisterResult } from "./_load.ts";
import { BenchError, progress, within } from "./_stats.ts";
import { head, UdpPool } from "./_udp.ts";

/** Which harness: C (`native`) or this process's Deno sockets (`deno`). */
export type HarnessKind = "native" | "deno";

/** A group of UDP sockets bound to 127.0.0.1 that the harness sends from and receives on. */
export interface SocketGroup {
  readonly size: number;
  /** The port of socket `index`. */
  port(index: number): number;
}

/** Options for {@linkcode Harness.register}. */
export interface HarnessRegisterOptions {
  /** The i-th REGISTER leaves from socket (firstSocket + i) % size and announces its port. */
  readonly group: SocketGroup;
  readonly firstSocket?: number;
  readonly serverPort: number;
  readonly count: number;
  readonly inFlight: number;
  /** The i-th peer is named `${namePrefix}${nameBase + i}`: unique in the server's life. */
  readonly namePrefix: string;
  readonly nameBase?: number;
  /** Also the rate over each window of this many registrations. */
  readonly window?: number;
  readonly retransmitMs?: number;
  readonly maxAttempts?: number;
  readonly timeoutMs: number;
}

/** Options for {@linkcode Harness.fanout}. */
export interface HarnessFanoutOptions {
  /** The sockets that count SEARCH datagrams. */
  readonly sellers: SocketGroup;
  /** SEARCH datagrams expected. */
  readonly expected: number;
  /** Socket 0 sends `text`; socket 1 (if any) sends `probe`. */
  readonly buyer: SocketGroup;
  readonly serverPort: number;
  /** What causes the fan-out: LOOKING_FOR, or FANOUT for the floor. */
  readonly text: string;
  /** A REGISTER sent as soon as the first SEARCH arrives, and timed until its answer. */
  readonly probe?: string;
  readonly timeoutMs: number;
}

/** One fan-out, timed from the send of the trigger. */
export interface FanoutRun {
  readonly firstMs: number;
  readonly lastMs: number;
  readonly received: number;
  readonly lost: number;
  /** The probe: sent and answered, in ms after the trigger; `ms` between the two (−1: none). */
  readonly probe?: { sentMs: number; answeredMs: number; ms: number; reply: string };
}

/** Generates the bench's UDP load and receives its fan-outs. */
export interface Harness extends AsyncDisposable {
  readonly kind: HarnessKind;
  /** How it works, for the results. */
  readonly detail: string;
  /** How many sockets it may open in all. */
  readonly fileLimit: number;
  /** Opens `size` sockets. */
  open(size: number): Promise<SocketGroup>;
  /** Registers classic peers with a fixed number outstanding. */
  register(options: HarnessRegisterOptions): Promise<RegisterResult>;
  /** Sends a trigger and counts the SEARCHes it causes. */
  fanout(options: HarnessFanoutOptions): Promise<FanoutRun>;
  /** Sends `text` from socket 0 and waits for the datagram with its RQ#. */
  request(
    group: SocketGroup,
    serverPort: number,
    text: string,
    timeoutMs: number,
  ): Promise<{ ms: number; reply: string }>;
}

const SOURCE = fileURLToPath(new URL("./native/loadgen.c", import.meta.url));

/**
 * The harness to use: `native` when `loadgen.c` builds (or is cached),
 * else `deno`; `prefer` forces one (`native` fails without a compiler).
 */
export async function openHarness(prefer: "auto" | HarnessKind = "auto"): Promise<Harness> {
  if (prefer !== "deno") {
    const built = await buildLoadgen();
    if (typeof built === "string") return await NativeHarness.start(built);
    if (prefer === "native") throw new BenchError(`Cannot build the native harness: ${built.why}`);
    progress(`harness: ${built.why}; using the Deno harness`);
  }
  return new DenoHarness(await processFileLimit());
}

/** How many files this process may open (`ulimit -n`), read from the shell. */
export async function processFileLimit(): Promise<number> {
  try {
    const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
      .output();
    const value = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(value) ? value : 1024;
  } catch {
    return 1024;
  }
}

/** Builds `loadgen.c` into the cache, keyed by the source's hash; returns the binary's path. */
async function buildLoadgen(): Promise<string | { why: string }> {
  const source = await Deno.readFile(SOURCE);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", source));
  const hash = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  const cacheRoot = Deno.env.get("XDG_CACHE_HOME") ??
    (Deno.env.get("HOME") ? join(Deno.env.get("HOME")!, ".cache") : undefined);
  let dir = cacheRoot ? join(cacheRoot, "shop-bench") : undefined;
  try {
    if (dir) await Deno.mkdir(dir, { recursive: true });
  } catch {
    dir = undefined;
  }
  dir ??= await Deno.makeTempDir({ prefix: "shop-bench-native-" });
  const binary = join(dir, `loadgen-${hash}`);
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // Not built yet.
  }
  const compiler = Deno.env.get("CC") ?? "cc";
  const partial = `${binary}.${Deno.pid}.tmp`;
  try {
    const out = await new Deno.Command(compiler, {
      args: ["-O2", "-o", partial, SOURCE],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return { why: `${compiler} failed: ${new TextDecoder().decode(out.stderr).trim()}` };
    }
    await Deno.rename(partial, binary);
    progress(`harness: built ${SOURCE} with ${compiler} -O2 into ${binary}`);
    return binary;
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    return { why: `no C compiler (${compiler}: ${(error as Error).message})` };
  }
}

interface NativeGroup extends SocketGroup {
  readonly id: number;
}

/** `native/loadgen.c` as a child process, one JSON line per command. */
class NativeHarness implements Harness {
  readonly kind = "native";
  readonly detail = "bench/native/loadgen.c (cc -O2): one epoll loop, recvmmsg, sendto";
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: Promise<string>;
  #queue: Promise<unknown> = Promise.resolve();
  #prefix = 0;
  fileLimit = 1024;

  private constructor(binary: string) {
    this.#child = new Deno.Command(binary, { stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout)[Symbol.asyncIterator]();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  static async start(binary: string): Promise<NativeHarness> {
    const harness = new NativeHarness(binary);
    const ready = await harness.#read(10_000) as { files: number };
    harness.fileLimit = ready.files > 0 ? ready.files : 1024;
    return harness;
  }

  async #read(timeoutMs: number): Promise<Record<string, unknown>> {
    const next = await within(this.#lines.next(), timeoutMs, "the native harness to answer");
    if (next.done) {
      throw new BenchError(`The native harness exited: ${await this.#stderr}`);
    }
    const answer = JSON.parse(next.value) as Record<string, unknown>;
    if (answer.ok !== true) throw new BenchError(String(answer.error));
    return answer;
  }

  /** Runs one command at a time: its answer is the next line. */
  #command(words: readonly (string | number)[], timeoutMs: number) {
    const run = this.#queue.then(async () => {
      await this.#writer.write(new TextEncoder().encode(`${words.join(" ")}\n`));
      return await this.#read(timeoutMs + 10_000);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async open(size: number): Promise<SocketGroup> {
    const answer = await this.#command(["open", size], 30_000) as {
      group: number;
      ports: number[];
    };
    const ports = answer.ports;
    return { id: answer.group, size: ports.length, port: (i) => ports[i]! } as NativeGroup;
  }

  async register(options: HarnessRegisterOptions): Promise<RegisterResult> {
    const rqPrefix = `${crypto.randomUUID().slice(0, 8)}${this.#prefix++}-`;
    return await this.#command([
      "register",
      (options.group as NativeGroup).id,
      options.serverPort,
      options.count,
      options.inFlight,
      rqPrefix,
      options.namePrefix,
      options.nameBase ?? 0,
      options.window ?? options.count,
      options.retransmitMs ?? 1_000,
      options.maxAttempts ?? 10,
      options.timeoutMs,
      options.firstSocket ?? 0,
    ], options.timeoutMs) as unknown as RegisterResult;
  }

  async fanout(options: HarnessFanoutOptions): Promise<FanoutRun> {
    return await this.#command([
      "fanout",
      (options.sellers as NativeGroup).id,
      options.expected,
      (options.buyer as NativeGroup).id,
      options.serverPort,
      options.timeoutMs,
      options.probe ? options.probe.replaceAll(" ", "_") : "-",
      options.text,
    ], options.timeoutMs) as unknown as FanoutRun;
  }

  async request(group: SocketGroup, serverPort: number, text: string, timeoutMs: number) {
    return await this.#command(
      ["request", (group as NativeGroup).id, serverPort, timeoutMs, text],
      timeoutMs,
    ) as unknown as { ms: number; reply: string };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    const status = await within(this.#child.status, 5_000, "the native harness to exit").catch(
      () => {
        this.#child.kill("SIGKILL");
        return this.#child.status;
      },
    );
    await this.#stderr.catch(() => "");
    void status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, end);
      pending = pending.slice(end + 1);
    }
  }
}

/** The load from Deno sockets in this process: the fallback. */
class DenoHarness implements Harness {
  readonly kind = "deno";
  readonly detail = "Deno UDP sockets in the bench process (bench/_load.ts, bench/_udp.ts)";
  readonly #pools: UdpPool[] = [];

  constructor(readonly fileLimit: number) {}

  open(size: number): Promise<SocketGroup> {
    const pool = new UdpPool(size);
    this.#pools.push(pool);
    return Promise.resolve(pool);
  }

  register(options: HarnessRegisterOptions): Promise<RegisterResult> {
    const base = options.nameBase ?? 0;
    const first = options.firstSocket ?? 0;
    const pool = options.group as UdpPool;
    return registerMany({
      socket: (i) => (first + i) % pool.size,
      pool,
      serverPort: options.serverPort,
      count: options.count,
      inFlight: options.inFlight,
      name: (i) => `${options.namePrefix}${base + i}`,
      timeoutMs: options.timeoutMs,
      ...(options.window ? { window: options.window } : {}),
      ...(options.retransmitMs ? { retransmitMs: options.retransmitMs } : {}),
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    });
  }

  async fanout(options: HarnessFanoutOptions): Promise<FanoutRun> {
    const sellers = options.sellers as UdpPool;
    const buyer = options.buyer as UdpPool;
    let rq: string | undefined;
    let count = 0;
    let first = 0;
    let last = 0;
    let probeSent = 0;
    let probeAnswered = 0;
    let probeReply = "";
    const probeRq = options.probe ? head(options.probe)[1] : undefined;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const check = () => {
      if (count >= options.expected && (!probeRq || probeAnswered > 0)) done();
    };
    const stopSellers = sellers.listen((message, _socket, at) => {
      const [type, searchRq] = head(message);
      if (type !== "SEARCH") return;
      rq ??= searchRq;
      if (searchRq !== rq) return; // a straggler from an earlier search
      if (count === 0) {
        first = at;
        if (options.probe) {
          probeSent = performance.now();
          buyer.send(buyer.size > 1 ? 1 : 0, options.probe, options.serverPort).catch(() => {});
        }
      }
      last = at;
      count++;
      check();
    });
    const stopBuyer = buyer.listen((message, _socket, at) => {
      if (probeRq && probeAnswered === 0 && head(message)[1] === probeRq) {
        probeAnswered = at;
        probeReply = message;
        check();
      }
    });
    const start = performance.now();
    try {
      await buyer.send(0, options.text, options.serverPort);
      await within(finished, options.timeoutMs, "every SEARCH").catch(() => {});
    } finally {
      stopSellers();
      stopBuyer();
    }
    return {
      firstMs: count ? first - start : -1,
      lastMs: count ? last - start : -1,
      received: count,
      lost: options.expected - count,
      ...(probeRq
        ? {
          probe: {
            sentMs: probeSent ? probeSent - start : -1,
            answeredMs: probeAnswered ? probeAnswered - start : -1,
            ms: probeAnswered ? probeAnswered - probeSent : -1,
            reply: probeReply,
          },
        }
        : {}),
    };
  }

  async request(group: SocketGroup, serverPort: number, text: string, timeoutMs: number) {
    const pool = group as UdpPool;
    const rq = head(text)[1];
    let answered: (value: { ms: number; reply: string }) => void = () => {};
    const answer = new Promise<{ ms: number; reply: string }>((resolve) => (answered = resolve));
    const start = performance.now();
    const stop = pool.listen((message, _socket, at) => {
      if (head(message)[1] === rq) answered({ ms: at - start, reply: message });
    });
    try {
      await pool.send(0, text, serverPort);
      return await within(answer, timeoutMs, `an answer to "${text}"`);
    } finally {
      stop();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const pool of this.#pools) await pool[Symbol.asyncDispose]();
  }
}
