/**
 * One simulated run: the real `Market` and a few real `Agent`s in one
 * process, on a virtual clock, joined by a lossy in-memory network and the
 * simulated TCP leg, driven by a workload and crashes drawn from one seed.
 * The simulator plays the shells: it commits each machine's writes (those
 * of one event together) through the real commit queue to a store whose
 * commits fail, are slow, or fail after writing (`storage.ts`), acts on an
 * event only once its writes are stored, arms each machine's wake-up at
 * its next deadline, and rebuilds a crashed or stopped machine from its
 * store.
 *
 * The shells are `market_shell.ts` and `agent_shell.ts` (which also stands
 * in for the shells' crypto); this file wires them to the network, the TCP
 * leg, the stores and the workload, runs the clock, and checks the rules
 * after every step (`invariants.ts`, and "everything acknowledged is
 * stored": `acknowledged.ts`).
 *
 * The commit queue is promise-based: after each step the run lets every
 * continuation due run (one turn of the event loop) before it checks the
 * rules, so a reply released by a commit goes out at the commit's virtual
 * time, and a run stays a pure function of its seed.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type Address, decode, formatAddress, type Message } from "../protocol/mod.ts";
import type { CommitMode } from "./_commits.ts";
import type { Action } from "./_effects.ts";
import type { ShellHost, Stop, Task } from "./_shell.ts";
import { Acknowledged, agentClaims, type Claim, serverClaims } from "./acknowledged.ts";
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
import { ledger, type RecordStore } from "./records.ts";
import {
  DEFAULT_STORAGE_FAULTS,
  NO_STORAGE_FAULTS,
  planOutages,
  SimulatedStore,
  type StorageFaults,
  type StorageStats,
  storageStats,
} from "./storage.ts";
import { LegShell } from "./leg_shell.ts";
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
  /** How the stores fail (`DEFAULT_STORAGE_FAULTS`; `NO_STORAGE_FAULTS` for none). */
  readonly storage?: StorageFaults;
  /**
   * How the shells commit: `honest` (the default), or a broken way kept
   * to show that the invariant catches it (see `_commits.ts`).
   */
  readonly commits?: CommitMode;
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
  readonly storage: Readonly<StorageStats>;
  /** Replies sent that claimed a stored state (each checked against the store). */
  readonly claims: number;
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
  /** The command that replays the run. */
  readonly replay: string;

  constructor(
    seed: number,
    step: number,
    violation: string,
    trace: readonly string[],
    replay = replayCommand(seed),
  ) {
    super(
      `Seed ${seed} failed at step ${step}: ${violation}\n` +
        `Replay: ${replay}\nLast events:\n  ${trace.join("\n  ")}`,
    );
    this.name = "SimulationFailure";
    this.seed = seed;
    this.step = step;
    this.violation = violation;
    this.trace = trace;
    this.replay = replay;
  }
}

/** The command line that runs one seed with these options. */
export function replayCommand(seed: number, options: SimulationOptions = {}): string {
  const flags = [`--seed ${seed}`];
  if (options.crashPlaintext) flags.push("--crash-plaintext");
  if (options.storage === NO_STORAGE_FAULTS) flags.push("--no-storage-faults");
  if (options.commits && options.commits !== "honest") flags.push(`--commits ${options.commits}`);
  return `deno task simulate ${flags.join(" ")}`;
}

/** Runs one seed; rejects with {@linkcode SimulationFailure} when a rule breaks. */
export async function simulate(seed: number, options: SimulationOptions = {}): Promise<RunResult> {
  return await new Simulation(seed, options).run();
}

