/**
 * Retransmission over UDP without I/O: what to send again and when, with a
 * timeout that adapts to the measured round-trip time (RFC 6298's smoothed
 * RTT and variance, Karn's rule of not sampling retransmitted messages) and
 * exponential backoff up to a cap, as CoAP (RFC 7252) does for confirmable
 * messages. The caller sends; this only keeps the books.
 *
 * @module
 */
import { DeadlineQueue } from "./deadlines.ts";

/** Timing of retransmissions, in milliseconds. */
export interface RetransmitOptions {
  /** The timeout before any RTT was measured. */
  readonly initialRto: number;
  readonly minRto: number;
  readonly maxRto: number;
  /** Sends in all, the first included, before giving up. */
  readonly maxAttempts: number;
}

/** Defaults: 12 sends; with the timeout capped at 4 s they span at most about 35 s. */
export const DEFAULT_RETRANSMIT: RetransmitOptions = {
  initialRto: 250,
  minRto: 50,
  maxRto: 4_000,
  maxAttempts: 12,
};

/** Smoothed round-trip time of one destination (RFC 6298). */
export class RttEstimator {
  #srtt: number | undefined;
  #rttvar = 0;
  readonly #options: RetransmitOptions;

  constructor(options: RetransmitOptions) {
    this.#options = options;
  }

  /** Adds one round-trip measurement. */
  sample(rtt: number): void {
    if (this.#srtt === undefined) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
  }

  /** The smoothed RTT, if measured. */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  /** The retransmission timeout for a first send. */
  rto(): number {
    if (this.#srtt === undefined) return this.#options.initialRto;
    const rto = this.#srtt + Math.max(10, 4 * this.#rttvar);
    return Math.min(Math.max(rto, this.#options.minRto), this.#options.maxRto);
  }
}

interface Outstanding<T> {
  readonly payload: T;
  readonly destination: string;
  readonly firstSentAt: number;
  attempts: number;
  nextAt: number;
  timeout: number;
}

/** A message to send again, or one given up on. */
export interface Due<T> {
  readonly key: string;
  readonly payload: T;
  /** The number of this send (2 for the first retransmission). */
  readonly attempt: number;
}

/** Most destinations whose RTT is remembered. */
const MAX_ESTIMATORS = 10_000;

/**
 * Messages awaiting acknowledgement, each under a key that the
 * acknowledgement names (for example `peer TYPE rq`).
 */
export class Retransmitter<T> {
  readonly #options: RetransmitOptions;
  readonly #outstanding = new Map<string, Outstanding<T>>();
  readonly #estimators = new Map<string, RttEstimator>();
  readonly #deadlines = new DeadlineQueue();

  constructor(options: Partial<RetransmitOptions> = {}) {
    this.#options = { ...DEFAULT_RETRANSMIT, ...options };
  }

  /** How many messages await acknowledgement. */
  get size(): number {
    return this.#outstanding.size;
  }

  /** Whether a message under this key awaits acknowledgement. */
  has(key: string): boolean {
    return this.#outstanding.has(key);
  }

  /** The RTT estimator of a destination. */
  estimator(destination: string): RttEstimator {
    let estimator = this.#estimators.get(destination);
    if (!estimator) {
      if (this.#estimators.size >= MAX_ESTIMATORS) {
        this.#estimators.delete(this.#estimators.keys().next().value!);
      }
      estimator = new RttEstimator(this.#options);
      this.#estimators.set(destination, estimator);
    }
    return estimator;
  }

  /**
   * Records a message the caller has just sent for the first time. Tracking
   * a key already tracked keeps the original (a duplicate send).
   */
  track(key: string, payload: T, destination: string, now: number): void {
    if (this.#outstanding.has(key)) return;
    const timeout = this.estimator(destination).rto();
    const entry = {
      payload,
      destination,
      firstSentAt: now,
      attempts: 1,
      nextAt: now + timeout,
      timeout,
    };
    this.#outstanding.set(key, entry);
    this.#deadlines.push({ at: entry.nextAt, key });
  }

  /**
   * Marks a message acknowledged.
   *
   * @returns Its payload, or `undefined` if it was not awaited (a late or
   *   duplicate acknowledgement).
   */
  ack(key: string, now: number): T | undefined {
    const entry = this.#outstanding.get(key);
    if (!entry) return undefined;
    this.#outstanding.delete(key);
    // Karn: only an unambiguous round trip (no retransmission) is a sample.
    if (entry.attempts === 1) this.estimator(entry.destination).sample(now - entry.firstSentAt);
    return entry.payload;
  }

  /** Stops awaiting a message without an acknowledgement. */
  forget(key: string): void {
    this.#outstanding.delete(key);
  }

  /** When the next retransmission is due. */
  nextDeadline(): number | undefined {
    while (true) {
      const top = this.#deadlines.peek();
      if (!top) return undefined;
      const entry = this.#outstanding.get(top.key);
      if (entry && entry.nextAt === top.at) return top.at;
      this.#deadlines.popDue(Number.POSITIVE_INFINITY); // stale: drop it
    }
  }

  /**
   * What to do at `now`: messages to send again (with their backoff already
   * applied) and messages given up on after the last attempt.
   */
  due(now: number): { resend: Due<T>[]; expired: Due<T>[] } {
    const resend: Due<T>[] = [];
    const expired: Due<T>[] = [];
    for (let top = this.#deadlines.popDue(now); top; top = this.#deadlines.popDue(now)) {
      const entry = this.#outstanding.get(top.key);
      if (!entry || entry.nextAt !== top.at) continue;
      if (entry.attempts >= this.#options.maxAttempts) {
        this.#outstanding.delete(top.key);
        expired.push({ key: top.key, payload: entry.payload, attempt: entry.attempts });
        continue;
      }
      entry.attempts++;
      entry.timeout = Math.min(entry.timeout * 2, this.#options.maxRto);
      entry.nextAt = now + entry.timeout;
      this.#deadlines.push({ at: entry.nextAt, key: top.key });
      resend.push({ key: top.key, payload: entry.payload, attempt: entry.attempts });
    }
    return { resend, expired };
  }
}
