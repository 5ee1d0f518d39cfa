/**
 * The registration load generator: classic `REGISTER` datagrams from a pool
 * of sockets with a fixed number outstanding. A new REGISTER leaves as soon
 * as a `REGISTERED` comes back; one unanswered for `retransmitMs` is sent
 * again (same RQ#: the server answers a repeat as before) and counted as a
 * loss. The server replies only after its KV commit, so the rate measured
 * is of durable registrations.
 *
 * @module
 */
import { BenchError, summary } from "./_stats.ts";
import { head, type UdpPool } from "./_udp.ts";

/** Options for {@linkcode registerMany}. */
export interface RegisterOptions {
  readonly pool: UdpPool;
  readonly serverPort: number;
  /** How many peers to register. */
  readonly count: number;
  /** REGISTERs outstanding at any time. */
  readonly inFlight: number;
  /** The i-th peer's name: unique in the server's whole life. */
  readonly name: (i: number) => string;
  /** The socket that sends the i-th REGISTER (default: round robin over the pool). */
  readonly socket?: (i: number) => number;
  /** The UDP port the i-th peer announces (default: its sending socket's port). */
  readonly udpPort?: (i: number) => number;
  /** Words after the classic fields, like `shop/1 ack`. */
  readonly extensions?: string;
  /** How long before a REGISTER is sent again. */
  readonly retransmitMs?: number;
  /** Sends of one REGISTER before the run fails. */
  readonly maxAttempts?: number;
  /** The whole run's bound. */
  readonly timeoutMs: number;
  /** Also measure the rate over each window of this many registrations. */
  readonly window?: number;
}

/** What a registration run measured. */
export interface RegisterResult {
  readonly count: number;
  readonly elapsedMs: number;
  /** Registrations per second, first send to last reply. */
  readonly perSecond: number;
  /** REGISTERs sent again after `retransmitMs` without a reply. */
  readonly retransmits: number;
  /** From a REGISTER's last send to its REGISTERED, in ms. */
  readonly latencyMs: ReturnType<typeof summary>;
  /** Registrations per second in each consecutive window of `window` completions. */
  readonly windowRates: number[];
}

interface Outstanding {
  readonly socket: number;
  readonly text: string;
  sentAt: number;
  attempts: number;
}

/**
 * Registers `count` peers with `inFlight` REGISTERs outstanding.
 *
 * @throws {BenchError} On a denial, a REGISTER unanswered `maxAttempts`
 *   times, or when the run exceeds `timeoutMs`.
 */
export function registerMany(options: RegisterOptions): Promise<RegisterResult> {
  const { pool, serverPort, count, inFlight } = options;
  const retransmitMs = options.retransmitMs ?? 1_000;
  const maxAttempts = options.maxAttempts ?? 10;
  const socketOf = options.socket ?? ((i: number) => i % pool.size);
  const extensions = options.extensions ? ` ${options.extensions}` : "";
  const prefix = `${crypto.randomUUID().slice(0, 8)}-`;
  const outstanding = new Map<string, Outstanding>();
  const latencies = new Float64Array(count);
  /** When the n-th REGISTERED arrived. */
  const completions = new Float64Array(count);
  let next = 0;
  let done = 0;
  let retransmits = 0;
  let start = 0;

  return new Promise<RegisterResult>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      stopListening();
      clearInterval(checker);
      clearTimeout(deadline);
      if (error) return reject(error);
      const elapsedMs = performance.now() - start;
      const windowRates: number[] = [];
      const window = options.window ?? count;
      for (let end = window; end <= count && window > 0; end += window) {
        const from = end === window ? start : completions[end - window - 1]!;
        windowRates.push(window / ((completions[end - 1]! - from) / 1000));
      }
      resolve({
        count,
        elapsedMs,
        perSecond: count / (elapsedMs / 1000),
        retransmits,
        latencyMs: summary(Array.from(latencies)),
        windowRates,
      });
    };
    const send = (entry: Outstanding) => {
      entry.sentAt = performance.now();
      entry.attempts++;
      pool.send(entry.socket, entry.text, serverPort).catch((error) =>
        finish(new BenchError(`Cannot send REGISTER: ${String(error)}`))
      );
    };
    const launch = () => {
      while (outstanding.size < inFlight && next < count) {
        const i = next++;
        const socket = socketOf(i);
        const udpPort = options.udpPort?.(i) ?? pool.port(socket);
        const rq = `${prefix}${i}`;
        const entry: Outstanding = {
          socket,
          text: `REGISTER ${rq} ${options.name(i)} 127.0.0.1 ${udpPort} 9${extensions}`,
          sentAt: 0,
          attempts: 0,
        };
        outstanding.set(rq, entry);
        send(entry);
      }
    };
    const stopListening = pool.listen((message, _socket, at) => {
      const [type, rq] = head(message);
      if (type !== "REGISTERED" && type !== "REGISTER-DENIED") return;
      const entry = outstanding.get(rq);
      if (!entry) return; // a late answer to a retransmitted REGISTER
      if (type === "REGISTER-DENIED") {
        return finish(new BenchError(`REGISTER was denied: ${message} (sent: ${entry.text})`));
      }
      outstanding.delete(rq);
      latencies[Number(rq.slice(prefix.length))] = at - entry.sentAt;
      completions[done] = at;
      done++;
      if (done === count) return finish();
      launch();
    });
    const checker = setInterval(() => {
      const now = performance.now();
      for (const entry of outstanding.values()) {
        if (now - entry.sentAt < retransmitMs) continue;
        if (entry.attempts >= maxAttempts) {
          return finish(
            new BenchError(`No answer to ${entry.text} after ${entry.attempts} sends`),
          );
        }
        retransmits++;
        send(entry);
      }
    }, Math.min(100, retransmitMs / 2));
    const deadline = setTimeout(
      () =>
        finish(
          new BenchError(
            `Registering ${count} peers took longer than ${options.timeoutMs} ms (${done} done)`,
          ),
        ),
      options.timeoutMs,
    );
    start = performance.now();
    if (count === 0) return finish();
    launch();
  });
}
