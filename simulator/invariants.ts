/**
 * The rules the simulated marketplace must keep, checked against the
 * machines' stored records (what survives a crash is what counts): after
 * every step the safety rules, at the end of a run (once every timeout has
 * fired) the liveness rules too. Each check returns the broken rule in
 * words, or nothing.
 *
 * @module
 */
import type { LedgerEntry, RequestRecord } from "../server/market.ts";
import { toCents } from "../protocol/fee.ts";
import type { BuyRequest, HistoryEntry, InventoryItem } from "../peer/agent.ts";
import { ledger, type RecordStore } from "./records.ts";

/** What the checks look at. */
export interface WorldView {
  readonly market: RecordStore;
  readonly agents: ReadonlyMap<string, RecordStore>;
  /** The card numbers in use: none may show up in a record or an output. */
  readonly cards: readonly string[];
}

/** An agent's searches not yet ended and items still reserved, now, in words. */
export function leftovers(name: string, store: RecordStore): string[] {
  const found: string[] = [];
  for (const request of store.all<BuyRequest>("request")) {
    if (["searching", "found", "buying"].includes(request.state)) {
      found.push(`${name}'s search ${request.rq} for ${request.item} is still ${request.state}`);
    }
  }
  for (const item of store.all<InventoryItem>("item")) {
    if (item.reservedFor !== undefined) {
      found.push(`${name}'s ${item.item} is still reserved for ${item.reservedFor}`);
    }
  }
  return found;
}

/** The rules that hold at every moment. */
export function checkSafety(world: WorldView): string | undefined {
  const entries = ledger(world.market);
  const completed = entries.filter((entry) => entry.outcome === "completed");
  const sold = new Map<string, LedgerEntry>();
  const byTx = new Map<string, LedgerEntry>();
  const byRequest = new Map<string, LedgerEntry>();
  for (const entry of completed) {
    const listing = `${entry.seller}\0${entry.item.toLowerCase()}`;
    const earlier = sold.get(listing);
    if (earlier) {
      return `${entry.seller}'s ${entry.item} was sold twice: in ${earlier.tx} to ${earlier.buyer} and in ${entry.tx} to ${entry.buyer}`;
    }
    sold.set(listing, entry);
    const again = byRequest.get(entry.request);
    if (again) return `search ${entry.request} was settled twice: ${again.tx} and ${entry.tx}`;
    byRequest.set(entry.request, entry);
    byTx.set(entry.tx, entry);
    const split = splitProblem(entry.price, entry.fee, entry.sellerCredit);
    if (split) return `ledger entry ${entry.tx}: ${split}`;
  }
  // The server holds one seller's item for one search at a time: two
  // searches holding it could both go on to sell it.
  const held = new Map<string, string>();
  for (const request of world.market.all<RequestRecord>("request")) {
    if ((request.state !== "found" && request.state !== "buying") || !request.seller) continue;
    const listing = `${request.seller}\0${request.item.toLowerCase()}`;
    const other = held.get(listing);
    if (other) {
      return `${request.seller}'s ${request.item} is reserved for two searches: ${other} and ${request.id}`;
    }
    held.set(listing, request.id);
  }
  for (const [name, store] of world.agents) {
    const history = store.all<HistoryEntry>("history");
    const items = new Set(store.all<InventoryItem>("item").map((item) => item.item.toLowerCase()));
    const soldItems = new Set<string>();
    for (const entry of history) {
      const sale = byTx.get(entry.tx);
      const party = entry.role === "seller" ? sale?.seller : sale?.buyer;
      if (!sale || party !== name) {
        return `${name}'s history has a ${entry.role} entry ${entry.tx} for ${entry.item} that the ledger has no sale of with ${name} as ${entry.role}`;
      }
      if (toCents(entry.price) !== toCents(sale.price)) {
        return `${name}'s history has ${entry.tx} at ${entry.price}, the ledger at ${sale.price}`;
      }
      const split = splitProblem(entry.price, entry.fee, entry.credit);
      if (split) return `${name}'s history entry ${entry.tx}: ${split}`;
      if (entry.role !== "seller") continue;
      const item = entry.item.toLowerCase();
      if (soldItems.has(item)) return `${name}'s history shows ${entry.item} sold twice`;
      soldItems.add(item);
      if (items.has(item)) {
        return `${name} sold ${entry.item} (${entry.tx}) but it is still in its inventory`;
      }
    }
  }
  return undefined;
}

/** The rules that hold once the run is over and every timeout has fired. */
export function checkEnd(world: WorldView): string | undefined {
  const safety = checkSafety(world);
  if (safety) return safety;
  const completed = ledger(world.market).filter((entry) => entry.outcome === "completed");
  for (const sale of completed) {
    for (const [role, name] of [["seller", sale.seller], ["buyer", sale.buyer]] as const) {
      const store = world.agents.get(name);
      const entries = store?.all<HistoryEntry>("history")
        .filter((entry) => entry.tx === sale.tx && entry.role === role) ?? [];
      if (entries.length !== 1) {
        return `sale ${sale.tx} (${sale.item} from ${sale.seller} to ${sale.buyer}) is in ${name}'s history ${entries.length} times as ${role}, not once`;
      }
    }
    const items = world.agents.get(sale.seller)?.all<InventoryItem>("item") ?? [];
    if (items.some((item) => item.item.toLowerCase() === sale.item.toLowerCase())) {
      return `${sale.seller} sold ${sale.item} (${sale.tx}) but it is still in its inventory`;
    }
  }
  for (const request of world.market.all<RequestRecord>("request")) {
    if (["searching", "negotiating", "found", "buying"].includes(request.state)) {
      return `the server's search ${request.id} (${request.buyer} for ${request.item}) is still ${request.state}`;
    }
  }
  for (const [name, store] of world.agents) {
    const open = leftovers(name, store)[0];
    if (open) return open;
  }
  return undefined;
}

/**
 * Where a card number shows in a text: any run of 12 to 19 digits that is
 * one of the cards in use.
 */
export function cardIn(text: string, cards: readonly string[]): string | undefined {
  for (const run of text.matchAll(/[0-9]{12,19}/g)) {
    if (cards.some((card) => run[0].includes(card) || card.includes(run[0]))) return run[0];
  }
  return undefined;
}

/** Whether a price splits exactly into the fee and the seller's share, in cents. */
function splitProblem(price: number, fee: number, share: number): string | undefined {
  if (toCents(fee) + toCents(share) === toCents(price)) return undefined;
  return `fee ${fee} + seller's share ${share} is not the price ${price}`;
}
