/**
 * The agent's text views, printed for `inventory`, `requests`, `history`
 * and `status`: a readable table or summary, and the same data as fields
 * for `--json`. They read the state and change nothing.
 *
 * @module
 */
import { formatAddress, maskCard } from "../../protocol/mod.ts";
import { fromCents, toCents } from "../../protocol/fee.ts";
import { formatMoney } from "../../protocol/money.ts";
import type { AgentTurn } from "./effects.ts";
import { type AgentState, OPEN_STATES, sortedRequests } from "./state.ts";
import type { HistoryEntry, InventoryItem } from "./records.ts";
import { displayWidth } from "../text_width.ts";

/** What a command that needs the registration says before there is one. */
export const NOT_REGISTERED = "Not registered: type register first";

/** The inventory, sorted by item name. */
export function sortedItems(state: AgentState): InventoryItem[] {
  return [...state.items.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([, item]) => item);
}

/** Completed sales and purchases, oldest first. */
export function sortedHistory(state: AgentState): HistoryEntry[] {
  return [...state.history.values()].sort((a, b) => a.at - b.at);
}

/** Whether the server agreed `auth`: MACs on datagrams, TLS on the TCP port. */
export function isAuthenticated(state: AgentState): boolean {
  return state.registered && state.extensions.has("auth");
}

/** Prints the inventory (`inventory`). */
export function printInventory(state: AgentState, turn: AgentTurn): void {
  const items = sortedItems(state).map((item) => ({
    item: item.item,
    price: item.price,
    floor: item.floor,
    state: item.reservedFor === undefined ? "available" : "reserved",
    reservedFor: item.reservedFor,
    description: item.description,
    addedAt: item.addedAt,
  }));
  const text = items.length === 0
    ? "The inventory is empty: add an item with sell ITEM PRICE"
    : table(
      ["ITEM", "PRICE", "FLOOR", "STATE", "DESCRIPTION"],
      items.map((item) => [
        item.item,
        formatMoney(item.price),
        item.floor === undefined ? "-" : formatMoney(item.floor),
        item.reservedFor === undefined ? item.state : `reserved (${item.reservedFor})`,
        item.description,
      ]),
      [false, true, true, false, false],
    );
  turn.print("inventory", text, { items });
}

/** Prints this peer's searches (`requests`), with their age at the turn's time. */
export function printRequests(state: AgentState, turn: AgentTurn): void {
  const requests = sortedRequests(state);
  const text = requests.length === 0
    ? "No searches yet: look for an item with buy ITEM MAX_PRICE"
    : table(
      ["RQ", "ITEM", "MAX", "STATE", "PRICE", "SELLER", "AGE"],
      requests.map((request) => [
        request.rq,
        request.item,
        formatMoney(request.maxPrice),
        // Words for people; the JSON fields keep the machine's names.
        request.state.replaceAll("_", " "),
        request.price === undefined ? "-" : formatMoney(request.price),
        request.seller ?? "-",
        formatAge(turn.at - request.createdAt),
      ]),
      [false, false, true, false, true, false, true],
    );
  turn.print("requests", text, { requests });
}

/** Prints the completed sales and purchases with their totals (`history`). */
export function printHistory(state: AgentState, turn: AgentTurn): void {
  const entries = sortedHistory(state);
  // Summed in whole cents, so the totals are exact.
  let bought = 0, sold = 0, received = 0, fees = 0, purchases = 0, sales = 0;
  for (const entry of entries) {
    if (entry.role === "buyer") {
      purchases++;
      bought += toCents(entry.price);
    } else {
      sales++;
      sold += toCents(entry.price);
      received += toCents(entry.credit);
      fees += toCents(entry.fee);
    }
  }
  const totals = {
    purchases,
    bought: fromCents(bought),
    sales,
    sold: fromCents(sold),
    fees: fromCents(fees),
    received: fromCents(received),
  };
  const text = entries.length === 0 ? "No sales or purchases yet" : `${
    table(
      ["TIME (UTC)", "ROLE", "ITEM", "PRICE", "FEE", "SELLER GOT", "WITH", "SHIP TO"],
      entries.map((entry) => [
        formatTime(entry.at),
        entry.role === "seller" ? "sold" : "bought",
        entry.item,
        formatMoney(entry.price),
        formatMoney(entry.fee),
        formatMoney(entry.credit),
        entry.counterparty ?? "-",
        entry.address ?? "-",
      ]),
      [false, false, false, true, true, true, false, false],
    )
  }\n` +
    `Bought ${purchases} for ${formatMoney(totals.bought)}; sold ${sales} for ${
      formatMoney(totals.sold)
    } and received ${formatMoney(totals.received)} after ${formatMoney(totals.fees)} in fees`;
  turn.print("history", text, { entries, totals });
}

