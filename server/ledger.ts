/**
 * The fee ledger as a user reads it: every transaction, and the totals of
 * sales and fees. Read straight from the KV file, no server needed.
 *
 * @module
 */
import type { LedgerEntry } from "./market.ts";
import { toCents } from "../protocol/fee.ts";

/** Sums over the completed transactions. */
export interface LedgerTotals {
  readonly transactions: number;
  readonly completed: number;
  readonly cancelled: number;
  /** What buyers paid. */
  readonly sales: number;
  /** The server's share. */
  readonly fees: number;
  /** What sellers were credited. */
  readonly credits: number;
}

/** Adds up a ledger, in exact cents. */
export function totals(entries: readonly LedgerEntry[]): LedgerTotals {
  let sales = 0, fees = 0, credits = 0, completed = 0;
  for (const entry of entries) {
    if (entry.outcome !== "completed") continue;
    completed++;
    sales += toCents(entry.price);
    fees += toCents(entry.fee);
    credits += toCents(entry.sellerCredit);
  }
  return {
    transactions: entries.length,
    completed,
    cancelled: entries.length - completed,
    sales: sales / 100,
    fees: fees / 100,
    credits: credits / 100,
  };
}

function money(amount: number): string {
  return amount.toFixed(2);
}

/** The ledger as an aligned text table followed by the totals. */
export function formatLedger(entries: readonly LedgerEntry[]): string {
  const sorted = [...entries].sort((a, b) => a.at - b.at);
  const header = [
    "time",
    "tx",
    "item",
    "price",
    "fee",
    "seller gets",
    "buyer",
    "seller",
    "card",
    "outcome",
  ];
  const rows = sorted.map((entry) => [
    new Date(entry.at).toISOString().replace("T", " ").slice(0, 19),
    entry.tx,
    entry.item,
    money(entry.price),
    money(entry.fee),
    money(entry.sellerCredit),
    entry.buyer,
    entry.seller,
    entry.buyerCard ?? "-",
    entry.outcome === "completed" ? "completed" : `cancelled: ${entry.reason ?? ""}`,
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i]!.length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ")
      .trimEnd();
  const sum = totals(entries);
  return [
    ...(rows.length ? [line(header), ...rows.map(line)] : ["No transactions yet."]),
    "",
    `${sum.completed} completed, ${sum.cancelled} cancelled; sales ${money(sum.sales)}, fees ${
      money(sum.fees)
    }, paid to sellers ${money(sum.credits)}`,
  ].join("\n");
}
