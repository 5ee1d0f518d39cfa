/**
 * The simulated world's shell around the server's TCP leg: it carries out
 * the market's `transact` and `conclude` effects over in-memory connections
 * to the agents. The leg itself is the machine the real `Transaction` runs
 * on sockets (`server/transaction_machine.ts`: what to send, how INFORM_Res
 * is judged and the cards checked, when the wait ends, what the outcome is,
 * how deliveries are retried) and `server/transaction_flow.ts` (how the leg
 * ends, what confirms Shipping_Info); only the waiting is simulated:
 * connects, reads and their timeouts are events on the clock.
 *
 * Connections are reliable and ordered, as TCP is: each direction delivers
 * in order, with a transit time drawn from the seed. A crashed agent's
 * connections break; a crashed server loses every transaction it ran (they
 * live in its memory only) and the restarted market runs them again.
 *
 * @module
 */
import type { Message } from "../protocol/mod.ts";
import type { ServerEvent } from "../server/market.ts";
import type { Conclusion, TransactionOutcome, TransactionPlan } from "../server/transaction.ts";
import { confirmsShipping, type PartyRole, shippingInfo } from "../server/transaction_flow.ts";
import {
  awaitsAck,
  type ConclusionEffect,
  ConclusionMachine,
  deliveryPause,
  type LegEffect,
  TransactionMachine,
} from "../server/transaction_machine.ts";

/** What the TCP leg needs from the simulated world. */
export interface LegHost {
  /** The current virtual time. */
  now(): number;
  /** Runs `run` `delay` ms from now; `label` goes into the trace. */
  later(delay: number, label: string, run: () => void): void;
  /** One connection's transit time, from the seed. */
  latency(): number;
  /** Whether an agent of that name is running (and so accepts connections). */
  agentUp(name: string): boolean;
  /** Hands an agent a TCP event of one of its connections. */
  toAgent(
    name: string,
    event:
      | { kind: "tcp"; conn: number; message: Message }
      | { kind: "tcp-closed"; conn: number },
  ): void;
  /** Hands the market an event (`transacted`, `delivered`). */
  toMarket(event: ServerEvent): void;
  /** The server wrote `message` to the agent `name` (for the claims it makes). */
  written?(name: string, message: Message): void;
}

/** One in-memory TCP connection between the server and an agent. */
interface Connection {
  readonly id: number;
  readonly agent: string;
  /** Open on the server's side. */
  open: boolean;
  /** Closed by the agent: what the server writes now is not read. */
  agentClosed: boolean;
  /** When the last message each way arrives: later ones arrive after it. */
  toAgentAt: number;
  toServerAt: number;
  /** What the server side does with the next message or the close. */
  onMessage?: (message: Message) => void;
  onClose?: () => void;
}

interface Running {
  readonly request: string;
  readonly plan: TransactionPlan;
  readonly machine: TransactionMachine;
  readonly conns: Partial<Record<PartyRole, Connection>>;
  /** Run again (after the market restarted): this attempt is over. */
  replaced: boolean;
}

/** Counts for the run's report. */
export interface LegStats {
  transactions: number;
  deliveries: number;
}

/** The server's TCP leg in the simulated world. */
export class LegShell {
  readonly #host: LegHost;
  readonly #timeoutMs: number;
  #nextConn = 1;
  readonly #conns = new Map<number, Connection>();
  readonly #running = new Map<string, Running>();
  /** The delivery in progress per `request\0role`, by a token that a newer one replaces. */
  readonly #deliveries = new Map<string, number>();
  #deliveryToken = 0;
  /** Bumped by a server crash: callbacks of a dead server do nothing. */
  #epoch = 0;
  readonly stats: LegStats = { transactions: 0, deliveries: 0 };

  /** @param timeoutMs How long each party has to connect and answer (`--transaction-timeout`). */
  constructor(host: LegHost, timeoutMs: number) {
    this.#host = host;
    this.#timeoutMs = timeoutMs;
  }

