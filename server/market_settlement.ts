/**
 * The market's part that follows a purchase's TCP leg: the plan for it,
 * its outcome in the ledger, the conclusion on the wire, and the
 * deliveries of Shipping_Info still owed (see `market_core.ts`).
 *
 * @module
 */
import { formatMoney } from "../protocol/money.ts";
import { splitPrice } from "../protocol/fee.ts";
import { MarketTurn, type ServerEvent } from "./market_turn.ts";
import type { LedgerEntry, RegisteredPeer, RequestRecord } from "./records.ts";
import { isOurs } from "./registry.ts";
import { cancel } from "./search_messages.ts";
import type { TransactionOutcome, TransactionPlan } from "./transaction.ts";

import { MarketCore } from "./market_core.ts";

/** The TCP leg of purchases, on top of the market's state. */
export abstract class MarketSettlement extends MarketCore {
  // The transaction

  protected plan(request: RequestRecord): TransactionPlan | undefined {
    const buyer = this.registry.get(request.buyer);
    const seller = this.registry.get(request.seller!);
    if (!buyer || !seller || !request.tx) return undefined;
    const party = (peer: RegisteredPeer) => ({
      name: peer.name,
      address: { hostname: peer.source.hostname, port: peer.tcpPort },
      ours: isOurs(peer),
      ...(this.registry.speaks(peer.name, "ack") ? { acks: true } : {}),
      ...(peer.auth ? { ca: peer.auth.ca } : {}),
    });
    return {
      id: request.tx,
      item: request.item,
      price: request.price!,
      buyer: party(buyer),
      seller: party(seller),
    };
  }

  /** Starts a purchase's TCP leg, and keeps its plan while it runs. */
  protected transact(request: string, plan: TransactionPlan, turn: MarketTurn): void {
    this.legs.set(plan.id, plan);
    turn.transact(request, plan);
  }

  protected onTransacted(
    event: Extract<ServerEvent, { kind: "transacted" }>,
    turn: MarketTurn,
  ): void {
    const open = this.table.get(event.request);
    const request = open?.record;
    const leg = this.legs.get(event.tx);
    this.legs.delete(event.tx);
    if (request?.state === "cancelled" && request.tx === event.tx && leg) {
      return this.endedDuringLeg(event, request, leg, turn);
    }
    if (!open || !request || request.state !== "buying" || request.tx !== event.tx) {
      turn.log(
        "warning",
        `Ignored the outcome of transaction ${event.tx}: its purchase is not waiting for it`,
      );
      return;
    }
    const plan = this.plan(request);
    const { outcome } = event;
    const entry = ledgerEntry(request, event, outcome);
    turn.save({ key: ["ledger", event.tx], value: entry });
    if (outcome.ok) {
      const bought = this.update(open, {
        state: "bought",
        shipTo: { name: outcome.buyer.name, address: outcome.buyer.address },
        shipped: false,
        receipted: false,
        deadline: event.at + this.timers.retention,
      }, turn);
      turn.log(
        "info",
        `Transaction ${event.tx}: ${request.buyer} paid ${
          formatMoney(request.price!)
        } for ${request.item}; ${request.seller} is credited ${
          formatMoney(entry.sellerCredit)
        }, fee ${formatMoney(entry.fee)}`,
      );
      this.soldFromListing(request.seller!, request.item, turn);
      if (plan) this.concludeSale(bought, plan, this.owed(bought), turn);
      return;
    }
    turn.log("warning", `Transaction ${event.tx} failed: ${outcome.reason}`);
    if (plan) {
      turn.conclude({
        request: request.id,
        plan,
        conclusion: { ok: false, reason: outcome.reason },
        deliver: [],
      });
    }
    // Over UDP too, in case a TCP connection never came up.
    this.cancelBothSides(request, turn);
    this.end(open, "cancelled", `transaction failed: ${outcome.reason}`, turn);
  }

