/**
 * A purchase's TCP leg as a machine without I/O: it takes what happened
 * on the wire (a party reached or not, its answer, the deadline, the
 * processor's answer) and says what to do (send, stop waiting, charge) and
 * when the leg has its outcome. The server's `Transaction` drives it with
 * sockets, TLS and real time; the simulator drives the same machine with
 * its virtual clock and in-memory connections, so both run one leg.
 *
 * @module
 */
import { formatAddress, type Message } from "../protocol/mod.ts";
import {
  type ChargeRequest,
  type ChargeResult,
  checkDetails,
  type PaymentDetails,
} from "./payment.ts";
import type { Conclusion, TransactionOutcome, TransactionPlan } from "./transaction_types.ts";
import {
  chargeOutcome,
  checkCollected,
  type Collected,
  conclusionSends,
  informRequest,
  judgeReply,
  type PartyRole,
} from "./transaction_flow.ts";

/**
 * Tries at delivering a settled sale's Shipping_Info on new connections,
 * the pauses between them doubling from 1 s up to 30 s (about 7 minutes in
 * all). The party registering again, or a restart, starts them afresh.
 */
export const DELIVERY_ATTEMPTS = 20;
const DELIVERY_MAX_PAUSE_MS = 30_000;

/**
 * The pause before a delivery's try number `attempt` (counted from 0).
 *
 * @returns Milliseconds to wait (0 before the first try), or `undefined`
 *   once the tries have run out.
 */
export function deliveryPause(attempt: number): number | undefined {
  if (attempt >= DELIVERY_ATTEMPTS) return undefined;
  if (attempt === 0) return 0;
  return Math.min(1_000 * 2 ** (attempt - 1), DELIVERY_MAX_PAUSE_MS);
}

/**
 * Whether `message` to `role` counts as told only once acknowledged:
 * Shipping_Info to a party with the `ack` extension, which answers
 * `ACK <rq> Shipping_Info` once the sale is stored; anything else is told
 * by writing it.
 */
export function awaitsAck(plan: TransactionPlan, role: PartyRole, message: Message): boolean {
  return message.type === "Shipping_Info" && plan[role].acks === true;
}

/** What the leg asks its shell to do. */
export type LegEffect =
  /** Write `message` on the connection to `role`. */
  | { readonly kind: "send"; readonly role: PartyRole; readonly message: Message }
  /**
   * The first failure (`reason`): stop reading the other party's answer,
   * so that both are told at once rather than at the deadline.
   */
  | { readonly kind: "stop-waiting"; readonly reason: string }
  /** `role` answered with `message`, which does not do (the robustness rule: log it). */
  | {
    readonly kind: "rejected";
    readonly role: PartyRole;
    readonly message: Message;
    readonly reason: string;
  }
  /** Ask the payment processor; its answer goes to `charged` or `chargeFailed`. */
  | { readonly kind: "charge"; readonly request: ChargeRequest }
  /** The leg is over (the shell keeps its connections for the conclusion). */
  | { readonly kind: "outcome"; readonly outcome: TransactionOutcome };

/** Where one party is: being reached, waiting for its answer, or done. */
type PartyState =
  | { readonly at: "connecting" }
  | { readonly at: "waiting" }
  | { readonly at: "collected"; readonly collected: Collected };

/**
 * One purchase's collection and charge: INFORM_Req to both parties, their
 * INFORM_Res judged and their cards checked, then the charge. The first
 * party that fails ends the wait for the other.
 *
 * @example
 * ```ts
 * const leg = new TransactionMachine(plan, new Date());
 * leg.reached("buyer"); // [{ kind: "send", role: "buyer", message: INFORM_Req }]
 * ```
 */
