/**
 * One simulated run: the real `Market` and a few real `Agent`s in one
 * process, on a virtual clock, joined by a lossy in-memory network and the
 * simulated TCP leg, driven by a workload and crashes drawn from one seed.
 * The simulator plays the shells: it keeps each machine's records (writes
 * of one event applied together), arms each machine's wake-up at its next
 * deadline, and rebuilds a crashed machine from its records.
 *
 * The shells are `market_shell.ts` and `agent_shell.ts` (which also stands
 * in for the shells' crypto); this file wires them to the network, the TCP
 * leg and the workload, runs the clock, and checks the rules after every
 * step (`invariants.ts`).
 *
 * @module
 */
import { type Address, decode, formatAddress } from "../protocol/mod.ts";
import type { Action } from "./_effects.ts";
import type { ShellHost, Task } from "./_shell.ts";
import { AgentShell } from "./agent_shell.ts";
import { EventQueue } from "./clock.ts";
import { cardIn, checkEnd, checkSafety, type WorldView } from "./invariants.ts";
import {
  type Datagram,
  DEFAULT_FAULTS,
  type FaultRates,
  Network,
  type NetworkStats,
} from "./network.ts";
import { MarketShell } from "./market_shell.ts";
import { Random } from "./random.ts";
import { ledger } from "./records.ts";
import { TcpLeg } from "./tcp_leg.ts";
import { ACTIVE_MS, makeWorkload, type WorkloadOptions } from "./workload.ts";

/** The simulated world's start: a fixed date, so that card expiry checks replay too. */
export const START = Date.UTC(2026, 10, 25, 12);
const SERVER: Address = { hostname: "10.0.0.1", port: 5000 };
const TRANSACTION_TIMEOUT_MS = 3_000;
/** After the workload, the clock may run this long for every timeout and delivery to play out. */
const SETTLE_MS = 20 * 60_000;
const MAX_STEPS = 200_000;
const TRACE_TAIL = 30;

/** Options of a run. */
export interface SimulationOptions extends WorkloadOptions {
  readonly faults?: FaultRates;
  /** Keep every trace line (for replay comparisons); otherwise only the last few. */
  readonly keepTrace?: boolean;
}

/** What a run did. */
export interface RunResult {
  readonly seed: number;
  readonly steps: number;
  /** Virtual time the run took. */
  readonly virtualMs: number;
  readonly network: Readonly<NetworkStats>;
  readonly crashes: number;
  readonly sales: number;
  readonly failedTransactions: number;
  readonly searches: number;
  /** A hash of the whole trace: equal runs have equal hashes. */
  readonly traceHash: string;
  /** The whole trace, when `keepTrace` was set. */
  readonly trace?: readonly string[];
}

/** A broken rule, with what is needed to replay it. */
export class SimulationFailure extends Error {
  readonly seed: number;
  readonly step: number;
  readonly violation: string;
  readonly trace: readonly string[];

  constructor(seed: number, step: number, violation: string, trace: readonly string[]) {
    super(
      `Seed ${seed} failed at step ${step}: ${violation}\n` +
        `Replay: deno task simulate --seed ${seed}\nLast events:\n  ${trace.join("\n  ")}`,
    );
    this.name = "SimulationFailure";
    this.seed = seed;
    this.step = step;
    this.violation = violation;
    this.trace = trace;
  }
}

/** Runs one seed; throws {@linkcode SimulationFailure} when a rule breaks. */
export function simulate(seed: number, options: SimulationOptions = {}): RunResult {
  return new Simulation(seed, options).run();
}

class Simulation {
  readonly #seed: number;
  readonly #queue = new EventQueue<Task>(START);
  readonly #network: Network;
  readonly #leg: TcpLeg;
  readonly #market: MarketShell;
  readonly #agents = new Map<string, AgentShell>();
  readonly #byAddress = new Map<string, AgentShell>();
  readonly #view: WorldView;
  readonly #keepTrace: boolean;
  readonly #trace: string[] = [];
  #hash = 0x811c9dc5;
  #step = 0;
  #crashes = 0;

