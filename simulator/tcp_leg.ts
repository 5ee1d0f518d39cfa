/**
 * The TCP leg of a purchase in the simulated world: the part of the
 * server's shell that carries out the market's `transact` and `conclude`
 * effects, over in-memory connections to the agents. Its decisions (what to
 * send, how INFORM_Res is judged and the cards checked, what the outcome
 * is, what confirms Shipping_Info) are those of `server/transaction_flow.ts`,
 * the module the real `Transaction` runs on sockets; only the waiting is
 * simulated: connects, reads and their timeouts are events on the clock.
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
import type { Conclusion, TransactionPlan } from "../server/transaction.ts";
import {
  chargeOutcome,
  checkCollected,
  type Collected,
  conclusionSends,
  confirmsShipping,
  informRequest,
  judgeReply,
  type PartyRole,
  shippingInfo,
} from "../server/transaction_flow.ts";

/** How many times the server tries a delivery on new connections (as `server.ts` does). */
const DELIVERY_ATTEMPTS = 20;
const DELIVERY_MAX_PAUSE_MS = 30_000;

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
  readonly conns: Partial<Record<PartyRole, Connection>>;
  readonly collected: Partial<Record<PartyRole, Collected>>;
  done: boolean;
}

/** Counts for the run's report. */
export interface LegStats {
  transactions: number;
  deliveries: number;
}

/** The server's TCP leg in the simulated world. */
export class TcpLeg {
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
      // Run again (after the market restarted): the old attempt is over.
      previous.done = true;
      this.#closeAll(previous);
    }
    const running: Running = { request, plan, conns: {}, collected: {}, done: false };
    this.#running.set(plan.id, running);
    const epoch = this.#epoch;
    for (const role of ["buyer", "seller"] as const) {
      this.#connect(plan[role].name, `${plan.id} ${role}`, (conn) => {
        if (conn === undefined) {
          return this.#collect(running, role, {
            reason: `the ${role} ${plan[role].name} could not be reached`,
          });
        }
        running.conns[role] = conn;
        conn.onMessage = (message) => this.#collect(running, role, judgeReply(plan, role, message));
        conn.onClose = () => this.#collect(running, role, judgeReply(plan, role, undefined));
        this.#write(conn, informRequest(plan));
      });
    }
    this.#host.later(this.#timeoutMs, `tcp ${plan.id} timeout`, () => {
      if (epoch !== this.#epoch) return;
      for (const role of ["buyer", "seller"] as const) {
        this.#collect(running, role, {
          reason: `the ${role} ${plan[role].name} did not answer in time`,
        });
      }
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
    const told: Record<PartyRole, boolean> = { buyer: false, seller: false };
    const finish = () => {
      if (running) this.#closeAll(running);
      if (!conclusion.ok) return;
      for (const role of deliver) {
        if (told[role]) {
          this.#host.toMarket({ kind: "delivered", request, to: role, at: this.#host.now() });
        } else this.#deliver(request, plan, conclusion, role);
      }
    };
    // Without a live transaction (the server restarted) nobody was told yet.
    if (!running) return finish();
    const sends = conclusionSends(plan, conclusion);
    let waiting = sends.length;
    const settle = () => {
      if (--waiting === 0) finish();
    };
    for (const [role, message] of sends) {
      const conn = running.conns[role];
      if (!conn?.open) {
        settle();
        continue;
      }
      this.#write(conn, message);
      if (message.type !== "Shipping_Info" || !plan[role].acks) {
        told[role] = true;
        settle();
        continue;
      }
      this.#awaitAck(conn, plan.id, (acked) => {
        told[role] = acked;
        settle();
      });
    }
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

  #collect(running: Running, role: PartyRole, collected: Collected): void {
    if (running.done || running.collected[role]) return;
    running.collected[role] = collected;
    const { buyer, seller } = running.collected;
    if (!buyer || !seller) return;
    running.done = true;
    const checked = checkCollected(buyer, seller, new Date(this.#host.now()));
    // The built-in processor approves every charge once the cards passed.
    const outcome = checked.ok
      ? chargeOutcome({ approved: true }, checked.buyer, checked.seller)
      : checked;
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
      if (attempt + 1 >= DELIVERY_ATTEMPTS) return void this.#deliveries.delete(key);
      const pause = Math.min(1_000 * 2 ** attempt, DELIVERY_MAX_PAUSE_MS);
      this.#host.later(pause, `tcp deliver ${plan.id} to ${role} again`, () => {
        if (epoch === this.#epoch && this.#deliveries.get(key) === token) {
          this.#deliver(request, plan, conclusion, role, attempt + 1);
        }
      });
    };
    this.#connect(plan[role].name, `deliver ${plan.id} ${role}`, (conn) => {
      if (conn === undefined) return retry();
      this.#write(conn, shippingInfo(plan, conclusion));
      const done = (acked: boolean) => {
        this.#closeByServer(conn);
        if (!acked) return retry();
        if (this.#deliveries.get(key) === token) this.#deliveries.delete(key);
        this.#host.toMarket({ kind: "delivered", request, to: role, at: this.#host.now() });
      };
      if (!plan[role].acks) return done(true);
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