export class TransactionMachine {
  readonly plan: TransactionPlan;
  readonly #now: Date;
  readonly #parties: Record<PartyRole, PartyState> = {
    buyer: { at: "connecting" },
    seller: { at: "connecting" },
  };
  #firstFailure: string | undefined;
  /** Both parties' details, once the charge is asked for. */
  #charging: { buyer: PaymentDetails; seller: PaymentDetails } | undefined;
  #over = false;

  /** @param now The time the cards' expiry is checked against. */
  constructor(plan: TransactionPlan, now: Date) {
    this.plan = plan;
    this.#now = now;
  }

  /** Whether the leg has its outcome. */
  get over(): boolean {
    return this.#over;
  }

  /** Whether `role`'s answer is still awaited (a shell reads only then). */
  waiting(role: PartyRole): boolean {
    return this.#parties[role].at === "waiting" && !this.#over;
  }

  /** A connection to `role` is open: INFORM_Req goes on it. */
  reached(role: PartyRole): LegEffect[] {
    if (this.#over || this.#parties[role].at !== "connecting") return [];
    const send: LegEffect = { kind: "send", role, message: informRequest(this.plan) };
    // After the other party failed, it is sent INFORM_Req (so that it can
    // be told why with CANCEL) but not waited for.
    if (this.#firstFailure !== undefined) return [send, ...this.#collect(role, this.#silent(role))];
    this.#parties[role] = { at: "waiting" };
    return [send];
  }

  /**
   * What `role` answered INFORM_Req with, or `undefined` when it closed the
   * connection first.
   */
  answered(role: PartyRole, reply: Message | undefined): LegEffect[] {
    if (!this.waiting(role)) return [];
    const judged = judgeReply(this.plan, role, reply);
    const collected = this.#collect(role, judged);
    if (reply === undefined || !("reason" in judged)) return collected;
    return [{ kind: "rejected", role, message: reply, reason: judged.reason }, ...collected];
  }

  /**
   * `role` failed in a way only the shell sees (not reached, a message that
   * does not parse, a broken read): `reason` names the party, not its card.
   */
  failed(role: PartyRole, reason: string): LegEffect[] {
    if (this.#over || this.#parties[role].at === "collected") return [];
    return this.#collect(role, { reason });
  }

  /** The parties' time ran out: whoever did not answer fails. */
  timedOut(): LegEffect[] {
    const effects: LegEffect[] = [];
    for (const role of ["buyer", "seller"] as const) {
      const state = this.#parties[role].at;
      if (state === "collected") continue;
      effects.push(
        ...this.failed(
          role,
          state === "connecting"
            ? `the ${role} ${this.plan[role].name} could not be reached at ${
              formatAddress(this.plan[role].address)
            } in time`
            : this.#silent(role).reason,
        ),
      );
    }
    return effects;
  }

  /** The processor answered the charge. */
  charged(result: ChargeResult): LegEffect[] {
    const charging = this.#charging;
    if (this.#over || !charging) return [];
    return this.#end(chargeOutcome(result, charging.buyer, charging.seller));
  }

  /** The processor could not be asked (it threw). */
  chargeFailed(error: unknown): LegEffect[] {
    if (this.#over || !this.#charging) return [];
    return this.#end({ ok: false, reason: `the payment failed: ${String(error)}` });
  }

  #silent(role: PartyRole): { reason: string } {
    return { reason: `the ${role} ${this.plan[role].name} did not answer in time` };
  }

  #collect(role: PartyRole, collected: Collected): LegEffect[] {
    this.#parties[role] = { at: "collected", collected };
    const effects: LegEffect[] = [];
    const reason = "reason" in collected
      ? collected.reason
      : checkDetails(role, collected.details, this.#now);
    if (reason !== undefined && this.#firstFailure === undefined) {
      this.#firstFailure = reason;
      effects.push({ kind: "stop-waiting", reason });
      for (const other of ["buyer", "seller"] as const) {
        if (this.#parties[other].at === "waiting") {
          this.#parties[other] = { at: "collected", collected: this.#silent(other) };
        }
      }
    }
    const { buyer, seller } = this.#parties;
    if (buyer.at !== "collected" || seller.at !== "collected") return effects;
    const checked = checkCollected(buyer.collected, seller.collected, this.#now);
    if (!checked.ok) {
      return [
        ...effects,
        ...this.#end({ ok: false, reason: this.#firstFailure ?? checked.reason }),
      ];
    }
    this.#charging = { buyer: checked.buyer, seller: checked.seller };
    return [...effects, {
      kind: "charge",
      request: {
        key: this.plan.id,
        amount: this.plan.price,
        buyer: checked.buyer,
        seller: checked.seller,
      },
    }];
  }

  #end(outcome: TransactionOutcome): LegEffect[] {
    this.#over = true;
    return [{ kind: "outcome", outcome }];
  }
}

/** What ending a leg asks its shell to do. */
export type ConclusionEffect =
  /**
   * Write `message` to `role` on the leg's connection (or on a new one,
   * when the party closed it); say how that went with `sent`.
   */
  | { readonly kind: "send"; readonly role: PartyRole; readonly message: Message }
  /**
   * Read `role`'s answer to Shipping_Info on that connection; say whether
   * it confirms it (`confirmsShipping`) with `acknowledged`.
   */
  | { readonly kind: "await-ack"; readonly role: PartyRole }
  /** Everything is said: close the leg's connections. */
  | { readonly kind: "close" }
  /** `role` has Shipping_Info: tell the market. */
  | { readonly kind: "delivered"; readonly role: PartyRole }
  /** `role` was not told: deliver Shipping_Info on new connections (`deliveryPause`). */
  | { readonly kind: "deliver"; readonly role: PartyRole };

/**
 * How a purchase's TCP leg ends: Shipping_Info to the seller (and to our
 * own buyer as its receipt), or CANCEL to both, each counted as told once
 * written or, for a party that acknowledges, once its ACK came; then the
 * parties to be delivered to that were not told get it on new connections.
 */
export class ConclusionMachine {
  readonly plan: TransactionPlan;
  readonly #conclusion: Conclusion;
  readonly #deliver: readonly PartyRole[];
  /** What each send is still waiting for. */
  readonly #pending = new Map<PartyRole, Message>();
  readonly #told: Record<PartyRole, boolean> = { buyer: false, seller: false };
  #over = false;

  /** @param deliver Who must end up with Shipping_Info (the market's `conclude` effect). */
  constructor(plan: TransactionPlan, conclusion: Conclusion, deliver: readonly PartyRole[]) {
    this.plan = plan;
    this.#conclusion = conclusion;
    this.#deliver = deliver;
  }

  /**
   * Starts the ending.
   *
   * @param live Whether the leg's connections are there; without them (the
   *   server restarted) nobody was told yet.
   */
  start(live: boolean): ConclusionEffect[] {
    if (!live) return this.#finish();
    const sends = conclusionSends(this.plan, this.#conclusion);
    for (const [role, message] of sends) this.#pending.set(role, message);
    return sends.map(([role, message]) => ({ kind: "send", role, message }));
  }

  /** The message to `role` was written, or could not be (`written` false). */
  sent(role: PartyRole, written: boolean): ConclusionEffect[] {
    const message = this.#pending.get(role);
    if (message === undefined) return [];
    if (written && awaitsAck(this.plan, role, message)) return [{ kind: "await-ack", role }];
    return this.#settle(role, written);
  }

  /**
   * Whether `role` acknowledged Shipping_Info: false for another answer, a
   * close, a timeout or a broken read.
   */
  acknowledged(role: PartyRole, acked: boolean): ConclusionEffect[] {
    if (!this.#pending.has(role)) return [];
    return this.#settle(role, acked);
  }

  #settle(role: PartyRole, told: boolean): ConclusionEffect[] {
    this.#pending.delete(role);
    this.#told[role] = told;
    return this.#pending.size === 0 ? this.#finish() : [];
  }

  #finish(): ConclusionEffect[] {
    if (this.#over) return [];
    this.#over = true;
    const effects: ConclusionEffect[] = [{ kind: "close" }];
    if (!this.#conclusion.ok) return effects;
    for (const role of this.#deliver) {
      effects.push({ kind: this.#told[role] ? "delivered" : "deliver", role });
    }
    return effects;
  }
}
