/**
 * The simulated UDP network: every datagram is, from the seed, dropped,
 * duplicated or held back, each copy with its own delay, so datagrams also
 * overtake each other. Datagrams travel as wire text, so the codec is in
 * the loop as it is on a real socket.
 *
 * @module
 */
import { type Address, encode, formatAddress, type Message } from "../protocol/mod.ts";
import type { Random } from "./random.ts";

/** How unreliable the network is: probabilities per datagram, times in milliseconds. */
export interface FaultRates {
  /** Probability that a datagram is lost. */
  readonly drop: number;
  /** Probability that a datagram that is not lost arrives twice. */
  readonly duplicate: number;
  /** Probability that a copy is held back by up to `maxDelay`. */
  readonly delay: number;
  /** The longest hold-up of a delayed copy. */
  readonly maxDelay: number;
  /** The range of the ordinary transit time. */
  readonly minLatency: number;
  readonly maxLatency: number;
}

/** A lossy network's defaults: bad enough that every fault shows within a run. */
export const DEFAULT_FAULTS: FaultRates = {
  drop: 0.1,
  duplicate: 0.05,
  delay: 0.1,
  maxDelay: 1_500,
  minLatency: 1,
  maxLatency: 20,
};

/** A datagram in flight. */
export interface Datagram {
  readonly from: Address;
  readonly to: Address;
  readonly text: string;
}

/** What the network did, for the run's report. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  delayed: number;
}

/** An in-memory datagram network on the simulator's clock. */
export class Network {
  readonly #random: Random;
  readonly #rates: FaultRates;
  readonly #schedule: (delay: number, datagram: Datagram) => void;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, delayed: 0 };

  /**
   * @param random The network's own stream of chance.
   * @param schedule Puts a datagram's arrival on the clock, `delay` from now.
   */
  constructor(
    random: Random,
    rates: FaultRates,
    schedule: (delay: number, datagram: Datagram) => void,
  ) {
    this.#random = random;
    this.#rates = rates;
    this.#schedule = schedule;
  }

  /** Sends one datagram; its copies (none, one or two) arrive later. */
  send(from: Address, to: Address, message: Message): void {
    this.stats.sent++;
    const random = this.#random;
    const rates = this.#rates;
    if (random.chance(rates.drop)) {
      this.stats.dropped++;
      return;
    }
    const copies = random.chance(rates.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const datagram = { from, to, text: encode(message) };
    for (let copy = 0; copy < copies; copy++) {
      let delay = random.int(rates.minLatency, rates.maxLatency);
      if (random.chance(rates.delay)) {
        this.stats.delayed++;
        delay += random.int(1, rates.maxDelay);
      }
      this.#schedule(delay, datagram);
    }
  }

  /** Counts an arrival (the simulator calls this as it hands a datagram over). */
  arrived(): void {
    this.stats.delivered++;
  }
}

/** The key of an address in the simulator's tables. */
export function addressKey(address: Address): string {
  return formatAddress(address);
}
