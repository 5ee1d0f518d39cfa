/**
 * The TCP leg of a purchase: connect to the buyer and the seller, send each
 * INFORM_Req, read and check their INFORM_Res, charge through the payment
 * processor, and later conclude with Shipping_Info or CANCEL.
 *
 * Card numbers live only in this object's memory while it runs: the outcome
 * it returns holds them masked.
 *
 * @module
 */
import { describe, encode, formatAddress, type Message } from "../protocol/mod.ts";
import { authorityPem } from "../security/certificates.ts";
import { MessageReader, writeText } from "../transport/tcp.ts";
import { logger } from "../log/setup.ts";
import type { ConnectionSlots } from "./connection_slots.ts";
import type { PaymentProcessor } from "./payment.ts";
import { confirmsShipping, type PartyRole, shippingInfo } from "./transaction_flow.ts";
import {
  awaitsAck,
  type ConclusionEffect,
  ConclusionMachine,
  type LegEffect,
  TransactionMachine,
} from "./transaction_machine.ts";
import type {
  Conclusion,
  Party,
  TransactionOutcome,
  TransactionPlan,
} from "./transaction_types.ts";

export type {
  Conclusion,
  Party,
  PartyRecord,
  TransactionOutcome,
  TransactionPlan,
} from "./transaction_types.ts";

/** Options for {@linkcode Transaction}. */
export interface TransactionOptions {
  readonly processor: PaymentProcessor;
  /** How long each peer has to connect and answer. */
  readonly timeoutMs: number;
  /** The clock for the expiry check. */
  readonly now?: () => Date;
  /** Authenticates a message for a peer (our peers check INFORM_Req came from the server). */
  readonly seal?: (name: string, text: string) => string;
  /** Bounds the connections open to each peer at once; a transaction waits for its turn. */
  readonly slots?: ConnectionSlots;
  /** Ends a wait for a slot (the server is stopping). */
  readonly signal?: AbortSignal;
}

const log = logger("server", "transaction");
const wire = logger("server", "wire");

/** One purchase's TCP exchange. */
export class Transaction implements AsyncDisposable {
  readonly plan: TransactionPlan;
  readonly #options: TransactionOptions;
  readonly #conns = new Map<"buyer" | "seller", Deno.Conn>();
  /**
   * For parties that send nothing after INFORM_Res (they do not acknowledge
   * Shipping_Info): a read that ends when they close, so that a party that
   * hung up is told on a new connection rather than into a dead one.
   */
  readonly #hangups = new Map<"buyer" | "seller", Promise<boolean>>();
  readonly #hungUp = new Set<"buyer" | "seller">();
  /** Gives back the connection slots with both parties. */
  #release?: () => void;

  constructor(plan: TransactionPlan, options: TransactionOptions) {
    this.plan = plan;
    this.#options = options;
  }

