/**
 * The agent's whole state as one explicit value, {@linkcode AgentState}:
 * what the stored records say (registration, inventory, searches,
 * negotiations, history) and what lives only in memory (requests awaiting
 * an answer, the question queue, open TCP transactions, the payment
 * details). Every sub-machine is a set of functions over it and the
 * event's {@linkcode AgentTurn}; the small helpers here change one record
 * and write it through the turn, so memory and store never drift apart.
 *
 * @module
 */
import { type Address, formatAddress, isLoopback, type Message } from "../../protocol/mod.ts";
import { ExtensionSet } from "../../protocol/extensions.ts";
import type { MoveGuard } from "../../protocol/transitions.ts";
import { ITEM_MOVES, itemState } from "./item_states.ts";
import { REQUEST_MOVES } from "./request_states.ts";
import {
  DEFAULT_RETRANSMIT,
  type RetransmitOptions,
  Retransmitter,
} from "../../transport/reliability.ts";
import type { Command } from "../commands.ts";
import type { PaymentDetails } from "../payment.ts";
import type { AgentTurn } from "./effects.ts";
import type {
  BuyRequest,
  HistoryEntry,
  InventoryItem,
  NegotiationRecord,
  PeerSnapshot,
  Role,
  ServerKind,
} from "./records.ts";
import type { KeyInfo, Question } from "./types.ts";

export type { KeyInfo } from "./types.ts";