/** Prints who this peer is, its server and session, and what is open (`status`). */
export function printStatus(state: AgentState, turn: AgentTurn): void {
  const id = state.profile;
  const server = formatAddress(id.server);
  const reserved = [...state.items.values()].filter((item) => item.reservedFor !== undefined)
    .length;
  const open = [...state.requests.values()].filter((r) => OPEN_STATES.has(r.state)).length;
  const kind = state.serverKind === "ours"
    ? `our server${state.extensions.size ? ` (extensions: ${state.extensions})` : ""}`
    : state.serverKind === "classic"
    ? "a classic server"
    : "server kind unknown until registered";
  const authenticated = isAuthenticated(state);
  const card = state.payment ? maskCard(state.payment.card) : undefined;
  const serverKey = state.serverKey
    ? `server key ${state.serverKey.fingerprint} (${
      state.serverKeyGiven ? "given with --server-key" : "pinned at the first registration"
    })`
    : "no server key pinned yet (the first signed registration pins it)";
  const session = authenticated
    ? "session authenticated: MAC on every datagram, TLS on the TCP port"
    : state.registered
    ? `session not authenticated: plain datagrams and TCP${
      state.allowPlaintext ? "" : "; card data refused (no --allow-plaintext)"
    }`
    : "no session until registered";
  turn.print(
    "status",
    [
      `${id.name}: ${state.registered ? "registered" : "not registered"} with ${server}`,
      `  announced IP ${id.ip}, UDP port ${id.udpPort}, TCP port ${id.tcpPort}`,
      ...(state.silentSince === undefined
        ? []
        : [`  Server ${server}: not answering since ${formatClock(state.silentSince)}`]),
      `  ${state.unacked.size} message(s) to the server waiting for an answer`,
      `  ${kind}`,
      `  key ${state.key?.fingerprint ?? "none"}; ${serverKey}`,
      `  ${session}`,
      `  ${state.items.size} item(s) for sale (${reserved} reserved), ${open} open search(es), ` +
      `${state.questions.length} question(s) to answer, auto-buy ${state.autoBuy ? "on" : "off"}`,
      `  payment details: ${
        card === undefined
          ? "none kept (asked for when a sale or purchase needs them)"
          : `card ending ${card.slice(-4)}, kept for this session`
      }`,
    ].join("\n"),
    {
      name: id.name,
      registered: state.registered,
      server,
      ip: id.ip,
      udpPort: id.udpPort,
      tcpPort: id.tcpPort,
      pending: state.unacked.size,
      ...(state.silentSince === undefined ? {} : { notAnsweringSince: state.silentSince }),
      serverKind: state.serverKind,
      features: state.extensions.toArray(),
      keyFingerprint: state.key?.fingerprint,
      serverKeyFingerprint: state.serverKey?.fingerprint,
      serverKeyGiven: state.serverKeyGiven,
      authenticated,
      allowPlaintext: state.allowPlaintext,
      items: state.items.size,
      reserved,
      openRequests: open,
      questions: state.questions.length,
      autoBuy: state.autoBuy,
      paymentCardLast4: card?.slice(-4) ?? null,
    },
  );
}

/**
 * What is still open, in words, for a person about to leave: searches,
 * purchases and sales under way, questions unanswered; `undefined` when
 * nothing is.
 */
export function describePending(state: AgentState): string | undefined {
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const open = [...state.requests.values()].filter((r) => OPEN_STATES.has(r.state));
  const parts: string[] = [];
  if (open.length > 0) {
    parts.push(
      `${count(open.length, "open search", "open searches")} (${
        open.map((request) => request.item).join(", ")
      })`,
    );
  }
  if (state.transactions.size > 0) {
    parts.push(
      count(state.transactions.size, "sale or purchase", "sales or purchases") + " under way",
    );
  }
  if (state.questions.length > 0) {
    parts.push(count(state.questions.length, "question", "questions") + " unanswered");
  }
  if (state.queued.length > 0) {
    // Kept in memory only: leaving drops them.
    parts.push(
      count(state.queued.length, "command", "commands") +
        ` not run, waiting for the registration (${
          state.queued.map((command) => command.name).join(", ")
        })`,
    );
  }
  return parts.length === 0 ? undefined : parts.join(", ");
}

/** A plain-text table with a header row; `right` aligns numeric columns. */
function table(header: string[], rows: string[][], right: boolean[]): string {
  // Columns, not code units: an item named 日本 takes four.
  const widths = header.map((title, i) =>
    Math.max(displayWidth(title), ...rows.map((row) => displayWidth(row[i] ?? "")))
  );
  const pad = (cell: string, i: number) => " ".repeat(widths[i]! - displayWidth(cell));
  const line = (cells: string[]) =>
    cells.map((cell, i) => {
      const last = i === cells.length - 1;
      if (right[i]) return pad(cell, i) + cell;
      return last ? cell : cell + pad(cell, i);
    }).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** A time as `2026-11-25 17:37` in UTC. */
export function formatTime(at: number): string {
  return new Date(at).toISOString().slice(0, 16).replace("T", " ");
}

/** A time of day as `HH:MM:SS` (UTC, as {@linkcode formatTime}). */
export function formatClock(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

/** A duration as the largest whole unit: `45s`, `12m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