  /** Collects both parties' details and charges the buyer. Never throws. */
  async run(): Promise<TransactionOutcome> {
    try {
      this.#release = await this.#options.slots?.take(
        [this.plan.buyer.name, this.plan.seller.name],
        this.#options.signal,
      );
    } catch {
      return { ok: false, reason: "the server stopped before it could reach the parties" };
    }
    // The parties' time to answer starts once there are slots to reach them.
    // The machine ends the wait for the other party at the first failure;
    // reaching a party and sending INFORM_Req go on (so it can be told why
    // with CANCEL), only the wait for its answer ends early.
    const failed = new AbortController();
    const deadline = AbortSignal.timeout(this.#options.timeoutMs);
    const signal = AbortSignal.any([deadline, failed.signal]);
    const machine = new TransactionMachine(this.plan, this.#options.now?.() ?? new Date());
    let outcome: TransactionOutcome | undefined;
    const apply = async (effects: LegEffect[]): Promise<void> => {
      for (const effect of effects) {
        if (effect.kind === "send") await this.#write(effect.role, effect.message);
        else if (effect.kind === "rejected") {
          log.warning("Rejected {type} {rq} from the {role} {name}: {reason}", {
            type: effect.message.type,
            rq: effect.message.rq,
            role: effect.role,
            name: this.plan[effect.role].name,
            reason: effect.reason,
          });
        } else if (effect.kind === "stop-waiting") {
          if (!deadline.aborted) {
            log.info("Transaction {id} fails: {reason}; not waiting for the other party", {
              id: this.plan.id,
              reason: effect.reason,
            });
          }
          failed.abort(new Error(effect.reason));
        } else if (effect.kind === "charge") {
          let charged;
          try {
            charged = await this.#options.processor.charge(effect.request);
          } catch (error) {
            await apply(machine.chargeFailed(error));
            continue;
          }
          await apply(machine.charged(charged));
        } else outcome = effect.outcome;
      }
    };
    await Promise.all(
      (["buyer", "seller"] as const).map((role) =>
        this.#collect(role, { machine, apply, deadline, signal })
      ),
    );
    // Every path above gives the machine both parties, so it has an outcome.
    return outcome ?? { ok: false, reason: "the transaction ended without an outcome" };
  }

  /** Reaches one party and hands the machine what happens on its connection. */
  async #collect(
    role: "buyer" | "seller",
    { machine, apply, deadline, signal }: {
      readonly machine: TransactionMachine;
      readonly apply: (effects: LegEffect[]) => Promise<void>;
      /** Bounds reaching the party. */
      readonly deadline: AbortSignal;
      /** Bounds waiting for its answer: the deadline, or the other party's failure. */
      readonly signal: AbortSignal;
    },
  ): Promise<void> {
    const party = this.plan[role];
    const where = formatAddress(party.address);
    let conn: Deno.Conn;
    try {
      conn = await connect(party, deadline);
    } catch (error) {
      return await apply(machine.failed(
        role,
        `the ${role} ${party.name} could not be reached at ${where}${timedOut(error, deadline)}`,
      ));
    }
    this.#conns.set(role, conn);
    let effects: LegEffect[];
    try {
      await apply(machine.reached(role));
      if (!machine.waiting(role)) return;
      const result = await new MessageReader(conn).read({ signal });
      if (result !== undefined && !result.ok) {
        // The robustness rule: a rejected message is logged with its reason.
        log.warning("Rejected a TCP message from the {role} {name} of {id}: {error}", {
          role,
          name: party.name,
          id: this.plan.id,
          error: result.error.message,
        });
        effects = machine.failed(role, `the ${role} ${party.name} sent ${result.error.message}`);
      } else {
        if (result !== undefined) {
          wire.debug("recv tcp {role} {from} {type} {rq}", {
            role,
            from: where,
            type: result.message.type,
            rq: result.message.rq,
          });
        }
        effects = machine.answered(role, result?.message);
        const gave = result !== undefined && !effects.some((e) => e.kind === "rejected");
        if (gave && !party.acks) this.#watchHangup(role, conn);
      }
    } catch (error) {
      effects = machine.failed(
        role,
        `the ${role} ${party.name} did not answer${timedOut(error, signal)}`,
      );
    }
    await apply(effects);
  }

  #watchHangup(role: "buyer" | "seller", conn: Deno.Conn): void {
    this.#hangups.set(
      role,
      new MessageReader(conn).read({ signal: AbortSignal.timeout(this.#options.timeoutMs) })
        .then((result) => {
          if (result === undefined) this.#hungUp.add(role);
          return result === undefined;
        }, () => false),
    );
  }

  async #write(role: "buyer" | "seller", message: Message): Promise<void> {
    const conn = this.#conns.get(role);
    if (!conn) return;
    wire.debug("send tcp {role} {to} {type} {rq}", {
      role,
      to: formatAddress(this.plan[role].address),
      type: message.type,
      rq: message.rq,
    });
    const party = this.plan[role];
    const text = this.#options.seal?.(party.name, encode(message)) ?? encode(message);
    await writeText(conn, text, party.ours);
  }

