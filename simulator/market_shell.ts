/**
 * The server's shell in the simulated world: it hands the market events,
 * commits each event's writes to its store through the commit queue and
 * only then carries out the other effects (datagrams on the network, TCP
 * legs, logs), arms its wake-up at its next deadline, and rebuilds the
 * market from its store after a crash, or after it stopped because the
 * store failed too long, as `server/server.ts` does with KV and sockets.
 *
 * @module
 */
import type { Address } from "../protocol/mod.ts";
import { Market, type MarketTimers, type ServerEvent } from "../server/market.ts";
import { type CommitMode, ShellCommits } from "./_commits.ts";
import { marketActions } from "./_effects.ts";
import type { ShellHost } from "./_shell.ts";
import type { Network } from "./network.ts";
import { marketSnapshot, type RecordStore } from "./records.ts";
import type { SimulatedStore } from "./storage.ts";
import type { LegShell } from "./leg_shell.ts";

/** The simulated market's timers: short, so that every timeout fires within a run. */
export const TIMERS: MarketTimers = {
  offerWindow: 1_000,
  searchTimeout: 5_000,
  negotiationTimeout: 2_000,
  reserveTimeout: 3_000,
  retention: 60_000,
  holdTimeout: 1_000,
};

/** The market, its store, and its shell's timer. */
export class MarketShell {
  readonly #host: ShellHost;
  readonly #address: Address;
  readonly #network: Network;
  readonly #leg: LegShell;
  readonly #disk: SimulatedStore;
  readonly #commits: ShellCommits;
  #market: Market | undefined;
  /** Bumped by every start and crash: a wake-up of an earlier life does nothing. */
  #boot = 0;
  #armed: number | undefined;

  constructor(
    host: ShellHost,
    parts: {
      address: Address;
      network: Network;
      leg: LegShell;
      store: SimulatedStore;
      mode: CommitMode;
    },
  ) {
    this.#host = host;
    this.#address = parts.address;
    this.#network = parts.network;
    this.#leg = parts.leg;
    this.#disk = parts.store;
    this.#commits = new ShellCommits(host, parts.store, "server", parts.mode);
  }

  /** What the market stored: what a restart rebuilds it from. */
  get store(): RecordStore {
    return this.#disk.records;
  }

  /** Whether the market is running. */
  get up(): boolean {
    return this.#market !== undefined;
  }

  /** Starts the market from its records (a restart, after the first). */
  start(): void {
    if (this.#market) return;
    if (!this.#disk.available) {
      return this.#host.stopped("server", {
        reason: "cannot read its store",
        atStart: true,
        restart: () => this.start(),
      });
    }
    this.#boot++;
    this.#commits.open((error) => this.#stopped(error.message));
    let ids = 0;
    const boot = this.#boot;
    this.#market = new Market(marketSnapshot(this.store), {
      allowPlaintext: true,
      strictTransitions: true,
      timers: TIMERS,
      newId: () => `s${boot}-${++ids}`,
      liveness: { offlineAfter: 0, forgetAfter: 0 },
    });
    this.#armed = undefined;
    // A restored market wants a tick at once (nextDeadline 0): its shell's
    // wake-up gives it one, as here.
    this.#arm();
  }

  /** Hands the market an event, if it runs, and does what it asks. */
  handle(event: ServerEvent): void {
    const market = this.#market;
    if (!market) return;
    const actions = marketActions(market.handle(event));
    this.#host.audit("server", actions);
    this.#commits.push(actions, (batch) => {
      this.#host.perform("server", actions, batch, (action) => {
        if (action.kind === "udp") this.#network.send(this.#address, action.to!, action.message);
        else if (action.kind === "transact") this.#leg.transact(action.request, action.plan);
        else if (action.kind === "conclude") {
          this.#leg.conclude(action.request, action.plan, action.conclusion, action.deliver);
        }
      });
    });
    this.#arm();
  }

  /**
   * The server process dies: its memory (the market, its transactions and
   * deliveries) is gone, its records stay.
   *
   * @returns Whether it was running.
   */
  crash(): boolean {
    if (!this.#market) return false;
    this.#market = undefined;
    this.#boot++;
    this.#armed = undefined;
    this.#commits.close();
    this.#leg.marketCrashed();
    return true;
  }

  /** The commit queue gave up: the server stops, as a crash, and its supervisor restarts it. */
  #stopped(reason: string): void {
    this.crash();
    this.#host.stopped("server", { reason, restart: () => this.start() });
  }

  #arm(): void {
    const deadline = this.#market?.nextDeadline();
    if (deadline === this.#armed) return;
    this.#armed = deadline;
    if (deadline === undefined) return;
    const boot = this.#boot;
    this.#host.at(deadline, "server wakes", () => {
      if (boot !== this.#boot || this.#armed !== deadline) return;
      this.#armed = undefined;
      this.handle({ kind: "tick", at: this.#host.now() });
    });
  }
}
