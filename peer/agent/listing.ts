/**
 * The offer book on the peer's side (extension `book`): what the inventory
 * lists on the server, kept in step after every event (`sell`, `unsell`, a
 * sale, a new registration), the answer to a listing's RESERVE, `browse`
 * and its CATALOGUE pages, and the keep-alive that keeps this peer known.
 *
 * What the server has been told is in memory only: after a restart (or
 * any REGISTERED) everything is listed again in full, which the server
 * takes as it comes (a LIST sets a listing as a whole).
 *
 * @module
 */
import { formatMoney } from "../../protocol/money.ts";
import { displayWidth } from "../text_width.ts";
import { type CatalogueEntry, type MessageOf } from "../../protocol/mod.ts";
import type { AgentTurn, PeerEffect } from "./effects.ts";
import type { AgentState } from "./state.ts";
import { NOT_REGISTERED } from "./views.ts";

/** How long this peer stays silent before it says ALIVE. */
export const KEEP_ALIVE_MS = 20_000;

/** The most CATALOGUE pages one `browse` fetches. */
export const MAX_BROWSE_PAGES = 20;

/** A listing as the server was told it. */
interface Told {
  readonly item: string;
  readonly price: number;
  readonly quantity: number;
  readonly description: string;
}

/** A `browse` under way. */
interface Browsing {
  readonly prefix: string;
  readonly entries: CatalogueEntry[];
  readonly pages: number;
}

/** The listing side of the agent, in memory. */
export class ListingSync {
  /** Silence before ALIVE; 0 turns the keep-alive off. */
  readonly keepAlive: number;
  /** Inventory key → what the server was told. */
  readonly told = new Map<string, Told>();
  /** The last LIST's seq: each change gets a higher one. */
  seq = 0;
  /** When this peer last sent the server anything. */
  lastSent = 0;
  /** BROWSE RQ# → the browse it belongs to. */
  readonly browsing = new Map<string, Browsing>();

  constructor(keepAlive = KEEP_ALIVE_MS) {
    this.keepAlive = keepAlive;
  }

  /**
   * Listings whose LIST the server never acknowledged: sent again once the
   * server is heard from (not into a server that does not answer).
   */
  readonly #lost = new Map<string, Told>();
  /** Withdrawals to send again (the server was heard from after they were lost). */
  readonly withdrawals = new Map<string, Told>();

  /** Everything is to be listed again (a new registration). */
  reset(): void {
    this.told.clear();
    this.#lost.clear();
    this.withdrawals.clear();
  }

  /** A LIST got no answer after every try. */
  lost(list: Told): void {
    const { item, price, quantity, description } = list;
    this.#lost.set(item.toLowerCase(), { item, price, quantity, description });
  }

  /** The server was heard from: what it may have missed is sent again. */
  heard(): void {
    // Listed again if it is still for sale, withdrawn again if not.
    for (const [key, list] of this.#lost) {
      this.told.delete(key);
      this.withdrawals.set(key, list);
    }
    this.#lost.clear();
  }
}

/** Whether the server keeps our listings (and no REGISTER is under way: its answer lists anew). */
export function lists(state: AgentState): boolean {
  if (!state.registered || !state.extensions.has("book")) return false;
  for (const pending of state.pending.values()) if (pending.type === "REGISTER") return false;
  return true;
}

/** Sends a LIST for every item whose listing changed, and withdraws those gone. */
export function syncListings(state: AgentState, sync: ListingSync, turn: AgentTurn): void {
  if (!lists(state)) return;
  const name = state.profile.name;
  const send = (told: Told) => {
    sync.seq = Math.max(sync.seq + 1, Math.floor(turn.at));
    turn.send({ type: "LIST", rq: state.newRq(), name, seq: sync.seq, ...told });
  };
  for (const [key, item] of state.items) {
    const want: Told = {
      item: item.item,
      price: item.price,
      quantity: item.quantity ?? 1,
      description: item.description,
    };
    const told = sync.told.get(key);
    if (
      told && told.item === want.item && told.price === want.price &&
      told.quantity === want.quantity && told.description === want.description
    ) continue;
    sync.told.set(key, want);
    send(want);
  }
  for (const [key, told] of sync.told) {
    if (state.items.has(key)) continue;
    sync.told.delete(key);
    send({ ...told, quantity: 0 });
  }
  for (const [key, told] of sync.withdrawals) {
    sync.withdrawals.delete(key);
    if (!state.items.has(key) && !sync.told.has(key)) send({ ...told, quantity: 0 });
  }
}

/**
 * After RESERVE, for a server with `book`: OFFER says the item is held for
 * it, NO_OFFER that it cannot be (the server then asks the next lister).
 */
export function answerReserve(
  state: AgentState,
  turn: AgentTurn,
  message: MessageOf<"RESERVE">,
): void {
  if (!state.extensions.has("book")) return;
  const name = state.profile.name;
  const item = state.items.get(message.item.toLowerCase());
  if (item?.reservedFor === message.rq) {
    turn.send({ type: "OFFER", rq: message.rq, name, item: item.item, price: message.price });
  } else {
    turn.send({ type: "NO_OFFER", rq: message.rq, name, item: message.item });
  }
}