  constructor(seed: number, options: SimulationOptions) {
    this.#seed = seed;
    const root = new Random(seed);
    const workload = makeWorkload(root.fork(), options);
    const random = root.fork();
    const users = root.fork();
    this.#keepTrace = options.keepTrace ?? false;
    const host: ShellHost = {
      now: () => this.#queue.now,
      at: (at, label, run) => this.#queue.schedule(at, { label, run }),
      later: (delay, label, run) => this.#later(delay, label, run),
      perform: (who, actions, rest) => this.#perform(who, actions, rest),
    };
    this.#network = new Network(root.fork(), options.faults ?? DEFAULT_FAULTS, (delay, d) => {
      this.#later(delay, `udp ${this.#nameOf(d.from)}→${this.#nameOf(d.to)} ${d.text}`, () => {
        this.#arrive(d);
      });
    });
    this.#leg = new TcpLeg({
      now: () => this.#queue.now,
      later: (delay, label, run) => this.#later(delay, label, run),
      latency: () => random.int(1, 30),
      agentUp: (name) => this.#agents.get(name)?.up ?? false,
      toAgent: (name, event) => {
        const at = this.#queue.now;
        this.#agents.get(name)!.handle(
          event.kind === "tcp"
            ? { kind: "tcp", conn: event.conn, message: event.message, at }
            : { kind: "tcp-closed", conn: event.conn, cause: "remote", at },
        );
      },
      toMarket: (event) => this.#market.handle(event),
    }, TRANSACTION_TIMEOUT_MS);
    this.#market = new MarketShell(host, SERVER, this.#network, this.#leg);
    workload.agents.forEach((plan, i) => {
      const profile = {
        name: plan.name,
        ip: `10.0.1.${i + 1}`,
        udpPort: 6000,
        tcpPort: 7000,
        server: SERVER,
      };
      const shell = new AgentShell(host, {
        plan,
        profile,
        network: this.#network,
        leg: this.#leg,
        users,
      });
      this.#agents.set(plan.name, shell);
      this.#byAddress.set(formatAddress(shell.address), shell);
    });
    this.#view = {
      market: this.#market.store,
      agents: new Map([...this.#agents].map(([name, shell]) => [name, shell.store])),
      cards: [...new Set(workload.agents.map((plan) => plan.card))],
    };
    this.#later(0, "server starts", () => this.#market.start());
    for (const shell of this.#agents.values()) {
      this.#later(0, `${shell.plan.name} starts`, () => shell.start());
    }
    for (const line of workload.lines) {
      this.#later(line.at, `${line.agent} types: ${line.text}`, () => {
        this.#agents.get(line.agent)!.handle({
          kind: "line",
          text: line.text,
          at: this.#queue.now,
        });
      });
    }
    for (const crash of workload.crashes) {
      this.#later(crash.at, `${crash.node} crashes for ${crash.downFor} ms`, () => {
        this.#crash(crash.node, crash.downFor);
      });
    }
  }

  run(): RunResult {
    const end = START + ACTIVE_MS + SETTLE_MS;
    for (;;) {
      const next = this.#queue.peek();
      if (next === undefined || next > end) break;
      if (++this.#step > MAX_STEPS) this.#fail(`the run did not settle within ${MAX_STEPS} steps`);
      const { event } = this.#queue.pop()!;
      this.#record(event.label);
      event.run();
      const broken = checkSafety(this.#view);
      if (broken) this.#fail(broken);
    }
    if (this.#queue.size > 0) {
      this.#fail(`events still scheduled ${SETTLE_MS / 60_000} minutes after the workload ended`);
    }
    const broken = checkEnd(this.#view);
    if (broken) this.#fail(`at the end: ${broken}`);
    const entries = ledger(this.#market.store);
    let searches = 0;
    for (const shell of this.#agents.values()) searches += shell.store.all("request").length;
    return {
      seed: this.#seed,
      steps: this.#step,
      virtualMs: this.#queue.now - START,
      network: { ...this.#network.stats },
      crashes: this.#crashes,
      sales: entries.filter((entry) => entry.outcome === "completed").length,
      failedTransactions: entries.filter((entry) => entry.outcome === "cancelled").length,
      searches,
      traceHash: (this.#hash >>> 0).toString(16).padStart(8, "0"),
      ...(this.#keepTrace ? { trace: [...this.#trace] } : {}),
    };
  }

  /** A datagram reaches the server or a peer, through the codec as on a real socket. */
  #arrive(datagram: Datagram): void {
    this.#network.arrived();
    const decoded = decode(datagram.text);
    if (formatAddress(datagram.to) !== formatAddress(SERVER)) {
      this.#byAddress.get(formatAddress(datagram.to))?.receive(datagram.from, decoded);
      return;
    }
    const at = this.#queue.now;
    const from = datagram.from;
    const bytes = datagram.text.length;
    if (!decoded.ok) {
      return this.#market.handle({ kind: "invalid", from, error: decoded.error, bytes, at });
    }
    const sender = this.#byAddress.get(formatAddress(from));
    this.#market.handle({
      kind: "message",
      from,
      message: decoded.message,
      bytes,
      at,
      ...sender?.proof(decoded.message),
    });
  }

  #crash(name: string, downFor: number): void {
    if (name === "market") {
      if (!this.#market.crash()) return;
      this.#crashes++;
      this.#later(downFor, "server restarts", () => this.#market.start());
      return;
    }
    const shell = this.#agents.get(name)!;
    if (!shell.crash()) return;
    this.#crashes++;
    this.#later(downFor, `${name} restarts`, () => shell.start());
  }

  // --------------------------------------------------------- bookkeeping

  /**
   * Does what one event's actions ask, as a shell would: the writes first,
   * all together, then the rest in order; and audits every record, line and
   * log for card numbers.
   */
  #perform(who: string, actions: readonly Action[], rest: (action: Action) => void): void {
    const store = who === "server" ? this.#market.store : this.#agents.get(who)!.store;
    store.apply(actions);
    for (const action of actions) {
      const text = action.kind === "write"
        ? JSON.stringify(action.value ?? null)
        : action.kind === "print"
        ? JSON.stringify(action.output)
        : action.kind === "log"
        ? action.text
        : undefined;
      const card = text === undefined ? undefined : cardIn(text, this.#view.cards);
      if (card) {
        this.#fail(`a card number (${card.length} digits) is in ${who}'s ${action.kind}: ${text}`);
      }
      if (action.kind === "log" && action.level !== "debug") {
        this.#record(`${who} logs ${action.level}: ${action.text}`);
      }
      if (action.kind === "print") {
        this.#record(`${who} prints ${action.output.event}: ${action.output.text}`);
      }
      if (action.kind !== "write") rest(action);
    }
  }

  #later(delay: number, label: string, run: () => void): void {
    this.#queue.after(delay, { label, run });
  }

  #nameOf(address: Address): string {
    if (formatAddress(address) === formatAddress(SERVER)) return "server";
    return this.#byAddress.get(formatAddress(address))?.plan.name ?? formatAddress(address);
  }

  #record(label: string): void {
    const line = `+${this.#queue.now - START} ${label}`;
    const card = cardIn(line, this.#view.cards);
    if (card) this.#fail(`a card number is in the trace: ${line}`);
    for (let i = 0; i < line.length; i++) {
      this.#hash = Math.imul(this.#hash ^ line.charCodeAt(i), 0x01000193);
    }
    this.#trace.push(line);
    if (!this.#keepTrace && this.#trace.length > TRACE_TAIL * 2) {
      this.#trace.splice(0, this.#trace.length - TRACE_TAIL);
    }
  }

  #fail(violation: string): never {
    const trace = this.#keepTrace ? this.#trace : this.#trace.slice(-TRACE_TAIL);
    throw new SimulationFailure(this.#seed, this.#step, violation, trace);
  }
}