/**
 * Turns of the event loop: each lets every promise continuation due run,
 * and those they queue. `setImmediate` runs once the microtasks are done
 * (a message port's message may come before them; a timer waits a
 * millisecond).
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class Simulation {
  readonly #seed: number;
  readonly #replay: string;
  readonly #queue = new EventQueue<Task>(START);
  readonly #network: Network;
  readonly #leg: LegShell;
  readonly #market: MarketShell;
  readonly #agents = new Map<string, AgentShell>();
  readonly #byAddress = new Map<string, AgentShell>();
  readonly #view: WorldView;
  readonly #stats = storageStats();
  readonly #acknowledged = new Acknowledged();
  /** The batch that first sent each of the server's messages. */
  readonly #sentIn = new WeakMap<Message, number>();
  /** The last batch the server released: the TCP leg's writes come from it or earlier. */
  #serverBatch = 0;
  /** What a promise continuation threw, for the step that let it run. */
  #thrown: { error: unknown } | undefined;
  readonly #keepTrace: boolean;
  readonly #trace: string[] = [];
  #hash = 0x811c9dc5;
  #step = 0;
  #crashes = 0;
  /** The restart delays of stopped shells. */
  readonly #supervisor: Random;

  constructor(seed: number, options: SimulationOptions) {
    this.#seed = seed;
    this.#replay = replayCommand(seed, options);
    const root = new Random(seed);
    const workload = makeWorkload(root.fork(), options);
    const random = root.fork();
    const users = root.fork();
    this.#keepTrace = options.keepTrace ?? false;
    const host: ShellHost = {
      now: () => this.#queue.now,
      at: (at, label, run) => this.#queue.schedule(at, { label, run }),
      later: (delay, label, run) => this.#later(delay, label, run),
      audit: (who, actions) => this.#audit(who, actions),
      perform: (who, actions, batch, rest) => this.#perform(who, actions, batch, rest),
      stopped: (who, stop) => this.#stopped(who, stop),
      note: (line) => this.#record(line),
      resume: (run) => this.#resume(run),
    };
    this.#network = new Network(root.fork(), options.faults ?? DEFAULT_FAULTS, (delay, d) => {
      this.#later(delay, `udp ${this.#nameOf(d.from)}→${this.#nameOf(d.to)} ${d.text}`, () => {
        this.#arrive(d);
      });
    });
    // Forked after the others, so that their streams stay as they were.
    const storage = root.fork();
    this.#supervisor = storage.fork();
    const rates = options.storage ?? DEFAULT_STORAGE_FAULTS;
    const mode = options.commits ?? "honest";
    // Outages stop a machine: only those that may crash have them.
    const outages = planOutages(storage, rates, [
      "server",
      ...workload.agents.filter((a) => a.keyed || options.crashPlaintext).map((a) => a.name),
    ], START);
    const storeOf = (who: string) =>
      new SimulatedStore(who, {
        host,
        random: storage.fork(),
        rates,
        stats: this.#stats,
        outages,
      });
    this.#leg = new LegShell({
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
      written: (name, message) =>
        this.#claim(serverClaims(this.#market.store, name, message, this.#serverBatch)),
    }, TRANSACTION_TIMEOUT_MS);
    this.#market = new MarketShell(host, {
      address: SERVER,
      network: this.#network,
      leg: this.#leg,
      store: storeOf("server"),
      mode,
    });
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
        store: storeOf(plan.name),
        mode,
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

  async run(): Promise<RunResult> {
    const end = START + ACTIVE_MS + SETTLE_MS;
    for (;;) {
      const next = this.#queue.peek();
      if (next === undefined || next > end) break;
      if (++this.#step > MAX_STEPS) this.#fail(`the run did not settle within ${MAX_STEPS} steps`);
      const { event } = this.#queue.pop()!;
      this.#record(event.label);
      try {
        event.run();
      } catch (error) {
        // A machine that throws (an illegal move of a transition table, say)
        // fails the seed, with its replay, like a broken rule.
        if (error instanceof SimulationFailure) throw error;
        this.#fail(`${event.label} threw: ${error instanceof Error ? error.message : error}`);
      }
      await nextTurn();
      if (this.#thrown) {
        const { error } = this.#thrown;
        if (error instanceof SimulationFailure) throw error;
        this.#fail(`${event.label} threw: ${error instanceof Error ? error.message : error}`);
      }
      const broken = checkSafety(this.#view) ?? this.#acknowledged.check(this.#storeOf);
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
      storage: { ...this.#stats },
      claims: this.#acknowledged.made,
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

  /** The shell stopped: its supervisor starts it again a while later. */
  #stopped(who: string, stop: Stop): void {
    if (stop.atStart) this.#stats.failedStarts++;
    else {
      this.#stats.gaveUp++;
      if (who === "server") this.#stats.serverGaveUp++;
    }
    const delay = this.#supervisor.int(100, 2_000);
    this.#record(`${who} stops: ${stop.reason}; restarted in ${delay} ms`);
    this.#later(delay, `${who} restarts from its store`, stop.restart);
  }

  // --------------------------------------------------------- bookkeeping

  /** Audits every record, line and log of one event's actions for card numbers. */
  #audit(who: string, actions: readonly Action[]): void {
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
    }
  }

  /**
   * Does what one event's actions ask besides the writes (stored by now),
   * in order, as a shell would; and notes the claims of what is sent.
   */
  #perform(
    who: string,
    actions: readonly Action[],
    batch: number,
    rest: (action: Action) => void,
  ): void {
    if (who === "server") this.#serverBatch = batch;
    for (const action of actions) {
      if (action.kind === "write") continue;
      if (action.kind === "log" && action.level !== "debug") {
        this.#record(`${who} logs ${action.level}: ${action.text}`);
      }
      if (action.kind === "print") {
        this.#record(`${who} prints ${action.output.event}: ${action.output.text}`);
        this.#claim(agentClaims(who, { output: action.output }, batch));
      }
      if (action.kind === "tcp-send") {
        this.#claim(agentClaims(who, { message: action.message }, batch));
      }
      if (action.kind === "udp" && who === "server") {
        const to = this.#byAddress.get(formatAddress(action.to!))?.plan.name;
        // A message sent again (a retransmission, a reply cache hit) is the
        // same object: it claims what it claimed when its batch first sent it.
        const first = this.#sentIn.get(action.message) ?? batch;
        this.#sentIn.set(action.message, first);
        if (to) this.#claim(serverClaims(this.#market.store, to, action.message, first));
      }
      rest(action);
    }
  }

  #claim(claims: readonly Claim[]): void {
    if (claims.length === 0) return;
    const broken = this.#acknowledged.add(claims, this.#storeOf);
    if (broken) this.#fail(broken);
  }

  readonly #storeOf = (who: string): RecordStore =>
    who === "server" ? this.#market.store : this.#agents.get(who)!.store;

  #resume(run: () => void): void {
    if (this.#thrown) return;
    try {
      run();
    } catch (error) {
      this.#thrown = { error };
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
    throw new SimulationFailure(this.#seed, this.#step, violation, trace, this.#replay);
  }
}