/** Who this peer is and where it listens. */
export interface PeerProfile {
  readonly name: string;
  /** The IP announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly server: Address;
}

/** Options for the `Agent`. */
export interface AgentOptions {
  /** Makes request tokens; each call must return a new one. */
  readonly newRq: () => string;
  /** Buy every FOUND at once (`--auto-buy`); otherwise the stored setting decides. */
  readonly autoBuy?: boolean;
  /** Payment details for INFORM_Res (`--payment`); without them, they are asked for. */
  readonly payment?: PaymentDetails;
  /** This peer's identity key: with it, REGISTER offers `auth` (the shell signs it). */
  readonly key?: KeyInfo;
  /** The server key pinned, or given with `--server-key`, for `status`. */
  readonly serverKey?: KeyInfo;
  /** Whether `serverKey` came from `--server-key` rather than a first registration. */
  readonly serverKeyGiven?: boolean;
  /** Send card data over plain TCP to a server without TLS (`--allow-plaintext`). */
  readonly allowPlaintext?: boolean;
  /** Retransmission timing of requests to the server. */
  readonly retransmit?: Partial<RetransmitOptions>;
  /** Silence after which the peer says ALIVE to a server with `book` (0: never). */
  readonly keepAlive?: number;
  /**
   * How long the server waits for the answer to NEGOTIATE (its
   * `--negotiation-timeout`, 1 minute by default): a question still
   * unanswered then is withdrawn.
   */
  readonly negotiationTimeout?: number;
  /**
   * Throw on a change of a search's or an item's state its table does not
   * allow (tests, the simulator); by default the change is refused and a
   * warning logged.
   */
  readonly strictTransitions?: boolean;
}

/** The server's default `--negotiation-timeout`. */
export const NEGOTIATION_TIMEOUT_MS = 60_000;

/** The payment details being asked, one question at a time. */
export interface Interview {
  card?: string;
  expiry?: string;
  /** How many answers to the question on screen were not valid. */
  tries: number;
  /** Asked by the `payment` command, not for a transaction. */
  readonly manual?: boolean;
}

/** A TCP transaction this peer takes part in, by connection. */
export interface Transaction {
  /** The RQ# of INFORM_Req. */
  readonly rq: string;
  readonly role: Role;
  /** The item as this peer spells it. */
  readonly item: string;
  readonly price: number;
  /** The buyer's request RQ#, or the seller's inventory key. */
  readonly ref: string;
  /** The seller, for a purchase, when FOUND named it. */
  readonly counterparty?: string;
  /** Whether INFORM_Res went out, and the address it gave. */
  readonly answered: boolean;
  readonly address?: string;
}

/** A REGISTER or DE-REGISTER waiting for its answer. */
export interface Pending {
  readonly type: "REGISTER" | "DE-REGISTER";
  readonly at: number;
  /** A REGISTER that offered extensions (a denial is retried without them). */
  readonly extended?: boolean;
  /** The automatic REGISTER of a restart: open flows are taken up after it. */
  readonly auto?: boolean;
  /** For the unsigned retry: why the REGISTER with extensions was denied. */
  readonly firstDenial?: string;
  /** How many RETRYs this registration has followed (a bound against a forger). */
  readonly retries?: number;
  /**
   * A REGISTER with extensions that went unanswered (or got an answer that
   * does not parse) and has a classic REGISTER sent beside it: whichever is
   * answered first registers.
   */
  readonly fellBack?: boolean;
  /** The classic REGISTER sent beside a `fellBack` one: its tries are not shown. */
  readonly beside?: boolean;
  /** A signed REGISTER sent again once our server refused the classic one beside the first. */
  readonly again?: boolean;
}

/**
 * A classic server's purchase not yet confirmed: it closed the connection
 * after INFORM_Res, and a CANCEL may still come on a new one.
 */
export interface Unconfirmed {
  readonly transaction: Transaction;
  /** When the purchase counts as confirmed if no CANCEL came. */
  readonly at: number;
}

/**
 * A seller's transaction whose connection ended before it was settled: the
 * item stays held for it while the server may still settle or cancel it
 * (or, restarted, run it again).
 */
export interface Unsettled {
  /** The item's inventory key. */
  readonly key: string;
  /** When the connection ended. */
  readonly endedAt: number;
  /** When the server was first heard from since. */
  heardAt?: number;
}

/** Everything the agent knows; one value, changed only while handling an event. */
export interface AgentState {
  readonly profile: PeerProfile;
  readonly newRq: () => string;
  /** See {@linkcode AgentOptions.strictTransitions}. */
  readonly strictTransitions: boolean;
  registered: boolean;
  serverKind: ServerKind;
  /** The extensions the server agreed (none for a classic server). */
  extensions: ExtensionSet;
  autoBuy: boolean;
  /** REGISTER and DE-REGISTER requests awaiting their answer, by RQ#. */
  readonly pending: Map<string, Pending>;
  /** Inventory by lower-case item name. */
  readonly items: Map<string, InventoryItem>;
  readonly requests: Map<string, BuyRequest>;
  readonly negotiations: Map<string, NegotiationRecord>;
  /** Questions in the order they came; the first one is the one asked. */
  questions: Question[];
  /** The question whose prompt was printed last, while it is first. */
  asked: string | undefined;
  /** Messages already acted on (`TYPE rq`), so duplicates are told apart. */
  readonly recent: Map<string, true>;
  /** Payment details, from `--payment` or typed once; in memory only. */
  payment: PaymentDetails | undefined;
  /** The payment details typed so far, while they are being asked. */
  interview: Interview | undefined;
  /**
   * A card or expiry prompt was withdrawn while on screen: the next line
   * may be that secret, so it is read without echo and discarded.
   */
  withdrawnSecret: boolean;
  /** See {@linkcode AgentOptions.negotiationTimeout}. */
  readonly negotiationTimeout: number;
  /** Connections waiting for the payment details being asked, oldest first. */
  waiting: number[];
  /** Open TCP transactions by connection id. */
  readonly transactions: Map<number, Transaction>;
  /** Completed sales and purchases by transaction RQ#. */
  readonly history: Map<string, HistoryEntry>;
  /** Requests awaiting their answer or ACK, keyed `TYPE rq`. */
  readonly unacked: Retransmitter<Message>;
  /** How many times a request is sent before it is given up, the first included. */
  readonly maxTries: number;
  /** What each SEARCH was answered (OFFER or NO_OFFER), so a repeat gets the same. */
  readonly answers: Map<string, Message>;
  readonly key: KeyInfo | undefined;
  serverKey: KeyInfo | undefined;
  serverKeyGiven: boolean;
  readonly allowPlaintext: boolean;
  /**
   * Commands that need a registration, given while a REGISTER was pending:
   * run once it is confirmed, or failed with its error.
   */
  queued: Command[];
  /** Why the last registration failed, for the commands queued behind it. */
  registrationFailure: string | undefined;
  /** A denial of the classic fallback, reported if the REGISTER beside it is not answered. */
  deferredDenial: string | undefined;
  /**
   * REGISTERs given up when another one sent beside them was answered: a
   * late REGISTERED for one is the server's latest view of this peer.
   */
  readonly superseded: Set<string>;
  /**
   * INFORM_Reqs refused because the server's CANCEL datagram came first:
   * the transaction RQ# to the purchase's, so the reason its CANCEL gives
   * is shown.
   */
  readonly overtaken: Map<string, string>;
  /** Classic purchases awaiting confirmation, by transaction RQ#. */
  readonly unconfirmed: Map<string, Unconfirmed>;
  /** Sales whose connection ended unsettled, by transaction RQ# (in memory only). */
  readonly unsettled: Map<string, Unsettled>;
  /**
   * Sales (transaction RQ#s) whose hold the server cancelled while their
   * TCP leg was open: released when the leg ends without Shipping_Info
   * (in memory only).
   */
  readonly cancelledDuringLeg: Set<string>;
  /**
   * Since when the server has not answered: a request got no reply after
   * every try, and nothing came from the server since.
   */
  silentSince: number | undefined;
  /** The last datagram sent to the server, and when: what a classic `ERROR:` answers. */
  lastSent:
    | { readonly type: Message["type"]; readonly rq: string; readonly at: number }
    | undefined;
}

/** The searches that have not ended. */
export const OPEN_STATES: ReadonlySet<BuyRequest["state"]> = new Set([
  "searching",
  "found",
  "buying",
]);

/** How long after a restart answered negotiations and cancels are sent again. */
export const RESUME_WITHIN_MS = 10 * 60_000;

/** How many answered message ids are remembered to spot UDP duplicates. */
const RECENT_LIMIT = 1024;

/**
 * Builds the state of an agent from its stored records: the registration
 * counts only for the same server, and the questions a crash interrupted
 * are asked again, oldest first.
 */
export function createState(
  profile: PeerProfile,
  snapshot: PeerSnapshot,
  options: AgentOptions,
): AgentState {
  const registration = snapshot.registration;
  const sameServer = registration?.server === formatAddress(profile.server);
  const state: AgentState = {
    profile,
    newRq: options.newRq,
    registered: (registration?.registered ?? false) && sameServer,
    serverKind: (sameServer ? registration?.serverKind : undefined) ?? "unknown",
    extensions: ExtensionSet.from(sameServer ? registration?.features : undefined),
    autoBuy: options.autoBuy || (snapshot.settings?.autoBuy ?? false),
    pending: new Map(),
    items: new Map(),
    requests: new Map(),
    negotiations: new Map(),
    questions: [],
    asked: undefined,
    recent: new Map(),
    payment: options.payment,
    interview: undefined,
    withdrawnSecret: false,
    negotiationTimeout: options.negotiationTimeout ?? NEGOTIATION_TIMEOUT_MS,
    waiting: [],
    transactions: new Map(),
    history: new Map(),
    unacked: new Retransmitter(options.retransmit),
    maxTries: options.retransmit?.maxAttempts ?? DEFAULT_RETRANSMIT.maxAttempts,
    answers: new Map(),
    key: options.key,
    serverKey: options.serverKey,
    serverKeyGiven: options.serverKeyGiven ?? false,
    allowPlaintext: options.allowPlaintext ?? false,
    strictTransitions: options.strictTransitions ?? false,
    queued: [],
    registrationFailure: undefined,
    deferredDenial: undefined,
    superseded: new Set(),
    overtaken: new Map(),
    unconfirmed: new Map(),
    unsettled: new Map(),
    cancelledDuringLeg: new Set(),
    silentSince: undefined,
    lastSent: undefined,
  };
  for (const entry of snapshot.history ?? []) state.history.set(entry.tx, entry);
  for (const item of snapshot.items ?? []) state.items.set(item.item.toLowerCase(), item);
  const restored: (Question & { at: number })[] = [];
  for (const request of snapshot.requests ?? []) {
    state.requests.set(request.rq, request);
    if (request.state === "found") {
      restored.push({ about: "FOUND", rq: request.rq, at: request.updatedAt });
    }
  }
  for (const negotiation of snapshot.negotiations ?? []) {
    state.negotiations.set(negotiation.rq, negotiation);
    if (negotiation.state === "asking") {
      restored.push({ about: "NEGOTIATE", rq: negotiation.rq, at: negotiation.askedAt });
    }
  }
  state.questions = restored.sort((a, b) => a.at - b.at).map(({ about, rq }) => ({ about, rq }));
  return state;
}

/** This peer's searches, oldest first. */
export function sortedRequests(state: AgentState): BuyRequest[] {
  return [...state.requests.values()].sort((a, b) => a.createdAt - b.createdAt);
}

/** How a change its table does not allow is treated: thrown, or refused with a log line. */
function guard(state: AgentState, turn: AgentTurn): MoveGuard {
  return { strict: state.strictTransitions, refuse: (text) => turn.log("warning", text) };
}

/**
 * Changes a search and stores it, if its table allows the move; returns
 * the new record (the one as it was when the move is refused).
 */
export function updateRequest(
  state: AgentState,
  turn: AgentTurn,
  request: BuyRequest,
  change: Partial<BuyRequest>,
): BuyRequest {
  const to = change.state ?? request.state;
  if (!REQUEST_MOVES.move(request.state, to, guard(state, turn), request.rq)) return request;
  const updated: BuyRequest = { ...request, ...change, updatedAt: turn.at };
  state.requests.set(request.rq, updated);
  turn.save({ key: ["request", request.rq], value: updated });
  return updated;
}

/** Puts an item (by its lower-case key) and stores it, if its table allows the move. */
export function putItem(
  state: AgentState,
  turn: AgentTurn,
  key: string,
  item: InventoryItem,
): void {
  const before = state.items.get(key);
  const from = before === undefined ? undefined : itemState(before);
  if (!ITEM_MOVES.move(from, itemState(item), guard(state, turn), key)) return;
  state.items.set(key, item);
  turn.save({ key: ["item", key], value: item });
}

/** Removes an item, sold or unsold (`removed`), if its table allows the move. */
export function removeItem(
  state: AgentState,
  turn: AgentTurn,
  key: string,
  to: "sold" | "removed",
): void {
  const before = state.items.get(key);
  if (before === undefined) return;
  if (!ITEM_MOVES.move(itemState(before), to, guard(state, turn), key)) return;
  state.items.delete(key);
  turn.delete(["item", key]);
}

/** Notes a message as acted on; returns whether it was already. */
export function remember(state: AgentState, message: Message): boolean {
  const id = `${message.type} ${message.rq}`;
  if (state.recent.has(id)) return true;
  state.recent.set(id, true);
  if (state.recent.size > RECENT_LIMIT) state.recent.delete(state.recent.keys().next().value!);
  return false;
}

/** Keeps a SEARCH's answer for its repeats, a bounded number of them. */
export function keepAnswer(state: AgentState, answer: Message): void {
  state.answers.set(answer.rq, answer);
  if (state.answers.size > RECENT_LIMIT) state.answers.delete(state.answers.keys().next().value!);
}

/** A message that answers nothing this peer asked: logged if a repeat, else shown. */
export function onUnexpected(state: AgentState, turn: AgentTurn, message: Message): void {
  if (state.recent.has(`${message.type} ${message.rq}`)) {
    turn.log("debug", `Repeated ${message.type} ${message.rq}: answered already`);
    return;
  }
  turn.warn(`Ignored ${message.type} ${message.rq}: it answers nothing this peer asked`, {
    rq: message.rq,
    type: message.type,
  });
}

/** Whether a datagram's source is the server's address (any loopback for a local one). */
export function isServerAddress(state: AgentState, from: Address): boolean {
  const server = state.profile.server;
  return from.port === server.port &&
    (from.hostname === server.hostname ||
      isLoopback(from.hostname) && isLoopback(server.hostname));
}

/** Whether transaction `tx` (INFORM_Req's RQ#) runs on an open TCP leg now. */
export function legOpen(state: AgentState, tx: string | undefined): boolean {
  if (tx === undefined) return false;
  for (const open of state.transactions.values()) if (open.rq === tx) return true;
  return false;
}
