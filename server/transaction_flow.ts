/**
 * The decisions of a purchase's TCP leg without I/O: what the server sends
 * each party, how it judges what comes back, and what the outcome is. The
 * socket-driving `Transaction` in `transaction.ts` and the deterministic
 * simulator both run these, so the simulator tests the real rules.
 *
 * @module
 */
import { maskCard, type Message } from "../protocol/mod.ts";
import { type ChargeResult, checkDetails, type PaymentDetails } from "./payment.ts";
import type {
  Conclusion,
  PartyRecord,
  TransactionOutcome,
  TransactionPlan,
} from "./transaction_types.ts";

/** The two sides of a transaction. */
export type PartyRole = "buyer" | "seller";

/** What one party's answer to INFORM_Req gave: its details, or why there are none. */
export type Collected = { readonly details: PaymentDetails } | { readonly reason: string };

/** The INFORM_Req that opens the leg with either party. */
export function informRequest(plan: TransactionPlan): Message {
  return { type: "INFORM_Req", rq: plan.id, item: plan.item, price: plan.price };
}

/**
 * Judges a party's answer to INFORM_Req.
 *
 * @param reply The message read, or `undefined` when the party closed the
 *   connection first.
 * @returns The payment details, or the reason the leg fails (naming the
 *   party, never its card).
 */
export function judgeReply(
  plan: TransactionPlan,
  role: PartyRole,
  reply: Message | undefined,
): Collected {
  const party = plan[role];
  if (reply === undefined) return { reason: `the ${role} ${party.name} closed the connection` };
  if (reply.type === "TX_CANCEL") {
    return { reason: `the ${role} ${party.name} declined: ${reply.reason}` };
  }
  if (reply.type !== "INFORM_Res" || reply.rq !== plan.id) {
    return {
      reason:
        `the ${role} ${party.name} answered ${reply.type} ${reply.rq} instead of INFORM_Res ${plan.id}`,
    };
  }
  if (reply.name !== party.name) {
    return { reason: `the ${role} answered as ${reply.name} instead of ${party.name}` };
  }
  return {
    details: { name: reply.name, card: reply.card, expiry: reply.expiry, address: reply.address },
  };
}

/**
 * Checks both parties' collected details before any charge.
 *
 * @returns Both sets of details fit to charge, or the failed outcome.
 */
export function checkCollected(
  buyer: Collected,
  seller: Collected,
  now: Date,
):
  | { readonly ok: true; readonly buyer: PaymentDetails; readonly seller: PaymentDetails }
  | Extract<TransactionOutcome, { ok: false }> {
  if ("reason" in buyer) return { ok: false, reason: buyer.reason };
  if ("reason" in seller) return { ok: false, reason: seller.reason };
  const problem = checkDetails("buyer", buyer.details, now) ??
    checkDetails("seller", seller.details, now);
  if (problem) return { ok: false, reason: problem };
  return { ok: true, buyer: buyer.details, seller: seller.details };
}

/** The outcome once the processor answered: card numbers masked, fit to store. */
export function chargeOutcome(
  charged: ChargeResult,
  buyer: PaymentDetails,
  seller: PaymentDetails,
): TransactionOutcome {
  if (!charged.approved) return { ok: false, reason: charged.reason };
  return { ok: true, buyer: masked(buyer), seller: masked(seller) };
}

/**
 * What ends the leg on the wire: Shipping_Info to the seller (and to our
 * own buyer as its receipt), or CANCEL with the reason to both.
 */
export function conclusionSends(
  plan: TransactionPlan,
  conclusion: Conclusion,
): [role: PartyRole, message: Message][] {
  if (!conclusion.ok) {
    const cancel: Message = { type: "TX_CANCEL", rq: plan.id, reason: conclusion.reason };
    return [["buyer", cancel], ["seller", cancel]];
  }
  const shipping = shippingInfo(plan, conclusion);
  return plan.buyer.ours ? [["seller", shipping], ["buyer", shipping]] : [["seller", shipping]];
}

/** The Shipping_Info of a settled sale. */
export function shippingInfo(
  plan: TransactionPlan,
  conclusion: Extract<Conclusion, { ok: true }>,
): Message {
  return {
    type: "Shipping_Info",
    rq: plan.id,
    name: conclusion.buyerName,
    address: conclusion.address,
  };
}

/**
 * Whether a message read after Shipping_Info confirms it: for a party with
 * the `ack` extension only `ACK <rq> Shipping_Info` does; for others the
 * write alone counts (callers do not wait for a reply then).
 */
export function confirmsShipping(rq: string, message: Message | undefined): boolean {
  return message?.type === "TX_ACK" && message.rq === rq;
}

function masked(details: PaymentDetails): PartyRecord {
  return { name: details.name, card: maskCard(details.card), address: details.address };
}