  /**
   * Ends the exchange as the conclusion machine says: Shipping_Info to the
   * seller (and to our own buyer as a receipt), or CANCEL with the reason
   * to both. Then closes the buyer's connection and waits briefly for the
   * seller to close its own.
   *
   * @param deliver Who must end up with Shipping_Info.
   * @returns What is left to do: who has Shipping_Info (`delivered`: for a
   *   peer that acknowledges, only once its ACK came back) and who must get
   *   it on new connections (`deliver`).
   */
  async conclude(
    conclusion: Conclusion,
    deliver: readonly PartyRole[] = [],
  ): Promise<ConclusionEffect[]> {
    const machine = new ConclusionMachine(this.plan, conclusion, deliver);
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    const signal = this.#options.signal
      ? AbortSignal.any([timeout, this.#options.signal])
      : timeout;
    const rest: ConclusionEffect[] = [];
    const apply = async (effects: ConclusionEffect[]): Promise<void> => {
      await Promise.all(effects.map(async (effect) => {
        if (effect.kind === "send") {
          await apply(await this.#tell(machine, effect.role, effect.message, signal));
        } else if (effect.kind === "delivered" || effect.kind === "deliver") rest.push(effect);
        // "close" comes once every send settled: the disposal below.
      }));
    };
    await apply(machine.start(true));
    await this[Symbol.asyncDispose]();
    return rest;
  }

  /** Tells one party how the leg ended; the machine's next effects come back. */
  async #tell(
    machine: ConclusionMachine,
    role: PartyRole,
    message: Message,
    signal: AbortSignal,
  ): Promise<ConclusionEffect[]> {
    if (this.#hungUp.has(role)) {
      // Some classic peers read one message per connection and close:
      // what they are told goes on a new one.
      log.info("The {role} of {id} closed its connection; telling it on a new one", {
        role,
        id: this.plan.id,
      });
      return await sendOnNewConnection(machine, role, message, this.#options);
    }
    try {
      const conn = this.#conns.get(role);
      if (!conn) throw new Error("no connection");
      await this.#write(role, message);
      const next = machine.sent(role, true);
      if (!next.some((effect) => effect.kind === "await-ack")) return next;
      return machine.acknowledged(
        role,
        await acknowledged(conn, this.plan[role], role, this.plan.id, signal),
      );
    } catch (error) {
      log.warning("Cannot send {type} to the {role} of {id}: {error}", {
        type: message.type,
        role,
        id: this.plan.id,
        error: String(error),
      });
      return machine.sent(role, false);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#conns.get("buyer")?.close();
    this.#conns.delete("buyer");
    const seller = this.#conns.get("seller");
    this.#conns.delete("seller");
    if (seller) {
      // The seller closes its own connection after reading; do not wait long.
      const hangup = this.#hangups.get("seller");
      if (hangup) {
        await Promise.race([hangup, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      } else {
        await new MessageReader(seller).read({ signal: AbortSignal.timeout(1_000) }).catch(
          () => {},
        );
      }
      try {
        seller.close();
      } catch {
        // Already closed.
      }
    }
    this.#release?.();
  }
}

/**
 * Sends one message of a transaction's end on a new connection, to a party
 * that closed the one it answered on.
 *
 * @returns The machine's next effects, once it was written (and, for
 *   Shipping_Info to a peer that acknowledges, acknowledged) or not.
 */
async function sendOnNewConnection(
  machine: ConclusionMachine,
  role: PartyRole,
  message: Message,
  options: Pick<TransactionOptions, "timeoutMs" | "seal" | "signal">,
): Promise<ConclusionEffect[]> {
  const { plan } = machine;
  const party = plan[role];
  try {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    using conn = await connect(party, signal);
    const text = encode(message);
    await writeText(conn, options.seal?.(party.name, text) ?? text, party.ours);
    wire.debug("send tcp {role} {to} {type} {rq} (new connection)", {
      role,
      to: formatAddress(party.address),
      type: message.type,
      rq: message.rq,
    });
    const next = machine.sent(role, true);
    if (!next.some((effect) => effect.kind === "await-ack")) return next;
    return machine.acknowledged(role, await acknowledged(conn, party, role, plan.id, signal));
  } catch (error) {
    log.warning("Cannot send {type} {id} to {name} on a new connection: {error}", {
      type: message.type,
      id: plan.id,
      name: party.name,
      error: String(error),
    });
    return machine.sent(role, false);
  }
}

/**
 * Sends Shipping_Info on a new connection to a party of a settled sale that
 * was not told yet (its connection dropped, or the server restarted): the
 * seller learns where to ship, our buyer gets its receipt.
 */
export async function deliverShipping(
  plan: TransactionPlan,
  conclusion: Extract<Conclusion, { ok: true }>,
  options: Pick<TransactionOptions, "timeoutMs" | "seal" | "slots" | "signal">,
  role: "seller" | "buyer" = "seller",
): Promise<boolean> {
  const party = plan[role];
  let release: (() => void) | undefined;
  try {
    release = await options.slots?.take([party.name], options.signal);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    using conn = await connect(party, signal);
    const message = shippingInfo(plan, conclusion);
    const text = encode(message);
    await writeText(conn, options.seal?.(party.name, text) ?? text, party.ours);
    if (!awaitsAck(plan, role, message) || await acknowledged(conn, party, role, plan.id, signal)) {
      return true;
    }
    log.warning("{name} did not acknowledge Shipping_Info {id}", { name: party.name, id: plan.id });
    return false;
  } catch (error) {
    log.warning("Cannot deliver Shipping_Info {id} to {name}: {error}", {
      id: plan.id,
      name: party.name,
      error: String(error),
    });
    return false;
  } finally {
    release?.();
  }
}

/**
 * Whether a party with the `ack` extension that was just sent Shipping_Info
 * has it: it answers `ACK <rq> Shipping_Info` once the sale is stored (a
 * peer killed before that never does). See `awaitsAck` for who is asked.
 */
async function acknowledged(
  conn: Deno.Conn,
  party: Party,
  role: "buyer" | "seller",
  rq: string,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    const result = await new MessageReader(conn).read({ signal });
    if (result?.ok) {
      wire.debug("recv tcp {role} {from} {text}", {
        role,
        from: formatAddress(party.address),
        text: describe(result.message),
      });
    }
    if (result?.ok && confirmsShipping(rq, result.message)) return true;
    log.warning("{name} answered Shipping_Info {id} with {answer}", {
      name: party.name,
      id: rq,
      answer: result === undefined
        ? "a close"
        : result.ok
        ? `${result.message.type} ${result.message.rq}`
        : result.error.message,
    });
  } catch (error) {
    log.warning("No acknowledgement of Shipping_Info {id} from {name}: {error}", {
      id: rq,
      name: party.name,
      error: String(error),
    });
  }
  return false;
}

/**
 * Connects to a party: over TLS, verifying the certificate against the
 * authority it registered, for our peers; plain TCP for classic ones.
 */
async function connect(party: Party, signal: AbortSignal): Promise<Deno.Conn> {
  const target = { hostname: party.address.hostname, port: party.address.port };
  // Connect with the signal (a blackholed address must not hold a slot for
  // the kernel's minutes), then start TLS on the connection.
  const tcp = await Deno.connect({ transport: "tcp", ...target, signal });
  if (!party.ca) return tcp;
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, {
      hostname: target.hostname,
      caCerts: [authorityPem(party.ca)],
    });
  } catch (error) {
    tcp.close();
    throw error;
  }
  try {
    // Fail here, before anything is written, if the certificate is wrong.
    await abortable(conn.handshake(), signal);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function timedOut(error: unknown, signal: AbortSignal): string {
  return signal.aborted
    ? " in time"
    : `: ${error instanceof Error ? error.message : String(error)}`;
}