/** The `browse [PREFIX]` command: the catalogue's first page is asked for. */
export function browse(
  state: AgentState,
  sync: ListingSync,
  turn: AgentTurn,
  prefix: string,
): void {
  if (!lists(state)) {
    turn.error(
      state.registered
        ? "This server keeps no offer book (a classic server): browse needs ours"
        : NOT_REGISTERED,
    );
    return;
  }
  askPage(state, sync, turn, { prefix, entries: [], pages: 0 }, 0);
}

function askPage(
  state: AgentState,
  sync: ListingSync,
  turn: AgentTurn,
  browsing: Browsing,
  from: number,
): void {
  const rq = state.newRq();
  sync.browsing.set(rq, browsing);
  turn.send({ type: "BROWSE", rq, name: state.profile.name, from, prefix: browsing.prefix });
}

/** A CATALOGUE page: the next one is asked for, or the catalogue printed. */
export function onCatalogue(
  state: AgentState,
  sync: ListingSync,
  turn: AgentTurn,
  message: MessageOf<"CATALOGUE">,
): void {
  const browsing = sync.browsing.get(message.rq);
  if (!browsing) {
    turn.log("debug", `CATALOGUE ${message.rq}: no browse waits for it (a repeat)`);
    return;
  }
  sync.browsing.delete(message.rq);
  const so: Browsing = {
    ...browsing,
    entries: [...browsing.entries, ...message.entries],
    pages: browsing.pages + 1,
  };
  const more = message.next < message.total && message.entries.length > 0;
  if (more && so.pages < MAX_BROWSE_PAGES) return askPage(state, sync, turn, so, message.next);
  printCatalogue(turn, so, message.total);
}

function printCatalogue(turn: AgentTurn, browsing: Browsing, total: number): void {
  const { prefix, entries, pages } = browsing;
  const what = prefix === "" ? "" : ` starting with ${JSON.stringify(prefix)}`;
  const rows = entries.map((entry) => [
    entry.item,
    formatMoney(entry.price),
    String(entry.sellers),
    String(entry.quantity),
  ]);
  const header = ["ITEM", "FROM", "SELLERS", "FOR SALE"];
  // Terminal columns, not code units: an item named 日本茶 takes six.
  const widths = header.map((title, i) =>
    Math.max(displayWidth(title), ...rows.map((row) => displayWidth(row[i]!)))
  );
  const pad = (cell: string, i: number) => " ".repeat(widths[i]! - displayWidth(cell));
  const line = (row: string[]) =>
    row.map((cell, i) => i === 0 ? cell + pad(cell, i) : pad(cell, i) + cell).join("  ").trimEnd();
  const shown = entries.length < total ? ` (the first ${entries.length} of ${total})` : "";
  const text = entries.length === 0
    ? `Nothing for sale${what}`
    : `${total} item(s) for sale${what}${shown}:\n${[header, ...rows].map(line).join("\n")}`;
  turn.print("browse", text, { prefix, entries, total, pages });
}

/** Says ALIVE when this peer has sent the server nothing for a while. */
export function keepAlive(state: AgentState, sync: ListingSync, turn: AgentTurn): void {
  if (!lists(state) || sync.keepAlive <= 0 || turn.at - sync.lastSent < sync.keepAlive) return;
  turn.send({ type: "ALIVE", rq: state.newRq(), name: state.profile.name });
}

/** When the next keep-alive is due, if this peer keeps itself known. */
export function nextKeepAlive(state: AgentState, sync: ListingSync): number | undefined {
  return lists(state) && sync.keepAlive > 0 ? sync.lastSent + sync.keepAlive : undefined;
}

/** What goes out ahead of a turn's printed lines (see {@linkcode listingsBeforePrints}). */
const AHEAD: ReadonlySet<string> = new Set(["LIST", "OFFER", "NO_OFFER"]);

/**
 * A turn's LISTs and answers to RESERVE (OFFER, NO_OFFER) moved ahead of
 * its printed lines (writes stay first): a script that buys as soon as
 * `sell` is shown finds the item listed, and one that stops a seller as
 * soon as RESERVE is shown finds the item held, as before the book.
 */
export function listingsBeforePrints(effects: PeerEffect[]): PeerEffect[] {
  const isAhead = (effect: PeerEffect) => effect.kind === "send" && AHEAD.has(effect.message.type);
  const firstPrint = effects.findIndex((effect) => effect.kind === "print");
  if (firstPrint < 0 || !effects.slice(firstPrint).some(isAhead)) return effects;
  const before = effects.slice(0, firstPrint);
  const after = effects.slice(firstPrint);
  return [...before, ...after.filter(isAhead), ...after.filter((effect) => !isAhead(effect))];
}