  /**
   * The outcome of a leg whose purchase ended while it ran (a party left
   * the marketplace): no sale, whatever the outcome. The leg ends with
   * CANCEL on its connections, so a seller that took INFORM_Req for an
   * item the UDP CANCEL had released (it holds it for the transaction
   * then) lets it go; the ledger keeps the attempt.
   */
  protected endedDuringLeg(
    event: Extract<ServerEvent, { kind: "transacted" }>,
    request: RequestRecord,
    plan: TransactionPlan,
    turn: MarketTurn,
  ): void {
    const reason = `the purchase ended during the transaction: ${request.reason ?? "cancelled"}`;
    turn.save({
      key: ["ledger", event.tx],
      value: ledgerEntry(request, event, { ok: false, reason }),
    });
    turn.log(
      "warning",
      `Transaction ${event.tx} ended after its purchase ${request.id}: ${reason}${
        event.outcome.ok ? " (the charge went through: refund it)" : ""
      }`,
    );
    turn.conclude({ request: request.id, plan, conclusion: { ok: false, reason }, deliver: [] });
  }

  /** Ends a settled sale's TCP leg and has Shipping_Info delivered to `deliver`. */
  protected concludeSale(
    request: RequestRecord,
    plan: TransactionPlan,
    deliver: readonly ("seller" | "buyer")[],
    turn: MarketTurn,
  ): void {
    const { name, address } = request.shipTo!;
    const conclusion = { ok: true, buyerName: name, address } as const;
    turn.conclude({ request: request.id, plan, conclusion, deliver });
  }

  /**
   * A party came back (restarted, perhaps at a new address): the sales it
   * has yet to hear of go to it again, at the address it has now.
   */
  protected redeliverTo(name: string, turn: MarketTurn): void {
    for (const { record } of this.table.undeliveredSales()) {
      if (record.seller !== name && record.buyer !== name) continue;
      const plan = this.plan(record);
      if (!plan || !record.shipTo) continue;
      const deliver = this.owed(record).filter((role) => plan[role].name === name);
      if (deliver.length > 0) this.concludeSale(record, plan, deliver, turn);
    }
  }

  /** Who has yet to hear of a settled sale: the seller, and our own buyer (its receipt). */
  protected owed(request: RequestRecord): ("seller" | "buyer")[] {
    if (request.state !== "bought") return [];
    const buyer = this.registry.get(request.buyer);
    const ours = buyer !== undefined && isOurs(buyer);
    return [
      ...(request.shipped ? [] : ["seller" as const]),
      ...(ours && !request.receipted ? ["buyer" as const] : []),
    ];
  }

  /** Tells both sides a purchase is off: the seller releases the item, the buyer stops waiting. */
  protected cancelBothSides(request: RequestRecord, turn: MarketTurn): void {
    this.sendTo(request.seller!, cancel(request, "seller"), turn);
    this.sendTo(request.buyer, cancel(request, "buyer"), turn);
  }
}

/**
 * A transaction's ledger entry: a completed sale with its fee split and
 * the masked cards, or a cancelled one with its reason and no money.
 */
function ledgerEntry(
  request: RequestRecord,
  event: Extract<ServerEvent, { kind: "transacted" }>,
  outcome: TransactionOutcome,
): LedgerEntry {
  const { fee, sellerShare } = splitPrice(request.price!);
  return {
    tx: event.tx,
    request: request.id,
    buyerRq: request.buyerRq,
    item: request.item,
    price: request.price!,
    fee: outcome.ok ? fee : 0,
    sellerCredit: outcome.ok ? sellerShare : 0,
    buyer: request.buyer,
    seller: request.seller!,
    ...(outcome.ok ? { buyerCard: outcome.buyer.card, sellerCard: outcome.seller.card } : {}),
    outcome: outcome.ok ? "completed" : "cancelled",
    ...(outcome.ok ? {} : { reason: outcome.reason }),
    at: event.at,
  };
}