  /** The market's `transact` effect: collect both parties' details and charge. */
  transact(request: string, plan: TransactionPlan): void {
    this.stats.transactions++;
    const previous = this.#running.get(plan.id);
    if (previous) {
      previous.replaced = true;
      this.#closeAll(previous);
    }
    const running: Running = {
      request,
      plan,
      machine: new TransactionMachine(plan, new Date(this.#host.now())),
      conns: {},
      replaced: false,
    };
    this.#running.set(plan.id, running);
    const epoch = this.#epoch;
    for (const role of ["buyer", "seller"] as const) {
      this.#connect(plan[role].name, `${plan.id} ${role}`, (conn) => {
        const { machine } = running;
        if (conn === undefined) {
          return this.#apply(
            running,
            machine.failed(role, `the ${role} ${plan[role].name} could not be reached`),
          );
        }
        running.conns[role] = conn;
        conn.onMessage = (message) => this.#apply(running, machine.answered(role, message));
        conn.onClose = () => this.#apply(running, machine.answered(role, undefined));
        this.#apply(running, machine.reached(role));
      });
    }
    this.#host.later(this.#timeoutMs, `tcp ${plan.id} timeout`, () => {
      if (epoch !== this.#epoch) return;
      this.#apply(running, running.machine.timedOut());
    });
  }

  /**
   * The market's `conclude` effect: Shipping_Info or CANCEL on the live
   * connections, then new connections for whoever of `deliver` was not told.
   */
  conclude(
    request: string,
    plan: TransactionPlan,
    conclusion: Conclusion,
    deliver: readonly PartyRole[],
  ): void {
    const running = this.#running.get(plan.id);
    this.#running.delete(plan.id);
    const machine = new ConclusionMachine(plan, conclusion, deliver);
    // Without a live transaction (the server restarted) nobody was told yet.
    const apply = (effects: readonly ConclusionEffect[]): void => {
      for (const effect of effects) {
        if (effect.kind === "send") {
          const conn = running?.conns[effect.role];
          if (!conn?.open) {
            apply(machine.sent(effect.role, false));
            continue;
          }
          this.#write(conn, effect.message);
          const next = machine.sent(effect.role, true);
          if (next.some((later) => later.kind === "await-ack")) {
            this.#awaitAck(
              conn,
              plan.id,
              (acked) => apply(machine.acknowledged(effect.role, acked)),
            );
          } else apply(next);
        } else if (effect.kind === "close") {
          if (running) this.#closeAll(running);
        } else if (effect.kind === "delivered") {
          this.#host.toMarket({
            kind: "delivered",
            request,
            to: effect.role,
            at: this.#host.now(),
          });
        } else if (effect.kind === "deliver" && conclusion.ok) {
          this.#deliver(request, plan, conclusion, effect.role);
        }
      }
    };
    apply(machine.start(running !== undefined));
  }

  /** A message an agent wrote on one of its connections. */
  fromAgent(conn: number, message: Message): void {
    const connection = this.#conns.get(conn);
    if (!connection || connection.agentClosed) return;
    connection.toServerAt = Math.max(
      connection.toServerAt,
      this.#host.now() + this.#host.latency(),
    );
    const epoch = this.#epoch;
    this.#host.later(
      connection.toServerAt - this.#host.now(),
      `tcp ${conn} ${connection.agent}→server ${message.type} ${message.rq}`,
      () => {
        if (epoch === this.#epoch && connection.open) connection.onMessage?.(message);
      },
    );
  }

  /** An agent closed one of its connections: the server reads the close after what came before. */
  closedByAgent(conn: number): void {
    const connection = this.#conns.get(conn);
    if (!connection || connection.agentClosed) return;
    connection.agentClosed = true;
    const arrives = Math.max(connection.toServerAt, this.#host.now() + this.#host.latency());
    const epoch = this.#epoch;
    this.#host.later(
      arrives - this.#host.now(),
      `tcp ${conn} closed by ${connection.agent}`,
      () => {
        if (!connection.open) return this.#conns.delete(conn);
        if (epoch === this.#epoch) connection.onClose?.();
      },
    );
  }

  /** An agent crashed: its connections break, and the server side sees them close. */
  agentCrashed(name: string): void {
    for (const connection of [...this.#conns.values()]) {
      if (connection.agent !== name || connection.agentClosed) continue;
      connection.agentClosed = true;
      const epoch = this.#epoch;
      this.#host.later(this.#host.latency(), `tcp ${connection.id} reset (${name} crashed)`, () => {
        if (!connection.open) return this.#conns.delete(connection.id);
        if (epoch === this.#epoch) connection.onClose?.();
      });
    }
  }

  /** The server crashed: its transactions and deliveries are gone, its connections close. */
  marketCrashed(): void {
    this.#epoch++;
    this.#running.clear();
    this.#deliveries.clear();
    for (const connection of [...this.#conns.values()]) this.#closeByServer(connection);
  }

  /** How many connections are open. */
  get openConnections(): number {
    return this.#conns.size;
  }

  /** Carries out what the leg's machine asks. */
  #apply(running: Running, effects: readonly LegEffect[]): void {
    if (running.replaced) return;
    for (const effect of effects) {
      if (effect.kind === "send") {
        const conn = running.conns[effect.role];
        if (conn) this.#write(conn, effect.message);
      } else if (effect.kind === "charge") {
        // The built-in processor approves every charge once the cards passed.
        this.#apply(running, running.machine.charged({ approved: true }));
      } else if (effect.kind === "outcome") this.#transacted(running, effect.outcome);
      // What remains is the real shell's to log, or to stop reading: the
      // machine no longer takes that party's answer.
    }
  }

  /** The leg has its outcome: the market gets it. */
  #transacted(running: Running, outcome: TransactionOutcome): void {
    this.#host.toMarket({
      kind: "transacted",
      request: running.request,
      tx: running.plan.id,
      outcome,
      at: this.#host.now(),
    });
    // An outcome the market ignored (a stale run) is never concluded:
    // close it later, as the server's shell does, so its connections are
    // not held for ever.
    const epoch = this.#epoch;
    this.#host.later(this.#timeoutMs, `tcp ${running.plan.id} cleanup`, () => {
      if (epoch !== this.#epoch || this.#running.get(running.plan.id) !== running) return;
      this.#running.delete(running.plan.id);
      this.#closeAll(running);
    });
  }

  /** Shipping_Info on a new connection, tried again with backoff until acknowledged. */
  #deliver(
    request: string,
    plan: TransactionPlan,
    conclusion: Extract<Conclusion, { ok: true }>,
    role: PartyRole,
    attempt = 0,
  ): void {
    const key = `${request}\0${role}`;
    const token = attempt === 0 ? ++this.#deliveryToken : this.#deliveries.get(key);
    if (token === undefined) return;
    this.#deliveries.set(key, token);
    this.stats.deliveries++;
    const epoch = this.#epoch;
    const retry = () => {
      if (epoch !== this.#epoch || this.#deliveries.get(key) !== token) return;
      const pause = deliveryPause(attempt + 1);
      if (pause === undefined) return void this.#deliveries.delete(key);
      this.#host.later(pause, `tcp deliver ${plan.id} to ${role} again`, () => {
        if (epoch === this.#epoch && this.#deliveries.get(key) === token) {
          this.#deliver(request, plan, conclusion, role, attempt + 1);
        }
      });
    };
    this.#connect(plan[role].name, `deliver ${plan.id} ${role}`, (conn) => {
      if (conn === undefined) return retry();
      const shipping = shippingInfo(plan, conclusion);
      this.#write(conn, shipping);
      const done = (acked: boolean) => {
        this.#closeByServer(conn);
        if (!acked) return retry();
        if (this.#deliveries.get(key) === token) this.#deliveries.delete(key);
        this.#host.toMarket({ kind: "delivered", request, to: role, at: this.#host.now() });
      };
      if (!awaitsAck(plan, role, shipping)) return done(true);
      this.#awaitAck(conn, plan.id, done);
    });
  }

  /** Waits for `ACK rq Shipping_Info` on a connection, at most the timeout. */
  #awaitAck(conn: Connection, rq: string, then: (acked: boolean) => void): void {
    let settled = false;
    const once = (acked: boolean) => {
      if (settled) return;
      settled = true;
      then(acked);
    };
    conn.onMessage = (message) => once(confirmsShipping(rq, message));
    conn.onClose = () => once(false);
    const epoch = this.#epoch;
    this.#host.later(this.#timeoutMs, `tcp ${conn.id} ack timeout`, () => {
      if (epoch === this.#epoch) once(false);
    });
  }

  /** Opens a connection to an agent: `then` gets it, or `undefined` when nobody listens. */
  #connect(name: string, label: string, then: (conn: Connection | undefined) => void): void {
    const epoch = this.#epoch;
    this.#host.later(this.#host.latency(), `tcp connect ${label} → ${name}`, () => {
      if (epoch !== this.#epoch) return;
      if (!this.#host.agentUp(name)) return then(undefined);
      const now = this.#host.now();
      const conn: Connection = {
        id: this.#nextConn++,
        agent: name,
        open: true,
        agentClosed: false,
        toAgentAt: now,
        toServerAt: now,
      };
      this.#conns.set(conn.id, conn);
      then(conn);
    });
  }

  #write(conn: Connection, message: Message): void {
    if (!conn.open) return;
    this.#host.written?.(conn.agent, message);
    conn.toAgentAt = Math.max(conn.toAgentAt, this.#host.now() + this.#host.latency());
    this.#host.later(
      conn.toAgentAt - this.#host.now(),
      `tcp ${conn.id} server→${conn.agent} ${message.type} ${message.rq}`,
      () => {
        if (!conn.agentClosed) {
          this.#host.toAgent(conn.agent, { kind: "tcp", conn: conn.id, message });
        }
      },
    );
  }

  #closeAll(running: Running): void {
    for (const conn of Object.values(running.conns)) this.#closeByServer(conn);
  }

  /** The server closes a connection: the agent sees it after what was written before. */
  #closeByServer(conn: Connection): void {
    if (!conn.open) return;
    conn.open = false;
    conn.onMessage = undefined;
    conn.onClose = undefined;
    const arrives = Math.max(conn.toAgentAt, this.#host.now() + this.#host.latency());
    this.#host.later(arrives - this.#host.now(), `tcp ${conn.id} closed by server`, () => {
      if (conn.agentClosed) return this.#conns.delete(conn.id);
      // Gone from the map first: the agent may close it while told.
      conn.agentClosed = true;
      this.#conns.delete(conn.id);
      this.#host.toAgent(conn.agent, { kind: "tcp-closed", conn: conn.id });
    });
  }
}
