/**
 * The server's TCP legs of purchases, run in the background beside the
 * market: a `transact` effect opens the leg (its outcome comes back to the
 * market as a `transacted` event), a `conclude` effect ends it on the wire,
 * and a settled sale's Shipping_Info is delivered on new connections until
 * it arrives (each arrival comes back as a `delivered` event).
 *
 * @module
 */
import { logger } from "../log/setup.ts";
import type { Clock } from "../shell/clock.ts";
import { ConnectionSlots } from "./connection_slots.ts";
import type { Effect, ServerEvent } from "./market_turn.ts";
import type { PaymentProcessor } from "./payment.ts";
import {
  type Conclusion,
  deliverShipping,
  Transaction,
  type TransactionPlan,
} from "./transaction.ts";
import { ConclusionMachine, deliveryPause } from "./transaction_machine.ts";

const log = logger("server");

/** What the legs need from the server. */
export interface LegsOptions {
  readonly processor: PaymentProcessor;
  /** How long a peer has to answer on TCP. */
  readonly timeoutMs: number;
  /** Seals a TCP message for a peer's session. */
  readonly seal: (name: string, text: string) => string;
  readonly clock: Clock;
  /** Hands an event to the market, after those before it. */
  readonly enqueue: (event: ServerEvent) => void;
}

/** The TCP legs under way, and the deliveries of settled sales. */
export class TransactionLegs implements AsyncDisposable {
  readonly #options: LegsOptions;
  /** Transactions whose TCP leg is open, by their RQ#. */
  readonly #transactions = new Map<string, Transaction>();
  readonly #background = new Set<Promise<void>>();
  /** The delivery under way for each `request\0role`; a newer one replaces it. */
  readonly #deliveries = new Map<string, AbortController>();
  /** Bounds the TCP connections open to each peer (transactions and deliveries). */
  readonly #slots = new ConnectionSlots();
  /** Aborts the background work's waits at close. */
  readonly #stopping = new AbortController();

  constructor(options: LegsOptions) {
    this.#options = options;
  }

  /** Runs a transaction's TCP leg in the background; its outcome comes back as an event. */
  transact(effect: Extract<Effect, { kind: "transact" }>): void {
    const { buyer, seller } = effect.plan;
    for (const party of [buyer, seller]) {
      if (!party.ca) {
        log.warning(
          "Transaction {id}: card data from {name} crosses the network in plain text (a classic peer)",
          {
            id: effect.plan.id,
            name: party.name,
          },
        );
      }
    }
    const timeoutMs = this.#options.timeoutMs;
    const transaction = new Transaction(effect.plan, {
      processor: this.#options.processor,
      timeoutMs,
      seal: this.#options.seal,
      slots: this.#slots,
      signal: this.#stopping.signal,
    });
    const id = effect.plan.id;
    this.#transactions.get(id)?.[Symbol.asyncDispose]();
    this.#transactions.set(id, transaction);
    this.#inBackground((async () => {
      const outcome = await transaction.run();
      this.#options.enqueue({
        kind: "transacted",
        request: effect.request,
        tx: id,
        outcome,
        at: this.#options.clock.now(),
      });
      // The market concludes it in a coming batch (with CANCEL when its
      // purchase ended meanwhile); one whose outcome it ignored (a stale
      // run) is closed here, so its connections and slots are not held for
      // ever.
      await pause(timeoutMs, this.#stopping.signal, this.#options.clock);
      if (this.#transactions.get(id) === transaction) {
        this.#transactions.delete(id);
        await transaction[Symbol.asyncDispose]();
      }
    })());
  }

  /** Ends a transaction on the wire, after its outcome is stored. */
  conclude(effect: Extract<Effect, { kind: "conclude" }>): void {
    const transaction = this.#transactions.get(effect.plan.id);
    this.#transactions.delete(effect.plan.id);
    const { conclusion } = effect;
    this.#inBackground((async () => {
      // Without a live transaction (the server restarted) nobody was told yet.
      const rest = transaction
        ? await transaction.conclude(conclusion, effect.deliver)
        : new ConclusionMachine(effect.plan, conclusion, effect.deliver).start(false);
      if (!conclusion.ok) return;
      await Promise.all(rest.map(async (next) => {
        if (next.kind !== "delivered" && next.kind !== "deliver") return;
        // Whoever the live connection did not reach gets it on a new one.
        if (
          next.kind === "delivered" ||
          await this.#deliver(effect.request, effect.plan, conclusion, next.role)
        ) {
          this.#options.enqueue({
            kind: "delivered",
            request: effect.request,
            to: next.role,
            at: this.#options.clock.now(),
          });
        }
      }));
    })());
  }

  /** Delivers Shipping_Info on new connections until it arrives, or the tries run out. */
  async #deliver(
    request: string,
    plan: TransactionPlan,
    conclusion: Extract<Conclusion, { ok: true }>,
    role: "seller" | "buyer",
  ): Promise<boolean> {
    const key = `${request}\0${role}`;
    this.#deliveries.get(key)?.abort();
    const replaced = new AbortController();
    this.#deliveries.set(key, replaced);
    const signal = AbortSignal.any([replaced.signal, this.#stopping.signal]);
    try {
      for (let attempt = 0; !signal.aborted; attempt++) {
        const wait = deliveryPause(attempt);
        if (wait === undefined) break;
        if (wait > 0) {
          await pause(wait, signal, this.#options.clock);
          if (signal.aborted) break;
        }
        const delivered = await deliverShipping(plan, conclusion, {
          timeoutMs: this.#options.timeoutMs,
          seal: this.#options.seal,
          slots: this.#slots,
          signal,
        }, role);
        if (delivered) return true;
      }
      return false;
    } finally {
      if (this.#deliveries.get(key) === replaced) this.#deliveries.delete(key);
    }
  }

  #inBackground(work: Promise<void>): void {
    const tracked = work.catch((error) => {
      log.error("Background work failed: {error}", { error: String(error) });
    }).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /** Ends every wait, closes the open legs and waits for the background work. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopping.abort();
    await Promise.all([...this.#transactions.values()].map((tx) => tx[Symbol.asyncDispose]()));
    await Promise.allSettled([...this.#background]);
  }
}

/** Waits `ms` on the clock, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clock.clear(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.set(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
