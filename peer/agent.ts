/**
 * The peer's logic as a state machine without I/O: it is fed the user's
 * input lines, the server's datagrams and the messages of the transaction's
 * TCP connections (known by an id), and answers with effects (datagrams and
 * TCP messages to send, connections to close, lines to print, records to
 * store). The shell in `peer.ts` owns the sockets, standard input and
 * output, the KV store and the clock: every event carries the time it
 * happened.
 *
 * Payment details (from `--payment`, or typed when INFORM_Req asks) stay in
 * this object's memory: they leave it only in INFORM_Res, and are shown
 * only as the card's last four digits.
 *
 * Requests to the server are sent again, with the same RQ#, until their
 * answer comes: REGISTER and DE-REGISTER always, the others when our server
 * agreed `ack` (a classic one would see duplicates). The shell feeds `tick`
 * events at {@linkcode Agent.nextDeadline}. Crypto stays in the shell too:
 * it signs the REGISTER this agent asks for, checks the server's signature
 * and MACs, and tells the agent what it verified.
 *
 * @module
 */
import {
  ACKED_REQUESTS,
  type Address,
  type DecodeError,
  encode,
  formatAddress,
  formatPrice,
  isLoopback,
  maskCard,
  MAX_MESSAGE_BYTES,
  MAX_TEXT_LENGTH,
  type Message,
  type MessageOf,
  RELIABLE_SENDS,
} from "../protocol/mod.ts";
import { type RetransmitOptions, Retransmitter } from "../transport/reliability.ts";
import { type Command, type CommandOf, helpText, parseCommand } from "./commands.ts";
import { Card, describeIssue, Expiry, type PaymentDetails, PostalAddress } from "./payment.ts";

/** Who this peer is and where it listens. */
export interface Identity {
  readonly name: string;
  /** The IP announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly server: Address;
}

/**
 * The extensions this peer offers in REGISTER: `from` (FOUND names the
 * seller), `ack` (acknowledgements and retransmission both ways) and
 * `no-offer` (NO_OFFER answers a SEARCH it cannot serve). A peer with a key
 * offers `auth` too: the shell signs that REGISTER.
 */
export const OFFERED_EXTENSIONS: readonly string[] = ["from", "ack", "no-offer"];

/** The extension word of a signed registration, MACs and TLS. */
export const AUTH = "auth";

/** A public key as the wire carries it, and its short fingerprint. */
export interface KeyInfo {
  /** base64url of the raw P-256 point. */
  readonly key: string;
  readonly fingerprint: string;
}

/** Reasons our server gives to refuse a signed REGISTER: no use retrying it unsigned. */
const FINAL_DENIAL = /bound to another key|^Refused: |server is full/i;

/**
 * A reason our server gives an unsigned REGISTER (cut to the request's
 * length for an unknown address): the signed one's reason matters more.
 */
const UNSIGNED_REFUSED = /^auth required|only authenticated peers/i;

/** What a TCP message without the server's MAC is answered with. */
export const UNAUTHENTICATED_REASON = "unauthenticated request";

/** What INFORM_Req over plain TCP is answered with, without `--allow-plaintext`. */
export const PLAINTEXT_REASON =
  "this peer sends card data only over TLS (start it with --allow-plaintext)";

/** Room left in a datagram for the MAC token the shell appends (` mac=SEQ.TAG`). */
export const MAC_OVERHEAD = 48;

/** How long after a restart answered negotiations and cancels are sent again. */
const RESUME_WITHIN_MS = 10 * 60_000;

/** What the server is: ours (it accepted extensions), classic, or not known yet. */
export type ServerKind = "ours" | "classic" | "unknown";

/** The peer's durable registration state. */
export interface RegistrationRecord {
  readonly registered: boolean;
  readonly server: string;
  readonly changedAt: number;
  /** Which kind of server answered the last REGISTER; absent before any answer. */
  readonly serverKind?: "ours" | "classic";
  /** The extensions our server accepted, like `from`. */
  readonly features?: readonly string[];
}

/** Settings changed with `set`. */
export interface SettingsRecord {
  readonly autoBuy: boolean;
  readonly changedAt: number;
}

/** One item of the inventory, keyed by its lower-case name. */
export interface InventoryItem {
  /** The name as the seller typed it, used in OFFER. */
  readonly item: string;
  readonly price: number;
  readonly description: string;
  /** The lowest NEGOTIATE max accepted without asking. */
  readonly floor?: number;
  /** The server's RQ# of the request this item is held for. */
  readonly reservedFor?: string;
  /** The price it is held at (RESERVE's, or the NEGOTIATE max accepted). */
  readonly reservedPrice?: number;
  /** The transaction selling it, once the server sent INFORM_Req. */
  readonly transaction?: TransactionLink;
  readonly addedAt: number;
}

/**
 * The transaction (the RQ# of INFORM_Req) a reserved item or a purchase is
 * in, kept so that a Shipping_Info arriving on a new connection (after a
 * server restart) still finds what it settles.
 */
export interface TransactionLink {
  readonly tx: string;
  readonly price: number;
}

/** Which side of a sale this peer is on. */
export type Role = "buyer" | "seller";

/** A completed sale or purchase, keyed by the transaction's RQ#. */
export interface HistoryEntry {
  /** The RQ# of INFORM_Req and Shipping_Info. */
  readonly tx: string;
  readonly role: Role;
  readonly item: string;
  /** What the buyer paid. */
  readonly price: number;
  /** The server's share: 10% of the price. */
  readonly fee: number;
  /** What the seller got: the price less the fee. */
  readonly credit: number;
  /** The buyer for a sale; the seller for a purchase, when known. */
  readonly counterparty?: string;
  /** Where the item ships. */
  readonly address?: string;
  /** The buyer's request (its LOOKING_FOR RQ#), for a purchase. */
  readonly request?: string;
  readonly at: number;
}

/** Where one of this peer's searches stands. */
export type RequestState =
  | "searching"
  | "found"
  | "buying"
  | "bought"
  | "cancelled"
  | "not_available"
  | "not_found"
  /** The server did not answer LOOKING_FOR (or BUY) after every retry. */
  | "failed"
  /** The server refused the search with DENIED (e.g. too many open ones). */
  | "denied";

/** One of this peer's searches (a LOOKING_FOR it sent). */
export interface BuyRequest {
  readonly rq: string;
  readonly item: string;
  readonly description: string;
  readonly maxPrice: number;
  readonly state: RequestState;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The FOUND price. */
  readonly price?: number;
  /** The seller, when the server named it in FOUND. */
  readonly seller?: string;
  /** The item as FOUND spelled it, used in BUY and CANCEL. */
  readonly foundItem?: string;
  /** Who ended a cancelled request. */
  readonly cancelledBy?: "user" | "server";
  /** Why the transaction was cancelled or the search denied or failed. */
  readonly reason?: string;
  /** The transaction paying for it, once the server sent INFORM_Req. */
  readonly transaction?: TransactionLink;
}

/** A NEGOTIATE this peer received as a seller, and its answer. */
export interface NegotiationRecord {
  /** The server's RQ# of the NEGOTIATE. */
  readonly rq: string;
  /** The item as NEGOTIATE spelled it. */
  readonly item: string;
  readonly maxPrice: number;
  readonly state: "asking" | "accepted" | "refused";
  readonly askedAt: number;
  readonly answeredAt?: number;
}

/** A record in the peer's store, with its key. */
export type PeerRecord =
  | { readonly key: readonly ["registration"]; readonly value: RegistrationRecord }
  | { readonly key: readonly ["settings"]; readonly value: SettingsRecord }
  | { readonly key: readonly ["item", string]; readonly value: InventoryItem }
  | { readonly key: readonly ["request", string]; readonly value: BuyRequest }
  | { readonly key: readonly ["negotiation", string]; readonly value: NegotiationRecord }
  | { readonly key: readonly ["history", string]; readonly value: HistoryEntry };

/** A key in the peer's store. */
export type PeerKey = PeerRecord["key"];

/** A line for the user: readable text, and fields for `--json`. */
export interface Output {
  /** The protocol message name, or a word like `error` or `help`. */
  readonly event: string;
  readonly text: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** A log level the agent's log effects use. */
export type LogLevel = "debug" | "info" | "warning";

/**
 * What the agent asks its shell to do, in order. Saves and deletes of one
 * event always come first, so a message or a line never announces state
 * that a crash could lose.
 */
export type PeerEffect =
  | { readonly kind: "send"; readonly message: Message }
  /** Writes a message on a TCP connection from the server. */
  | { readonly kind: "tcp-send"; readonly conn: number; readonly message: Message }
  /** Closes a TCP connection; the agent has forgotten it. */
  | { readonly kind: "tcp-close"; readonly conn: number }
  | { readonly kind: "print"; readonly output: Output }
  | ({ readonly kind: "save" } & PeerRecord)
  | { readonly kind: "delete"; readonly key: PeerKey }
  | { readonly kind: "log"; readonly level: LogLevel; readonly message: string }
  | { readonly kind: "stop" };

/** What happens to the agent. */
export type PeerEvent =
  /**
   * The shell is ready: restored questions are asked (or bought with
   * auto-buy), and a peer registered with a server that agreed `auth`
   * registers again (signed), which refreshes its address and session.
   */
  | { readonly kind: "start"; readonly at: number }
  /** The time has come for {@linkcode Agent.nextDeadline}. */
  | { readonly kind: "tick"; readonly at: number }
  /** A line of input: the answer to a pending question, or a command. */
  | { readonly kind: "line"; readonly text: string; readonly at: number }
  | { readonly kind: "command"; readonly command: Command; readonly at: number }
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    readonly at: number;
    /**
     * For a REGISTERED that agreed `auth`: the server key whose signature
     * the shell verified (and pinned).
     */
    readonly serverKey?: KeyInfo;
  }
  /**
   * The shell refused the server's answer to REGISTER `rq`: signed by
   * another key than the pinned one, or unsigned from a server whose key is
   * pinned.
   */
  | { readonly kind: "refused"; readonly rq: string; readonly reason: string; readonly at: number }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly at: number;
  }
  /** A message on TCP connection `conn` (an id the shell gives each connection). */
  | { readonly kind: "tcp"; readonly conn: number; readonly message: Message; readonly at: number }
  /** Something on connection `conn` that does not parse. */
  | {
    readonly kind: "tcp-invalid";
    readonly conn: number;
    readonly error: DecodeError;
    readonly at: number;
  }
  /**
   * A message on connection `conn` without the server's valid MAC: it is
   * not acted on, and no card data answers it.
   */
  | {
    readonly kind: "tcp-unauthenticated";
    readonly conn: number;
    /** Its RQ#, when one could be read. */
    readonly rq?: string;
    readonly why: string;
    readonly at: number;
  }
  /**
   * Connection `conn` is gone, closed by the shell: the server closed it
   * (`remote`), nothing came for too long (`timeout`), or it failed.
   */
  | {
    readonly kind: "tcp-closed";
    readonly conn: number;
    readonly cause: "remote" | "timeout" | "error";
    readonly at: number;
  };

/** The stored state an agent starts from. */
export interface PeerSnapshot {
  readonly registration?: RegistrationRecord;
  readonly settings?: SettingsRecord;
  readonly items?: readonly InventoryItem[];
  readonly requests?: readonly BuyRequest[];
  readonly negotiations?: readonly NegotiationRecord[];
  readonly history?: readonly HistoryEntry[];
}

/** Options for {@linkcode Agent}. */
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
}

/** The payment details asked for, one line each, in this order. */
export type PaymentQuestion = "CARD" | "EXPIRY" | "ADDRESS";

/** A question waiting for the user's next input line. */
export interface Question {
  readonly about: "FOUND" | "NEGOTIATE" | PaymentQuestion;
  /**
   * The request's RQ#: the buyer's for FOUND, the server's for NEGOTIATE,
   * the transaction's (INFORM_Req) for payment details.
   */
  readonly rq: string;
}

/** An input line that aborts a payment question: Ctrl-C or Ctrl-D on a raw terminal. */
export const ABORT_INPUT: ReadonlySet<string> = new Set(["\u0003", "\u0004"]);

/** The server's share of every sale (PROTOCOL.md). */
export const FEE_RATE = 0.1;

/** A TCP transaction this peer takes part in, by connection. */
interface Transaction {
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

type Pending = {
  readonly type: "REGISTER" | "DE-REGISTER";
  readonly at: number;
  /** A REGISTER that offered extensions (a denial is retried without them). */
  readonly extended?: boolean;
  /** The automatic REGISTER of a restart: open flows are taken up after it. */
  readonly auto?: boolean;
  /** For the unsigned retry: why the REGISTER with extensions was denied. */
  readonly firstDenial?: string;
};

const OPEN_STATES: ReadonlySet<RequestState> = new Set(["searching", "found", "buying"]);
/** The words that answer a [y/N] question rather than run as a command. */
const YES_OR_NO = /^\s*(y|yes|n|no)?\s*$/i;
const PAYMENT_QUESTIONS: ReadonlySet<string> = new Set(["CARD", "EXPIRY", "ADDRESS"]);
const SECRET_QUESTIONS: ReadonlySet<string> = new Set(["CARD", "EXPIRY"]);
/** How many answered message ids are remembered to spot UDP duplicates. */
const RECENT_LIMIT = 1024;
const utf8 = new TextEncoder();

/** The peer's state machine. */
export class Agent {
  readonly #identity: Identity;
  readonly #newRq: () => string;
  #registered: boolean;
  #serverKind: ServerKind;
  #features: readonly string[];
  #autoBuy: boolean;
  readonly #pending = new Map<string, Pending>();
  /** Inventory by lower-case item name. */
  readonly #items = new Map<string, InventoryItem>();
  readonly #requests = new Map<string, BuyRequest>();
  readonly #negotiations = new Map<string, NegotiationRecord>();
  /** Questions in the order they came; the first one is the one asked. */
  #questions: Question[] = [];
  /** The question whose prompt was printed last, while it is first. */
  #asked: string | undefined;
  /** Messages already acted on (`TYPE rq`), so duplicates are told apart. */
  readonly #recent = new Map<string, true>();
  /** Payment details, from `--payment` or typed once; in memory only. */
  #payment: PaymentDetails | undefined;
  /** The payment details typed so far, while they are being asked. */
  #interview: { card?: string; expiry?: string } | undefined;
  /** Connections waiting for the payment details being asked, oldest first. */
  #waiting: number[] = [];
  /** Open TCP transactions by connection id. */
  readonly #transactions = new Map<number, Transaction>();
  /** Completed sales and purchases by transaction RQ#. */
  readonly #history = new Map<string, HistoryEntry>();
  /** Requests awaiting their answer or ACK, keyed `TYPE rq`. */
  readonly #unacked: Retransmitter<Message>;
  /** What each SEARCH was answered (OFFER or NO_OFFER), so a repeat gets the same. */
  readonly #answers = new Map<string, Message>();
  readonly #key: KeyInfo | undefined;
  #serverKey: KeyInfo | undefined;
  #serverKeyGiven: boolean;
  readonly #allowPlaintext: boolean;

  constructor(identity: Identity, snapshot: PeerSnapshot, options: AgentOptions) {
    this.#identity = identity;
    this.#newRq = options.newRq;
    this.#unacked = new Retransmitter(options.retransmit);
    this.#key = options.key;
    this.#serverKey = options.serverKey;
    this.#serverKeyGiven = options.serverKeyGiven ?? false;
    this.#allowPlaintext = options.allowPlaintext ?? false;
    const registration = snapshot.registration;
    const sameServer = registration?.server === formatAddress(identity.server);
    this.#registered = (registration?.registered ?? false) && sameServer;
    this.#serverKind = (sameServer ? registration?.serverKind : undefined) ?? "unknown";
    this.#features = (sameServer ? registration?.features : undefined) ?? [];
    this.#autoBuy = options.autoBuy || (snapshot.settings?.autoBuy ?? false);
    this.#payment = options.payment;
    for (const entry of snapshot.history ?? []) this.#history.set(entry.tx, entry);
    for (const item of snapshot.items ?? []) this.#items.set(item.item.toLowerCase(), item);
    const restored: (Question & { at: number })[] = [];
    for (const request of snapshot.requests ?? []) {
      this.#requests.set(request.rq, request);
      if (request.state === "found") {
        restored.push({ about: "FOUND", rq: request.rq, at: request.updatedAt });
      }
    }
    for (const negotiation of snapshot.negotiations ?? []) {
      this.#negotiations.set(negotiation.rq, negotiation);
      if (negotiation.state === "asking") {
        restored.push({ about: "NEGOTIATE", rq: negotiation.rq, at: negotiation.askedAt });
      }
    }
    this.#questions = restored.sort((a, b) => a.at - b.at)
      .map(({ about, rq }) => ({ about, rq }));
  }

  /** Whether the server has confirmed this peer's registration. */
  get registered(): boolean {
    return this.#registered;
  }

  /** How many requests still wait for the server's answer or ACK. */
  get pendingCount(): number {
    return this.#unacked.size;
  }

  /** When the agent next needs a `tick` event (a retransmission is due), if ever. */
  nextDeadline(): number | undefined {
    return this.#unacked.nextDeadline();
  }

  /** Whether the server agreed `auth`: MACs on datagrams, TLS on the TCP port. */
  get authenticated(): boolean {
    return this.#registered && this.#features.includes(AUTH);
  }

  /**
   * Whether a datagram answers a request of this peer that the server
   * cannot seal: REGISTER-DENIED to a REGISTER, DE-REGISTER-DENIED to a
   * DE-REGISTER (the server has no session for a name it does not know
   * there). DE-REGISTERED comes sealed: the server keeps the session a
   * while after the peer leaves.
   */
  awaits(message: Message): boolean {
    const pending = this.#pending.get(message.rq);
    if (message.type === "REGISTER-DENIED") return pending?.type === "REGISTER";
    if (message.type === "DE-REGISTER-DENIED") return pending?.type === "DE-REGISTER";
    return false;
  }

  /** Whether FOUND is bought without asking. */
  get autoBuy(): boolean {
    return this.#autoBuy;
  }

  /** Our server, a classic one, or not known yet. */
  get serverKind(): ServerKind {
    return this.#serverKind;
  }

  /** The extensions the server accepted (empty for a classic server). */
  get features(): readonly string[] {
    return this.#features;
  }

  /** The inventory, sorted by item name. */
  get items(): InventoryItem[] {
    return [...this.#items.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([, item]) => item);
  }

  /** This peer's searches, oldest first. */
  get requests(): BuyRequest[] {
    return [...this.#requests.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The questions waiting for an answer, the one being asked first. */
  get questions(): readonly Question[] {
    return [...this.#questions];
  }

  /**
   * Whether the question just asked wants a secret (the card number or its
   * expiry): a terminal should not echo the next line.
   */
  get secretPrompt(): boolean {
    const head = this.#questions[0];
    return head !== undefined && this.#asked === questionId(head) &&
      SECRET_QUESTIONS.has(head.about);
  }

  /** Whether the next input line answers a payment question (never log it). */
  get paymentPrompt(): boolean {
    const head = this.#questions[0];
    return head !== undefined && this.#asked === questionId(head) &&
      PAYMENT_QUESTIONS.has(head.about);
  }

  /** Completed sales and purchases, oldest first. */
  get history(): HistoryEntry[] {
    return [...this.#history.values()].sort((a, b) => a.at - b.at);
  }

  /** How many TCP transactions are open. */
  get transactionCount(): number {
    return this.#transactions.size;
  }

  /** Feeds one event to the agent and returns what to do. */
  handle(event: PeerEvent): PeerEffect[] {
    const effects: PeerEffect[] = [];
    switch (event.kind) {
      case "start":
        this.#start(event.at, effects);
        break;
      case "tick":
        this.#tick(event.at, effects);
        break;
      case "refused":
        this.#refused(event.rq, event.reason, event.at, effects);
        break;
      case "line":
        this.#line(event.text, event.at, effects);
        break;
      case "command":
        this.#command(event.command, event.at, effects);
        break;
      case "message":
        if (!this.isServer(event.from)) {
          effects.push(
            warning(
              `Ignored ${event.message.type} from ${formatAddress(event.from)}: not the server`,
            ),
          );
          break;
        }
        this.#acknowledge(event.message, effects);
        this.#message(event.message, event.at, effects, event.serverKey);
        break;
      case "invalid":
        effects.push(
          warning(
            `Ignored a datagram from ${formatAddress(event.from)}: ${event.error.message}`,
          ),
        );
        break;
      case "tcp":
        this.#tcp(event.conn, event.message, event.at, effects);
        break;
      case "tcp-invalid":
        this.#tcpInvalid(event.conn, event.error, effects);
        break;
      case "tcp-unauthenticated":
        this.#tcpUnauthenticated(event.conn, event.rq, event.why, effects);
        break;
      case "tcp-closed":
        this.#tcpClosed(event.conn, event.cause, event.at, effects);
        break;
    }
    this.#settleQuestions(event.at, effects);
    for (const effect of effects) {
      if (effect.kind === "send") this.#track(effect.message, event.at);
    }
    // Stored state first: nothing is sent or shown that a crash could lose.
    const writes = effects.filter((effect) => effect.kind === "save" || effect.kind === "delete");
    return writes.length === 0 ? effects : [
      ...writes,
      ...effects.filter((effect) => effect.kind !== "save" && effect.kind !== "delete"),
    ];
  }

  /** Whether a datagram's source is the server's address (any loopback for a local one). */
  isServer(from: Address): boolean {
    const server = this.#identity.server;
    return from.port === server.port &&
      (from.hostname === server.hostname ||
        isLoopback(from.hostname) && isLoopback(server.hostname));
  }

  // ---------------------------------------------------------------- input

  #start(at: number, effects: PeerEffect[]): void {
    if (this.#questions.length > 0) {
      effects.push(log("info", `Restored ${this.#questions.length} question(s) to ask`));
    }
    if (this.#registered && this.#features.includes(AUTH) && this.#key) {
      // Proving the key again refreshes the server's record of this peer's
      // address and the session; its open flows are taken up once answered.
      effects.push(log("info", "Registering again after a restart (signed)"));
      this.#sendRegister(true, at, effects, { auto: true });
    }
    if (!this.#autoBuy) return;
    for (const question of this.#questions.filter((q) => q.about === "FOUND")) {
      const request = this.#requests.get(question.rq);
      if (request?.state === "found") this.#buy(request, true, at, effects);
    }
  }

  #line(text: string, at: number, effects: PeerEffect[]): void {
    const head = this.#questions[0];
    if (head && this.#asked === questionId(head)) {
      if (!PAYMENT_QUESTIONS.has(head.about) && !YES_OR_NO.test(text)) {
        // A command typed as the question popped up (a search can end at
        // any moment) runs as a command; the question stays to answer.
        const parsed = parseCommand(text);
        if (parsed.ok && parsed.command) return this.#command(parsed.command, at, effects);
      }
      this.#questions.shift();
      this.#asked = undefined;
      if (PAYMENT_QUESTIONS.has(head.about)) this.#paymentAnswer(head, text, at, effects);
      else this.#answer(head, /^\s*(y|yes)\s*$/i.test(text), at, effects);
      return;
    }
    const parsed = parseCommand(text);
    if (!parsed.ok) {
      effects.push(error(parsed.error));
      return;
    }
    if (parsed.command) this.#command(parsed.command, at, effects);
  }

  #answer(question: Question, yes: boolean, at: number, effects: PeerEffect[]): void {
    if (question.about === "FOUND") {
      const request = this.#requests.get(question.rq);
      if (request?.state !== "found") return;
      if (yes) this.#buy(request, false, at, effects);
      else this.#decline(request, at, effects);
      return;
    }
    const negotiation = this.#negotiations.get(question.rq);
    if (negotiation?.state !== "asking") return;
    const item = this.#items.get(negotiation.item.toLowerCase());
    if (!yes) {
      this.#refuse(negotiation, "you declined", at, effects);
    } else if (!item) {
      this.#refuse(negotiation, "it is no longer in the inventory", at, effects);
    } else if (item.reservedFor !== undefined) {
      this.#refuse(negotiation, "it is reserved for another buyer", at, effects);
    } else {
      this.#accept(negotiation, item, "you", at, effects);
    }
  }

  /**
   * Drops questions that became moot, refusing a NEGOTIATE whose item is
   * gone or taken, and prints the prompt of the first one when it is new.
   */
  #settleQuestions(at: number, effects: PeerEffect[]): void {
    if (this.#interview && this.#waiting.length === 0) {
      // Every connection that wanted the details is gone: stop asking.
      this.#interview = undefined;
      effects.push(warning(
        "No longer asking for payment details: the server closed the transaction",
      ));
    }
    this.#questions = this.#questions.filter((question) => {
      if (PAYMENT_QUESTIONS.has(question.about)) return this.#interview !== undefined;
      if (question.about === "FOUND") {
        return this.#requests.get(question.rq)?.state === "found";
      }
      const negotiation = this.#negotiations.get(question.rq);
      if (negotiation?.state !== "asking") return false;
      const item = this.#items.get(negotiation.item.toLowerCase());
      if (item && item.reservedFor === undefined) return true;
      this.#refuse(
        negotiation,
        item ? "it is now reserved for another buyer" : "it is no longer in the inventory",
        at,
        effects,
      );
      return false;
    });
    const head = this.#questions[0];
    if (!head) {
      this.#asked = undefined;
      return;
    }
    if (this.#asked === questionId(head)) return;
    this.#asked = questionId(head);
    effects.push(this.#prompt(head));
  }

  #prompt(question: Question): PeerEffect {
    if (PAYMENT_QUESTIONS.has(question.about)) {
      const waiting = this.#transactions.get(this.#waiting[0]!);
      const text = question.about === "CARD"
        ? `Card number for ${waiting?.role ?? "buyer"} of ${waiting?.item ?? "the item"} (${
          formatPrice(waiting?.price ?? 0)
        }):`
        : question.about === "EXPIRY"
        ? "Expiry (MM/YY):"
        : "Address:";
      return printOut("prompt", text, {
        rq: question.rq,
        question: text,
        about: question.about,
        item: waiting?.item,
        price: waiting?.price,
        role: waiting?.role,
        secret: SECRET_QUESTIONS.has(question.about),
      });
    }
    if (question.about === "FOUND") {
      const request = this.#requests.get(question.rq)!;
      const item = request.foundItem ?? request.item;
      const from = request.seller === undefined ? "" : ` from ${request.seller}`;
      const text = `Buy ${item} for ${formatPrice(request.price ?? 0)}${from}? [y/N]`;
      return printOut("prompt", text, {
        rq: request.rq,
        question: text,
        about: "FOUND",
        item,
        price: request.price,
        seller: request.seller,
      });
    }
    const negotiation = this.#negotiations.get(question.rq)!;
    const item = this.#items.get(negotiation.item.toLowerCase());
    const name = item?.item ?? negotiation.item;
    const yours = item ? ` (your price ${formatPrice(item.price)})` : "";
    const text = `A buyer offers ${
      formatPrice(negotiation.maxPrice)
    } for ${name}${yours}. Accept? [y/N]`;
    return printOut("prompt", text, {
      rq: negotiation.rq,
      question: text,
      about: "NEGOTIATE",
      item: name,
      maxPrice: negotiation.maxPrice,
      price: item?.price,
    });
  }

  // ------------------------------------------------------------- commands

  #command(command: Command, at: number, effects: PeerEffect[]): void {
    const id = this.#identity;
    switch (command.name) {
      case "register":
        this.#sendRegister(true, at, effects);
        break;
      case "deregister": {
        if (!this.#registered) {
          // Nothing to wait for: the server does not answer an address it
          // does not know with a denial longer than the request.
          effects.push(error("Not registered: nothing to de-register"));
          break;
        }
        const rq = this.#newRq();
        this.#pending.set(rq, { type: "DE-REGISTER", at });
        this.#request({ type: "DE-REGISTER", rq, name: id.name }, effects);
        break;
      }
      case "sell":
        this.#sell(command.args, at, effects);
        break;
      case "unsell":
        this.#unsell(command.args.item, effects);
        break;
      case "inventory":
        effects.push(this.#inventory());
        break;
      case "buy":
        this.#lookFor(command.args, at, effects);
        break;
      case "requests":
        effects.push(this.#requestList(at));
        break;
      case "history":
        effects.push(this.#historyList());
        break;
      case "set":
        this.#autoBuy = command.args.value;
        effects.push(
          { kind: "save", key: ["settings"], value: { autoBuy: this.#autoBuy, changedAt: at } },
          printOut(
            "set",
            this.#autoBuy
              ? "Auto-buy is on: every FOUND is bought at once"
              : "Auto-buy is off: every FOUND is asked first",
            { setting: "auto-buy", autoBuy: this.#autoBuy },
          ),
        );
        break;
      case "status":
        effects.push(this.#status());
        break;
      case "key":
        effects.push(
          this.#key
            ? printOut(
              "key",
              `This peer's public key (fingerprint ${this.#key.fingerprint}):\n${this.#key.key}`,
              { key: this.#key.key, fingerprint: this.#key.fingerprint },
            )
            : error("This peer has no key"),
        );
        break;
      case "help":
        effects.push({
          kind: "print",
          output: {
            event: "help",
            text: `Commands:\n${helpText()}\n` +
              "When a question ends in [y/N], the next line answers it: y or yes, anything else is no; " +
              "a command typed then runs, and the question still waits for its answer.\n" +
              "When the server asks for payment details, the next lines give the card number, its " +
              "expiry (MM/YY) and the address; a terminal does not show the card and expiry.",
          },
        });
        break;
      case "quit":
        effects.push({ kind: "stop" });
        break;
    }
  }

  #sendRegister(
    extended: boolean,
    at: number,
    effects: PeerEffect[],
    more: Pick<Pending, "auto" | "firstDenial"> = {},
  ): void {
    const id = this.#identity;
    const rq = this.#newRq();
    this.#pending.set(rq, { type: "REGISTER", at, extended, ...more });
    const offered = this.#key ? [...OFFERED_EXTENSIONS, AUTH] : [...OFFERED_EXTENSIONS];
    this.#request({
      type: "REGISTER",
      rq,
      name: id.name,
      ip: id.ip,
      udpPort: id.udpPort,
      tcpPort: id.tcpPort,
      ...(extended ? { extensions: offered } : {}),
    }, effects);
  }

  /** Sends a request to the server (`handle` keeps it to send again). */
  #request(message: Message, effects: PeerEffect[]): void {
    effects.push({ kind: "send", message });
  }

  /**
   * Keeps a request just sent to send again until its answer: REGISTER and
   * DE-REGISTER always (their replies end them), the others only when the
   * server agreed `ack`. One already awaited keeps its original timing.
   */
  #track(message: Message, at: number): void {
    const tracked = message.type === "REGISTER" || message.type === "DE-REGISTER" ||
      (ACKED_REQUESTS.has(message.type) && this.#features.includes("ack"));
    if (tracked) this.#unacked.track(`${message.type} ${message.rq}`, message, "server", at);
  }

  /** Acknowledges what our server sends again until acknowledged, duplicates included. */
  #acknowledge(message: Message, effects: PeerEffect[]): void {
    if (!RELIABLE_SENDS.has(message.type) || !this.#features.includes("ack")) return;
    effects.push({
      kind: "send",
      message: { type: "ACK", rq: message.rq, of: message.type as MessageOf<"ACK">["of"] },
    });
  }

  /** Sends again what is due, and gives up on what got no answer after every try. */
  #tick(at: number, effects: PeerEffect[]): void {
    const { resend, expired } = this.#unacked.due(at);
    for (const { payload, attempt } of resend) {
      effects.push(
        log(
          "debug",
          `No answer to ${payload.type} ${payload.rq} yet: sending it again (try ${attempt})`,
        ),
        { kind: "send", message: payload },
      );
    }
    for (const { payload, attempt } of expired) this.#gaveUp(payload, attempt, at, effects);
  }

  /** Ends a request the server never answered, and says so. */
  #gaveUp(message: Message, attempts: number, at: number, effects: PeerEffect[]): void {
    const about = "item" in message ? ` for ${message.item}` : "";
    const what = `${message.type}${about} got no reply after ${attempts} tries`;
    let outcome = "";
    switch (message.type) {
      case "REGISTER":
      case "DE-REGISTER":
        this.#pending.delete(message.rq);
        break;
      case "LOOKING_FOR":
      case "BUY": {
        const request = this.#requests.get(message.rq);
        const open = message.type === "LOOKING_FOR"
          ? request?.state === "searching"
          : request?.state === "buying" && request.transaction === undefined;
        if (request && open) {
          this.#update(request, { state: "failed", reason: `server not answering` }, at, effects);
          outcome = message.type === "LOOKING_FOR"
            ? "; the search failed"
            : "; the purchase failed";
        }
        break;
      }
      case "ACCEPT": {
        // The server never heard the ACCEPT: hold the item no longer.
        const key = message.item.toLowerCase();
        const item = this.#items.get(key);
        if (item?.reservedFor === message.rq && item.transaction === undefined) {
          const free = released(item);
          this.#items.set(key, free);
          effects.push({ kind: "save", key: ["item", key], value: free });
          outcome = `; ${item.item} is for sale again`;
        }
        break;
      }
    }
    const text = `Server not answering: ${what}${outcome}`;
    effects.push(printOut("timeout", text, {
      rq: message.rq,
      type: message.type,
      message: `server not answering: ${what}${outcome}`,
      attempts,
    }));
  }

  /** The shell refused the server's answer to a REGISTER: end it with the reason. */
  #refused(rq: string, reason: string, at: number, effects: PeerEffect[]): void {
    const pending = this.#pending.get(rq);
    if (pending?.type !== "REGISTER") {
      effects.push(log("warning", `Refused an answer to REGISTER ${rq}: ${reason}`));
      return;
    }
    this.#pending.delete(rq);
    this.#unacked.ack(`REGISTER ${rq}`, at);
    effects.push(printOut("refused", `Registration refused: ${reason}`, { rq, reason }));
  }

  #sell(args: CommandOf<"sell">["args"], at: number, effects: PeerEffect[]): void {
    const key = args.item.toLowerCase();
    const existing = this.#items.get(key);
    if (existing?.reservedFor !== undefined) {
      effects.push(error(
        `${existing.item} is reserved for a buyer (${existing.reservedFor}): ` +
          "it can change once the sale ends or the server cancels it",
      ));
      return;
    }
    const item: InventoryItem = {
      item: args.item,
      price: args.price,
      description: args.description,
      ...(args.floor === undefined ? {} : { floor: args.floor }),
      addedAt: at,
    };
    this.#items.set(key, item);
    const floor = item.floor === undefined ? "" : ` (floor ${formatPrice(item.floor)})`;
    effects.push(
      { kind: "save", key: ["item", key], value: item },
      printOut(
        "sell",
        `${existing ? "Updated" : "Selling"} ${item.item} at ${formatPrice(item.price)}${floor}`,
        {
          item: item.item,
          price: item.price,
          floor: item.floor,
          description: item.description,
          replaced: existing !== undefined,
        },
      ),
    );
  }

  #unsell(name: string, effects: PeerEffect[]): void {
    const key = name.toLowerCase();
    const item = this.#items.get(key);
    if (!item) {
      effects.push(error(`${name} is not in the inventory: type inventory to list it`));
      return;
    }
    if (item.reservedFor !== undefined) {
      effects.push(error(
        `${item.item} is reserved for a buyer (${item.reservedFor}): ` +
          "it can be removed once the sale ends or the server cancels it",
      ));
      return;
    }
    this.#items.delete(key);
    effects.push(
      { kind: "delete", key: ["item", key] },
      printOut("unsell", `Removed ${item.item} from the inventory`, { item: item.item }),
    );
  }

  #inventory(): PeerEffect {
    const items = this.items.map((item) => ({
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
          formatPrice(item.price),
          item.floor === undefined ? "-" : formatPrice(item.floor),
          item.reservedFor === undefined ? item.state : `reserved (${item.reservedFor})`,
          item.description,
        ]),
        [false, true, true, false, false],
      );
    return printOut("inventory", text, { items });
  }

  #lookFor(args: CommandOf<"buy">["args"], at: number, effects: PeerEffect[]): void {
    if (!this.#registered) {
      effects.push(error("Register first: type register"));
      return;
    }
    const rq = this.#newRq();
    const message: Message = {
      type: "LOOKING_FOR",
      rq,
      name: this.#identity.name,
      item: args.item,
      description: args.description,
      maxPrice: args.maxPrice,
    };
    // Our server's MAC takes room in the datagram too.
    const bytes = utf8.encode(encode(message)).length +
      (this.#features.includes(AUTH) ? MAC_OVERHEAD : 0);
    if (bytes > MAX_MESSAGE_BYTES) {
      effects.push(error(
        `The search would take ${bytes} bytes, over the limit of ${MAX_MESSAGE_BYTES}: shorten the description`,
      ));
      return;
    }
    const request: BuyRequest = {
      rq,
      item: args.item,
      description: args.description,
      maxPrice: args.maxPrice,
      state: "searching",
      createdAt: at,
      updatedAt: at,
    };
    this.#requests.set(rq, request);
    effects.push(
      { kind: "save", key: ["request", rq], value: request },
      { kind: "send", message },
      printOut(
        "LOOKING_FOR",
        `Looking for ${args.item} at up to ${formatPrice(args.maxPrice)} (request ${rq})`,
        { rq, item: args.item, description: args.description, maxPrice: args.maxPrice },
      ),
    );
  }

  #requestList(at: number): PeerEffect {
    const requests = this.requests;
    const text = requests.length === 0
      ? "No searches yet: look for an item with buy ITEM MAX_PRICE"
      : table(
        ["RQ", "ITEM", "MAX", "STATE", "PRICE", "SELLER", "AGE"],
        requests.map((request) => [
          request.rq,
          request.item,
          formatPrice(request.maxPrice),
          request.state,
          request.price === undefined ? "-" : formatPrice(request.price),
          request.seller ?? "-",
          formatAge(at - request.createdAt),
        ]),
        [false, false, true, false, true, false, true],
      );
    return printOut("requests", text, { requests });
  }

  #status(): PeerEffect {
    const id = this.#identity;
    const server = formatAddress(id.server);
    const reserved = [...this.#items.values()].filter((item) => item.reservedFor !== undefined)
      .length;
    const open = [...this.#requests.values()].filter((r) => OPEN_STATES.has(r.state)).length;
    const kind = this.#serverKind === "ours"
      ? `our server${this.#features.length ? ` (extensions: ${this.#features.join(", ")})` : ""}`
      : this.#serverKind === "classic"
      ? "a classic server"
      : "server kind unknown until registered";
    const authenticated = this.authenticated;
    const serverKey = this.#serverKey
      ? `server key ${this.#serverKey.fingerprint} (${
        this.#serverKeyGiven ? "given with --server-key" : "pinned at the first registration"
      })`
      : "no server key pinned yet (the first signed registration pins it)";
    const session = authenticated
      ? "session authenticated: MAC on every datagram, TLS on the TCP port"
      : this.#registered
      ? `session not authenticated: plain datagrams and TCP${
        this.#allowPlaintext ? "" : "; card data refused (no --allow-plaintext)"
      }`
      : "no session until registered";
    return printOut(
      "status",
      [
        `${id.name}: ${this.#registered ? "registered" : "not registered"} with ${server}`,
        `  announced IP ${id.ip}, UDP port ${id.udpPort}, TCP port ${id.tcpPort}`,
        `  ${this.#unacked.size} request(s) waiting for an answer`,
        `  ${kind}`,
        `  key ${this.#key?.fingerprint ?? "none"}; ${serverKey}`,
        `  ${session}`,
        `  ${this.#items.size} item(s) for sale (${reserved} reserved), ${open} open search(es), ` +
        `${this.#questions.length} question(s) to answer, auto-buy ${this.#autoBuy ? "on" : "off"}`,
      ].join("\n"),
      {
        name: id.name,
        registered: this.#registered,
        server,
        ip: id.ip,
        udpPort: id.udpPort,
        tcpPort: id.tcpPort,
        pending: this.#unacked.size,
        serverKind: this.#serverKind,
        features: this.#features,
        keyFingerprint: this.#key?.fingerprint,
        serverKeyFingerprint: this.#serverKey?.fingerprint,
        serverKeyGiven: this.#serverKeyGiven,
        authenticated,
        allowPlaintext: this.#allowPlaintext,
        items: this.#items.size,
        reserved,
        openRequests: open,
        questions: this.#questions.length,
        autoBuy: this.#autoBuy,
      },
    );
  }

  // ------------------------------------------------------- server messages

  #message(
    message: Message,
    at: number,
    effects: PeerEffect[],
    serverKey?: KeyInfo,
  ): void {
    switch (message.type) {
      case "REGISTERED":
      case "REGISTER-DENIED": {
        const pending = this.#pending.get(message.rq);
        if (pending?.type !== "REGISTER") return this.#unexpected(message, effects);
        this.#pending.delete(message.rq);
        this.#unacked.ack(`REGISTER ${message.rq}`, at);
        this.#remember(message);
        this.#registrationAnswer(message, pending, at, effects, serverKey);
        break;
      }
      case "DE-REGISTERED":
      case "DE-REGISTER-DENIED": {
        const pending = this.#pending.get(message.rq);
        if (pending?.type !== "DE-REGISTER") return this.#unexpected(message, effects);
        this.#pending.delete(message.rq);
        this.#unacked.ack(`DE-REGISTER ${message.rq}`, at);
        this.#remember(message);
        this.#deregistrationAnswer(message, at, effects);
        break;
      }
      case "ACK":
        if (this.#unacked.ack(`${message.of} ${message.rq}`, at) === undefined) {
          effects.push(log("debug", `ACK ${message.rq} ${message.of}: nothing awaited it`));
        }
        break;
      case "DENIED":
        this.#denied(message, at, effects);
        break;
      case "SEARCH":
        this.#search(message, effects);
        break;
      case "RESERVE":
        this.#reserve(message, at, effects);
        break;
      case "CANCEL":
        this.#cancel(message, at, effects);
        break;
      case "NEGOTIATE":
        this.#negotiate(message, at, effects);
        break;
      case "FOUND":
        this.#found(message, at, effects);
        break;
      case "NOT_AVAILABLE":
      case "NOT_FOUND":
        this.#noDeal(message, at, effects);
        break;
      default:
        this.#unexpected(message, effects);
    }
  }

  #registrationAnswer(
    message: MessageOf<"REGISTERED" | "REGISTER-DENIED">,
    pending: Pending,
    at: number,
    effects: PeerEffect[],
    serverKey: KeyInfo | undefined,
  ): void {
    const server = formatAddress(this.#identity.server);
    if (message.type === "REGISTER-DENIED") {
      // A strict classic server rejects the extension words: ask again
      // without them. Not a server whose key is known (it is ours), nor
      // after a denial only our server gives.
      if (pending.extended && !this.#serverKey && !FINAL_DENIAL.test(message.reason)) {
        effects.push(log(
          "info",
          `REGISTER with extensions denied (${message.reason}); retrying without them`,
        ));
        this.#sendRegister(false, at, effects, { firstDenial: message.reason });
        return;
      }
      // Our server refuses the unsigned retry for want of a key: the first
      // denial is the one that says what is wrong.
      const reason = pending.firstDenial !== undefined && UNSIGNED_REFUSED.test(message.reason)
        ? pending.firstDenial
        : message.reason;
      effects.push(printOut("REGISTER-DENIED", `Registration denied: ${reason}`, {
        rq: message.rq,
        reason,
      }));
      return;
    }
    this.#serverKind = message.extensions === undefined ? "classic" : "ours";
    // Only the feature words: `key=`, `dh=` and `sig=` were for the shell.
    this.#features = (message.extensions ?? []).filter((word) => !word.includes("="));
    if (serverKey && this.#features.includes(AUTH)) {
      if (this.#serverKey?.key !== serverKey.key) this.#serverKeyGiven = false;
      this.#serverKey = serverKey;
    }
    this.#setRegistered(true, at, effects);
    const again = pending.auto ? " again" : "";
    effects.push(printOut(
      "REGISTERED",
      `Registered${again} as ${this.#identity.name} with ${server}${
        this.authenticated ? ` (authenticated, server key ${serverKey?.fingerprint ?? "?"})` : ""
      }`,
      {
        rq: message.rq,
        name: this.#identity.name,
        server,
        serverKind: this.#serverKind,
        features: this.#features,
        authenticated: this.authenticated,
        ...(this.authenticated ? { serverKeyFingerprint: this.#serverKey?.fingerprint } : {}),
        ...(pending.auto ? { again: true } : {}),
      },
    ));
    if (pending.auto) this.#resume(at, effects);
  }

  /**
   * After a restart's registration: what may have been lost with the
   * process is sent again. Our server answers a repeat from the flow's
   * state, so a duplicate does no harm.
   */
  #resume(at: number, effects: PeerEffect[]): void {
    if (!this.#features.includes("ack")) return;
    let count = 0;
    for (const request of this.#requests.values()) {
      if (request.state === "searching") {
        this.#request({
          type: "LOOKING_FOR",
          rq: request.rq,
          name: this.#identity.name,
          item: request.item,
          description: request.description,
          maxPrice: request.maxPrice,
        }, effects);
      } else if (request.state === "buying" && request.transaction === undefined) {
        this.#request(buyerAnswer("BUY", request), effects);
      } else if (
        request.state === "cancelled" && request.cancelledBy === "user" &&
        request.transaction === undefined && at - request.updatedAt <= RESUME_WITHIN_MS
      ) {
        this.#request(buyerAnswer("CANCEL", request), effects);
      } else continue;
      count++;
    }
    const holding = new Set([...this.#items.values()].map((item) => item.reservedFor));
    for (const negotiation of this.#negotiations.values()) {
      if (negotiation.state === "asking") continue;
      if (at - (negotiation.answeredAt ?? 0) > RESUME_WITHIN_MS) continue;
      // An ACCEPT only while the item is still held for it.
      if (negotiation.state === "accepted" && !holding.has(negotiation.rq)) continue;
      this.#request(negotiationAnswer(negotiation), effects);
      count++;
    }
    if (count > 0) {
      effects.push(log("info", `Sent ${count} open request(s) again after the restart`));
    }
  }

  /** The server refused a request (DENIED): a search ends as denied. */
  #denied(message: MessageOf<"DENIED">, at: number, effects: PeerEffect[]): void {
    const request = this.#requests.get(message.rq);
    for (const type of ACKED_REQUESTS) this.#unacked.forget(`${type} ${message.rq}`);
    if (request?.state === "denied") {
      effects.push(log("debug", `Repeated DENIED ${message.rq}`));
      return;
    }
    if (request?.state === "searching") {
      this.#update(request, { state: "denied", reason: message.reason }, at, effects);
    }
    const what = request ? ` search for ${request.item}` : ` request ${message.rq}`;
    effects.push(printOut("DENIED", `The server denied the${what}: ${message.reason}`, {
      rq: message.rq,
      reason: message.reason,
      ...(request ? { item: request.item } : {}),
    }));
  }

  #deregistrationAnswer(
    message: MessageOf<"DE-REGISTERED" | "DE-REGISTER-DENIED">,
    at: number,
    effects: PeerEffect[],
  ): void {
    if (message.type === "DE-REGISTERED") {
      this.#setRegistered(false, at, effects);
      effects.push(printOut("DE-REGISTERED", `De-registered ${this.#identity.name}`, {
        rq: message.rq,
        name: this.#identity.name,
      }));
    } else {
      effects.push(
        printOut("DE-REGISTER-DENIED", `De-registration denied: ${message.reason}`, {
          rq: message.rq,
          reason: message.reason,
        }),
      );
    }
  }

  #setRegistered(registered: boolean, at: number, effects: PeerEffect[]): void {
    this.#registered = registered;
    const known = this.#serverKind === "unknown" ? {} : {
      serverKind: this.#serverKind,
      features: this.#features,
    };
    effects.push({
      kind: "save",
      key: ["registration"],
      value: { registered, server: formatAddress(this.#identity.server), changedAt: at, ...known },
    });
  }

  #search(message: MessageOf<"SEARCH">, effects: PeerEffect[]): void {
    // A repeated SEARCH gets the same answer again (the server keeps one),
    // whatever happened to the item since.
    const answered = this.#answers.get(message.rq);
    if (answered) {
      effects.push(
        send(answered),
        log("debug", `Repeated SEARCH ${message.rq}: answered ${answered.type} again`),
      );
      return;
    }
    const item = this.#items.get(message.item.toLowerCase());
    if (!item || item.reservedFor !== undefined) {
      effects.push(log(
        "debug",
        `SEARCH ${message.rq} for ${message.item}: ${item ? "reserved" : "not in the inventory"}`,
      ));
      if (!this.#features.includes("no-offer")) return;
      // Our server then decides as soon as every seller answered.
      const none: Message = {
        type: "NO_OFFER",
        rq: message.rq,
        name: this.#identity.name,
        item: message.item,
      };
      this.#keepAnswer(none);
      effects.push(send(none));
      return;
    }
    const offer: Message = {
      type: "OFFER",
      rq: message.rq,
      name: this.#identity.name,
      item: item.item,
      price: item.price,
    };
    this.#keepAnswer(offer);
    effects.push(send(offer));
    if (this.#remember(message)) {
      effects.push(log("debug", `Repeated SEARCH ${message.rq}: offered again`));
      return;
    }
    effects.push(printOut(
      "OFFER",
      `Offered ${item.item} at ${formatPrice(item.price)} (search ${message.rq})`,
      { rq: message.rq, item: item.item, price: item.price, description: message.description },
    ));
  }

  #reserve(message: MessageOf<"RESERVE">, at: number, effects: PeerEffect[]): void {
    const key = message.item.toLowerCase();
    const item = this.#items.get(key);
    if (this.#recent.has(`CANCEL ${message.rq}`)) {
      // The server's CANCEL overtook this RESERVE: nothing to hold.
      effects.push(log("debug", `RESERVE ${message.rq} came after its CANCEL: not held`));
      return;
    }
    if (!item && this.#soldLately(message.item, at)) {
      // A RESERVE sent again after the sale it led to.
      effects.push(log("debug", `RESERVE ${message.rq} for ${message.item}, sold already`));
      return;
    }
    if (!item) {
      effects.push(warning(
        `Cannot hold ${message.item} for RESERVE ${message.rq}: it is not in the inventory`,
        { rq: message.rq, item: message.item, price: message.price },
      ));
      return;
    }
    if (item.reservedFor === message.rq) {
      // Held already: after our ACCEPT (the server confirms it with RESERVE),
      // or a repeated datagram, which is not shown twice.
      if (this.#remember(message)) {
        effects.push(log("debug", `Repeated RESERVE ${message.rq}: ${item.item} is held already`));
      } else effects.push(reserveOutput(item, message));
      return;
    }
    if (item.reservedFor !== undefined && item.reservedFor === item.transaction?.tx) {
      // Held when the transaction came before this RESERVE: it names the search.
      const named: InventoryItem = { ...item, reservedFor: message.rq };
      this.#items.set(key, named);
      this.#remember(message);
      effects.push(
        { kind: "save", key: ["item", key], value: named },
        log("debug", `RESERVE ${message.rq} came after its transaction ${item.transaction.tx}`),
      );
      return;
    }
    if (item.reservedFor !== undefined) {
      effects.push(warning(
        `Cannot hold ${item.item} for RESERVE ${message.rq}: it is reserved for ${item.reservedFor}`,
        { rq: message.rq, item: item.item, price: message.price },
      ));
      return;
    }
    const reserved: InventoryItem = {
      ...released(item),
      reservedFor: message.rq,
      reservedPrice: message.price,
    };
    this.#items.set(key, reserved);
    this.#remember(message);
    effects.push(
      { kind: "save", key: ["item", key], value: reserved },
      reserveOutput(item, message),
    );
  }

  #cancel(message: MessageOf<"CANCEL">, at: number, effects: PeerEffect[]): void {
    // As a seller: the server releases a reservation.
    for (const [key, item] of this.#items) {
      if (item.reservedFor !== message.rq) continue;
      const free = released(item);
      this.#items.set(key, free);
      this.#remember(message);
      effects.push(
        { kind: "save", key: ["item", key], value: free },
        printOut(
          "CANCEL",
          `Reservation ${message.rq} of ${item.item} cancelled; it is for sale again`,
          {
            rq: message.rq,
            item: item.item,
            price: message.price,
            role: "seller",
            by: "server",
          },
        ),
      );
      return;
    }
    // As a buyer: the server withdrew a FOUND (timeout, seller gone).
    const request = this.#requests.get(message.rq);
    if (!request) {
      // Perhaps it overtook its RESERVE: that must not hold the item then.
      const repeated = this.#recent.has(`CANCEL ${message.rq}`);
      this.#unexpected(message, effects);
      if (!repeated) this.#remember(message);
      return;
    }
    if (request.state === "cancelled") {
      effects.push(log("debug", `Repeated CANCEL ${message.rq}: already cancelled`));
      return;
    }
    if (!OPEN_STATES.has(request.state)) {
      effects.push(warning(
        `Ignored CANCEL ${message.rq}: the search for ${request.item} ended (${request.state})`,
        { rq: message.rq },
      ));
      return;
    }
    this.#update(request, { state: "cancelled", cancelledBy: "server" }, at, effects);
    effects.push(printOut(
      "CANCEL",
      `Purchase of ${request.foundItem ?? request.item} cancelled by the server`,
      {
        rq: message.rq,
        item: request.foundItem ?? request.item,
        price: message.price,
        role: "buyer",
        by: "server",
      },
    ));
  }

  #negotiate(message: MessageOf<"NEGOTIATE">, at: number, effects: PeerEffect[]): void {
    const known = this.#negotiations.get(message.rq);
    if (known) {
      // A repeated NEGOTIATE: the same answer again, or still asking.
      if (known.state !== "asking") effects.push(send(negotiationAnswer(known)));
      effects.push(log("debug", `Repeated NEGOTIATE ${message.rq} (${known.state})`));
      return;
    }
    const negotiation: NegotiationRecord = {
      rq: message.rq,
      item: message.item,
      maxPrice: message.maxPrice,
      state: "asking",
      askedAt: at,
    };
    this.#negotiations.set(message.rq, negotiation);
    const item = this.#items.get(message.item.toLowerCase());
    if (!item) {
      return this.#refuse(negotiation, "it is not in the inventory", at, effects);
    }
    if (item.reservedFor !== undefined) {
      return this.#refuse(negotiation, "it is reserved for another buyer", at, effects);
    }
    if (item.floor !== undefined) {
      if (message.maxPrice >= item.floor) {
        return this.#accept(negotiation, item, "floor", at, effects);
      }
      return this.#refuse(
        negotiation,
        `below your floor ${formatPrice(item.floor)}`,
        at,
        effects,
        "floor",
      );
    }
    effects.push({ kind: "save", key: ["negotiation", message.rq], value: negotiation });
    this.#questions.push({ about: "NEGOTIATE", rq: message.rq });
  }

  #accept(
    negotiation: NegotiationRecord,
    item: InventoryItem,
    by: "floor" | "you",
    at: number,
    effects: PeerEffect[],
  ): void {
    const key = item.item.toLowerCase();
    const reserved: InventoryItem = {
      ...released(item),
      reservedFor: negotiation.rq,
      reservedPrice: negotiation.maxPrice,
    };
    const answered: NegotiationRecord = { ...negotiation, state: "accepted", answeredAt: at };
    this.#items.set(key, reserved);
    this.#negotiations.set(negotiation.rq, answered);
    const floor = by === "floor" ? ` (floor ${formatPrice(item.floor ?? 0)})` : "";
    effects.push(
      { kind: "save", key: ["item", key], value: reserved },
      { kind: "save", key: ["negotiation", negotiation.rq], value: answered },
      send(negotiationAnswer(answered)),
      printOut(
        "ACCEPT",
        `Accepted ${formatPrice(negotiation.maxPrice)} for ${item.item}${floor}; ` +
          `reserved for the buyer (${negotiation.rq})`,
        {
          rq: negotiation.rq,
          item: item.item,
          maxPrice: negotiation.maxPrice,
          price: item.price,
          floor: item.floor,
          by,
        },
      ),
    );
  }

  #refuse(
    negotiation: NegotiationRecord,
    reason: string,
    at: number,
    effects: PeerEffect[],
    by: "floor" | "you" | "state" = reason === "you declined" ? "you" : "state",
  ): void {
    const answered: NegotiationRecord = { ...negotiation, state: "refused", answeredAt: at };
    this.#negotiations.set(negotiation.rq, answered);
    effects.push(
      { kind: "save", key: ["negotiation", negotiation.rq], value: answered },
      send(negotiationAnswer(answered)),
      printOut(
        "REFUSE",
        `Refused ${formatPrice(negotiation.maxPrice)} for ${negotiation.item}: ${reason}`,
        { rq: negotiation.rq, item: negotiation.item, maxPrice: negotiation.maxPrice, reason, by },
      ),
    );
  }

  #found(message: MessageOf<"FOUND">, at: number, effects: PeerEffect[]): void {
    // An outcome means the server has the search, whatever became of its ACK.
    this.#unacked.forget(`LOOKING_FOR ${message.rq}`);
    const request = this.#requests.get(message.rq);
    if (!request) return this.#unexpected(message, effects);
    switch (request.state) {
      case "searching":
        break;
      case "found":
        effects.push(log("debug", `Repeated FOUND ${message.rq}: still asking`));
        return;
      // A classic server repeats FOUND when the answer was lost: answer
      // again. Ours repeats FOUND for want of an ACK (sent already), and
      // this peer resends its own answer until acknowledged; answering each
      // FOUND would echo forever with a server that repeats FOUND for a
      // purchase it has concluded.
      case "buying":
        if (!this.#features.includes("ack")) effects.push(send(buyerAnswer("BUY", request)));
        effects.push(log("debug", `Repeated FOUND ${message.rq}`));
        return;
      case "cancelled":
        if (request.cancelledBy === "user" && !this.#features.includes("ack")) {
          effects.push(send(buyerAnswer("CANCEL", request)));
        }
        effects.push(log("debug", `Repeated FOUND ${message.rq}: already cancelled`));
        return;
      default:
        effects.push(warning(
          `Ignored FOUND ${message.rq}: the search for ${request.item} ended (${request.state})`,
          { rq: message.rq },
        ));
        return;
    }
    const found = this.#update(
      request,
      {
        state: "found",
        price: message.price,
        foundItem: message.item,
        ...(message.seller === undefined ? {} : { seller: message.seller }),
      },
      at,
      effects,
    );
    const from = message.seller === undefined ? "" : ` from ${message.seller}`;
    effects.push(printOut(
      "FOUND",
      `Found ${message.item} for ${formatPrice(message.price)}${from} (request ${message.rq})`,
      { rq: message.rq, item: message.item, price: message.price, seller: message.seller },
    ));
    if (this.#autoBuy) this.#buy(found, true, at, effects);
    else this.#questions.push({ about: "FOUND", rq: message.rq });
  }

  #buy(request: BuyRequest, auto: boolean, at: number, effects: PeerEffect[]): void {
    const buying = this.#update(request, { state: "buying" }, at, effects);
    const item = buying.foundItem ?? buying.item;
    const from = buying.seller === undefined ? "" : ` from ${buying.seller}`;
    effects.push(
      send(buyerAnswer("BUY", buying)),
      printOut(
        "BUY",
        `Buying ${item} for ${formatPrice(buying.price ?? 0)}${from}${auto ? " (auto-buy)" : ""}`,
        { rq: buying.rq, item, price: buying.price, seller: buying.seller, auto },
      ),
    );
  }

  #decline(request: BuyRequest, at: number, effects: PeerEffect[]): void {
    const cancelled = this.#update(
      request,
      { state: "cancelled", cancelledBy: "user" },
      at,
      effects,
    );
    const item = cancelled.foundItem ?? cancelled.item;
    effects.push(
      send(buyerAnswer("CANCEL", cancelled)),
      printOut("CANCEL", `Declined ${item} for ${formatPrice(cancelled.price ?? 0)}`, {
        rq: cancelled.rq,
        item,
        price: cancelled.price,
        role: "buyer",
        by: "you",
      }),
    );
  }

  #noDeal(
    message: MessageOf<"NOT_AVAILABLE" | "NOT_FOUND">,
    at: number,
    effects: PeerEffect[],
  ): void {
    this.#unacked.forget(`LOOKING_FOR ${message.rq}`);
    const request = this.#requests.get(message.rq);
    if (!request) return this.#unexpected(message, effects);
    const state = message.type === "NOT_AVAILABLE" ? "not_available" : "not_found";
    if (request.state === state) {
      effects.push(log("debug", `Repeated ${message.type} ${message.rq}`));
      return;
    }
    if (request.state !== "searching") {
      effects.push(warning(
        `Ignored ${message.type} ${message.rq}: the search for ${request.item} is ${request.state}`,
        { rq: message.rq },
      ));
      return;
    }
    this.#update(request, { state }, at, effects);
    const max = formatPrice(message.maxPrice);
    effects.push(printOut(
      message.type,
      message.type === "NOT_AVAILABLE"
        ? `No offer for ${message.item} within ${max}`
        : `No seller accepted ${max} for ${message.item}`,
      { rq: message.rq, item: message.item, maxPrice: message.maxPrice },
    ));
  }

  // ------------------------------------------------------ the transaction

  #tcp(conn: number, message: Message, at: number, effects: PeerEffect[]): void {
    switch (message.type) {
      case "INFORM_Req":
        this.#informReq(conn, message, at, effects);
        break;
      case "Shipping_Info":
        this.#shippingInfo(conn, message, at, effects);
        break;
      case "TX_CANCEL":
        this.#txCancel(conn, message, at, effects);
        break;
      default:
        effects.push(warning(
          `Closed a TCP connection from the server: it sent ${message.type} ${message.rq}, ` +
            "which this peer does not expect there",
          { rq: message.rq, type: message.type },
        ));
        this.#forget(conn, effects);
    }
  }

  #informReq(
    conn: number,
    message: MessageOf<"INFORM_Req">,
    at: number,
    effects: PeerEffect[],
  ): void {
    const current = this.#transactions.get(conn);
    if (current) {
      if (current.rq === message.rq) {
        effects.push(log("debug", `Repeated INFORM_Req ${message.rq} on one connection`));
        return;
      }
      effects.push(warning(
        `Closed the connection of transaction ${current.rq}: a second INFORM_Req ${message.rq} came on it`,
        { rq: message.rq },
      ));
      this.#forget(conn, effects);
      return;
    }
    const match = this.#roleFor(message);
    if (!match) {
      const reason = `no purchase or sale of ${message.item} here`;
      effects.push(
        { kind: "tcp-send", conn, message: { type: "TX_CANCEL", rq: message.rq, reason } },
        { kind: "tcp-close", conn },
        warning(
          `Refused INFORM_Req ${message.rq} for ${message.item} at ${
            formatPrice(message.price)
          }: ${reason}`,
          { rq: message.rq, item: message.item, price: message.price, reason },
        ),
      );
      return;
    }
    const transaction: Transaction = {
      ...match,
      rq: message.rq,
      price: message.price,
      answered: false,
    };
    if (transaction.role === "buyer") this.#unacked.forget(`BUY ${transaction.ref}`);
    if (!this.#features.includes(AUTH) && !this.#allowPlaintext) {
      return this.#refusePlaintext(conn, transaction, at, effects);
    }
    this.#transactions.set(conn, transaction);
    this.#link(transaction, effects);
    if (this.#payment) this.#pay(conn, transaction, this.#payment, effects);
    else this.#askDetails(conn, transaction);
  }

  /**
   * A server without TLS (a classic one) asks for card data over plain TCP:
   * declined, unless the peer runs with `--allow-plaintext`. The purchase
   * or the reservation ends as the server will end it.
   */
  #refusePlaintext(
    conn: number,
    transaction: Transaction,
    at: number,
    effects: PeerEffect[],
  ): void {
    effects.push(
      {
        kind: "tcp-send",
        conn,
        message: { type: "TX_CANCEL", rq: transaction.rq, reason: PLAINTEXT_REASON },
      },
      { kind: "tcp-close", conn },
    );
    this.#cancelled(transaction, PLAINTEXT_REASON, "you", at, effects, false);
    const what = transaction.role === "buyer" ? "purchase" : "sale";
    effects.push(printOut(
      "plaintext-refused",
      `Declined the ${what} of ${transaction.item} (${formatPrice(transaction.price)}): ` +
        `the server offers no TLS, and this peer sends card data only over TLS ` +
        `(start it with --allow-plaintext to allow plain TCP)`,
      {
        rq: transaction.rq,
        item: transaction.item,
        price: transaction.price,
        role: transaction.role,
        reason: PLAINTEXT_REASON,
      },
    ));
  }

  /**
   * Who this peer is in a transaction: the buyer of a purchase being bought,
   * else the seller of a reserved item; at the asked price first, so that a
   * peer buying an item while selling one of the same name tells the two
   * apart. A purchase or an item already in another open transaction does
   * not count.
   */
  #roleFor(
    message: MessageOf<"INFORM_Req">,
  ): Pick<Transaction, "role" | "item" | "ref" | "counterparty"> | undefined {
    const key = message.item.toLowerCase();
    const busy = new Set([...this.#transactions.values()].map((tx) => `${tx.role} ${tx.ref}`));
    const buying = this.requests.filter((request) =>
      request.state === "buying" && (request.foundItem ?? request.item).toLowerCase() === key &&
      !busy.has(`buyer ${request.rq}`)
    );
    const item = this.#items.get(key);
    const selling = item?.reservedFor !== undefined && !busy.has(`seller ${key}`)
      ? item
      : undefined;
    const asBuyer = (request: BuyRequest) => ({
      role: "buyer" as const,
      item: request.foundItem ?? request.item,
      ref: request.rq,
      ...(request.seller === undefined ? {} : { counterparty: request.seller }),
    });
    const asSeller = (item: InventoryItem) => ({
      role: "seller" as const,
      item: item.item,
      ref: key,
    });
    const atPrice = buying.find((request) => request.price === message.price);
    if (atPrice) return asBuyer(atPrice);
    if (selling?.reservedPrice === message.price) return asSeller(selling);
    if (buying[0]) return asBuyer(buying[0]);
    if (selling) return asSeller(selling);
    // Our server retransmits RESERVE, but the buyer's BUY may start the
    // transaction before a lost RESERVE comes again: an item for sale at
    // that price (or its floor) is held now.
    const unreserved = item && item.reservedFor === undefined && item.transaction === undefined &&
      !busy.has(`seller ${key}`);
    if (
      unreserved && this.#features.includes("ack") &&
      message.price >= (item.floor ?? item.price)
    ) return asSeller(item);
    return undefined;
  }

  /** Stores which transaction a purchase or a reserved item is in. */
  #link(transaction: Transaction, effects: PeerEffect[]): void {
    const link: TransactionLink = { tx: transaction.rq, price: transaction.price };
    if (transaction.role === "buyer") {
      const request = this.#requests.get(transaction.ref);
      if (!request) return;
      const updated: BuyRequest = { ...request, transaction: link };
      this.#requests.set(request.rq, updated);
      effects.push({ kind: "save", key: ["request", request.rq], value: updated });
      return;
    }
    const item = this.#items.get(transaction.ref);
    if (!item) return;
    const updated: InventoryItem = {
      ...item,
      // Not reserved yet (its RESERVE is late): held for this transaction.
      ...(item.reservedFor === undefined
        ? { reservedFor: transaction.rq, reservedPrice: transaction.price }
        : {}),
      transaction: link,
    };
    this.#items.set(transaction.ref, updated);
    effects.push({ kind: "save", key: ["item", transaction.ref], value: updated });
  }

  #pay(
    conn: number,
    transaction: Transaction,
    details: PaymentDetails,
    effects: PeerEffect[],
  ): void {
    this.#transactions.set(conn, { ...transaction, answered: true, address: details.address });
    const card = maskCard(details.card);
    effects.push(
      {
        kind: "tcp-send",
        conn,
        message: {
          type: "INFORM_Res",
          rq: transaction.rq,
          name: this.#identity.name,
          card: details.card,
          expiry: details.expiry,
          address: details.address,
        },
      },
      printOut(
        "INFORM_Req",
        `Sending payment details for ${transaction.item} (${
          formatPrice(transaction.price)
        }) as ${transaction.role}, card ${card}`,
        {
          rq: transaction.rq,
          item: transaction.item,
          price: transaction.price,
          role: transaction.role,
          card,
        },
      ),
    );
  }

  /**
   * Queues the payment questions, unless they are being asked already (the
   * answers then serve this connection too). They come before every other
   * question waiting, though not before the one on screen: the next line
   * may already be its answer.
   */
  #askDetails(conn: number, transaction: Transaction): void {
    this.#waiting.push(conn);
    if (this.#interview) return;
    this.#interview = {};
    const head = this.#questions[0];
    const at = head && this.#asked === questionId(head) ? 1 : 0;
    this.#questions.splice(at, 0, { about: "CARD", rq: transaction.rq });
  }

  #paymentAnswer(question: Question, text: string, at: number, effects: PeerEffect[]): void {
    const interview = this.#interview;
    if (!interview) return;
    if (ABORT_INPUT.has(text)) {
      return this.#abortDetails("the payment details were not given", at, effects);
    }
    const next = (about: PaymentQuestion) => this.#questions.unshift({ about, rq: question.rq });
    switch (question.about) {
      case "CARD": {
        const card = Card.safeParse(text);
        if (!card.success) {
          return this.#abortDetails(
            `the card number is not valid: ${describeIssue(card.error)}`,
            at,
            effects,
          );
        }
        interview.card = card.data;
        next("EXPIRY");
        return;
      }
      case "EXPIRY": {
        const expiry = Expiry.safeParse(text);
        if (!expiry.success) {
          return this.#abortDetails(
            `the card expiry is not valid: ${describeIssue(expiry.error)}`,
            at,
            effects,
          );
        }
        interview.expiry = expiry.data;
        next("ADDRESS");
        return;
      }
      default: {
        const address = PostalAddress.safeParse(text);
        if (!address.success) {
          return this.#abortDetails(
            `the address is not valid: ${describeIssue(address.error)}`,
            at,
            effects,
          );
        }
        const details: PaymentDetails = {
          card: interview.card!,
          expiry: interview.expiry!,
          address: address.data,
        };
        // Kept for the rest of the session, never stored.
        this.#payment = details;
        this.#interview = undefined;
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const conn of waiting) {
          const transaction = this.#transactions.get(conn);
          if (transaction && !transaction.answered) {
            this.#pay(conn, transaction, details, effects);
          }
        }
      }
    }
  }

  /** Ends the transactions that wait for details the user did not give. */
  #abortDetails(reason: string, at: number, effects: PeerEffect[]): void {
    this.#interview = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const conn of waiting) {
      const transaction = this.#transactions.get(conn);
      if (!transaction) continue;
      effects.push({
        kind: "tcp-send",
        conn,
        message: { type: "TX_CANCEL", rq: transaction.rq, reason },
      });
      this.#forget(conn, effects);
      this.#cancelled(transaction, reason, "you", at, effects);
    }
  }

  #shippingInfo(
    conn: number,
    message: MessageOf<"Shipping_Info">,
    at: number,
    effects: PeerEffect[],
  ): void {
    const transaction = this.#transactionOf(conn, message.rq);
    if (!transaction) {
      if (this.#history.has(message.rq)) {
        effects.push(log("debug", `Repeated Shipping_Info ${message.rq}: recorded already`));
        this.#acknowledgeShipping(conn, message.rq, effects);
      } else {
        effects.push(warning(
          `Ignored Shipping_Info ${message.rq}: it settles no transaction of this peer`,
          { rq: message.rq },
        ));
      }
      this.#forget(conn, effects);
      return;
    }
    this.#transactions.delete(conn);
    if (transaction.role === "seller") this.#sold(transaction, message, at, effects);
    else this.#bought(transaction, message.address, true, at, effects);
    this.#acknowledgeShipping(conn, message.rq, effects);
    this.#forget(conn, effects);
  }

  /**
   * Tells our server a Shipping_Info is stored (the shell sends effects only
   * after the event's writes are committed), so it stops delivering it; a
   * peer killed before the commit gets it again.
   */
  #acknowledgeShipping(conn: number, rq: string, effects: PeerEffect[]): void {
    if (!this.#features.includes("ack")) return;
    effects.push({ kind: "tcp-send", conn, message: { type: "TX_ACK", rq, of: "Shipping_Info" } });
  }

  /**
   * The transaction a Shipping_Info or CANCEL settles: the one on its
   * connection, or (on a new connection, after a server restart) the one
   * whose RQ# a purchase or an item remembers.
   */
  #transactionOf(conn: number, rq: string): Transaction | undefined {
    const current = this.#transactions.get(conn);
    if (current) return current.rq === rq ? current : undefined;
    for (const request of this.#requests.values()) {
      if (request.transaction?.tx !== rq || request.state === "bought") continue;
      return {
        rq,
        role: "buyer",
        item: request.foundItem ?? request.item,
        price: request.transaction.price,
        ref: request.rq,
        ...(request.seller === undefined ? {} : { counterparty: request.seller }),
        answered: true,
      };
    }
    for (const [key, item] of this.#items) {
      if (item.transaction?.tx !== rq) continue;
      return {
        rq,
        role: "seller",
        item: item.item,
        price: item.transaction.price,
        ref: key,
        answered: true,
      };
    }
    return undefined;
  }

  #sold(
    transaction: Transaction,
    message: MessageOf<"Shipping_Info">,
    at: number,
    effects: PeerEffect[],
  ): void {
    const { fee, credit } = split(transaction.price);
    if (this.#items.delete(transaction.ref)) {
      effects.push({ kind: "delete", key: ["item", transaction.ref] });
    }
    this.#record({
      tx: transaction.rq,
      role: "seller",
      item: transaction.item,
      price: transaction.price,
      fee,
      credit,
      counterparty: message.name,
      address: message.address,
      at,
    }, effects);
    effects.push(printOut(
      "Shipping_Info",
      `Sold ${transaction.item} to ${message.name} for ${formatPrice(transaction.price)} ` +
        `(you get ${formatPrice(credit)} after the ${FEE_RATE * 100}% fee): ` +
        `ship to ${message.address}`,
      {
        rq: transaction.rq,
        role: "seller",
        item: transaction.item,
        price: transaction.price,
        fee,
        credit,
        buyer: message.name,
        address: message.address,
      },
    ));
  }

  /**
   * Records a purchase: on our server's receipt (a Shipping_Info to the
   * buyer), or when a classic server closes the connection without CANCEL.
   */
  #bought(
    transaction: Transaction,
    address: string | undefined,
    receipt: boolean,
    at: number,
    effects: PeerEffect[],
  ): void {
    const { fee, credit } = split(transaction.price);
    const request = this.#requests.get(transaction.ref);
    if (request && request.state !== "bought") {
      this.#update(request, { state: "bought", price: transaction.price }, at, effects);
    }
    const seller = transaction.counterparty;
    this.#record({
      tx: transaction.rq,
      role: "buyer",
      item: transaction.item,
      price: transaction.price,
      fee,
      credit,
      ...(seller === undefined ? {} : { counterparty: seller }),
      ...(address === undefined ? {} : { address }),
      request: transaction.ref,
      at,
    }, effects);
    const from = seller === undefined ? "" : ` from ${seller}`;
    const ships = address === undefined ? "" : `; it ships to ${address}`;
    effects.push(printOut(
      receipt ? "Shipping_Info" : "bought",
      `Bought ${transaction.item}${from} for ${formatPrice(transaction.price)}${ships}`,
      {
        rq: transaction.rq,
        request: transaction.ref,
        role: "buyer",
        item: transaction.item,
        price: transaction.price,
        fee,
        credit,
        seller,
        address,
        receipt,
      },
    ));
  }

  #record(entry: HistoryEntry, effects: PeerEffect[]): void {
    this.#history.set(entry.tx, entry);
    effects.push({ kind: "save", key: ["history", entry.tx], value: entry });
  }

  #txCancel(
    conn: number,
    message: MessageOf<"TX_CANCEL">,
    at: number,
    effects: PeerEffect[],
  ): void {
    const transaction = this.#transactionOf(conn, message.rq);
    this.#forget(conn, effects);
    if (!transaction) {
      effects.push(warning(
        `Ignored CANCEL ${message.rq} (${message.reason}): it cancels no transaction of this peer`,
        { rq: message.rq, reason: message.reason },
      ));
      return;
    }
    this.#cancelled(transaction, message.reason, "server", at, effects);
  }

  /**
   * A transaction failed: the seller's item is for sale again, the buyer's
   * purchase is cancelled with the reason. The server's CANCEL datagram that
   * may follow (or come first) then changes nothing more.
   */
  #cancelled(
    transaction: Transaction,
    reason: string,
    by: "server" | "you",
    at: number,
    effects: PeerEffect[],
    show = true,
  ): void {
    if (transaction.role === "seller") {
      const item = this.#items.get(transaction.ref);
      if (item?.reservedFor !== undefined) {
        const free = released(item);
        this.#items.set(transaction.ref, free);
        this.#remember({ type: "CANCEL", rq: item.reservedFor, item: item.item, price: 0 });
        effects.push({ kind: "save", key: ["item", transaction.ref], value: free });
      }
    } else {
      const request = this.#requests.get(transaction.ref);
      if (request && (OPEN_STATES.has(request.state) || request.state === "cancelled")) {
        this.#update(
          request,
          {
            state: "cancelled",
            cancelledBy: request.state === "cancelled"
              ? request.cancelledBy
              : by === "you"
              ? "user"
              : "server",
            reason,
          },
          at,
          effects,
        );
      }
    }
    if (!show) return;
    const what = transaction.role === "seller" ? "Sale" : "Purchase";
    effects.push(printOut(
      "CANCEL",
      `${what} of ${transaction.item} cancelled: ${reason}`,
      { rq: transaction.rq, reason, role: transaction.role, item: transaction.item, by },
    ));
  }

  #tcpInvalid(conn: number, error: DecodeError, effects: PeerEffect[]): void {
    const transaction = this.#transactions.get(conn);
    const rq = transaction?.rq ?? error.rq;
    effects.push(warning(
      `Closed a TCP connection from the server: ${error.message}`,
      { rq, code: error.code },
    ));
    if (rq !== undefined) {
      effects.push({
        kind: "tcp-send",
        conn,
        message: {
          type: "TX_CANCEL",
          rq,
          reason: reasonText(`cannot read the server's message: ${error.message}`),
        },
      });
    }
    this.#forget(conn, effects);
  }

  /** A TCP message without the server's MAC: no card data answers it. */
  #tcpUnauthenticated(
    conn: number,
    rq: string | undefined,
    why: string,
    effects: PeerEffect[],
  ): void {
    const id = rq ?? this.#transactions.get(conn)?.rq;
    effects.push(warning(
      `Closed a TCP connection: a message without the server's valid MAC (${why}); no card data sent`,
      { rq: id, why },
    ));
    if (id !== undefined) {
      effects.push({
        kind: "tcp-send",
        conn,
        message: { type: "TX_CANCEL", rq: id, reason: UNAUTHENTICATED_REASON },
      });
    }
    this.#forget(conn, effects);
  }

  #tcpClosed(
    conn: number,
    cause: "remote" | "timeout" | "error",
    at: number,
    effects: PeerEffect[],
  ): void {
    const transaction = this.#transactions.get(conn);
    this.#transactions.delete(conn);
    this.#waiting = this.#waiting.filter((waiting) => waiting !== conn);
    if (!transaction) return;
    if (
      cause === "remote" && transaction.role === "buyer" && transaction.answered &&
      this.#serverKind !== "ours"
    ) {
      // A classic server sends the buyer no receipt: it closes the
      // connection after a successful charge, and sends CANCEL otherwise.
      this.#bought(transaction, transaction.address, false, at, effects);
      return;
    }
    const why = cause === "timeout"
      ? "nothing came from the server in time"
      : cause === "error"
      ? "the connection failed"
      : "the server closed the connection";
    const then = !transaction.answered
      ? "before the payment details were sent"
      : transaction.role === "seller"
      ? "before Shipping_Info; the item stays reserved until the server cancels it"
      : "before the receipt; the purchase stays open until the server cancels it";
    effects.push(warning(
      `Transaction ${transaction.rq} for ${transaction.item} ended unsettled: ${why} ${then}`,
      { rq: transaction.rq, item: transaction.item, role: transaction.role, cause },
    ));
  }

  /** Drops a connection's transaction and closes it. */
  #forget(conn: number, effects: PeerEffect[]): void {
    this.#transactions.delete(conn);
    this.#waiting = this.#waiting.filter((waiting) => waiting !== conn);
    effects.push({ kind: "tcp-close", conn });
  }

  #historyList(): PeerEffect {
    const entries = this.history;
    const cents = (amount: number) => Math.round(amount * 100);
    let bought = 0, sold = 0, received = 0, fees = 0, purchases = 0, sales = 0;
    for (const entry of entries) {
      if (entry.role === "buyer") {
        purchases++;
        bought += cents(entry.price);
      } else {
        sales++;
        sold += cents(entry.price);
        received += cents(entry.credit);
        fees += cents(entry.fee);
      }
    }
    const totals = {
      purchases,
      bought: bought / 100,
      sales,
      sold: sold / 100,
      fees: fees / 100,
      received: received / 100,
    };
    const text = entries.length === 0 ? "No sales or purchases yet" : `${
      table(
        ["TIME (UTC)", "ROLE", "ITEM", "PRICE", "FEE", "SELLER GOT", "WITH"],
        entries.map((entry) => [
          formatTime(entry.at),
          entry.role === "seller" ? "sold" : "bought",
          entry.item,
          formatPrice(entry.price),
          formatPrice(entry.fee),
          formatPrice(entry.credit),
          entry.counterparty ?? "-",
        ]),
        [false, false, false, true, true, true, false],
      )
    }\n` +
      `Bought ${purchases} for ${formatPrice(totals.bought)}; sold ${sales} for ${
        formatPrice(totals.sold)
      } and received ${formatPrice(totals.received)} after ${formatPrice(totals.fees)} in fees`;
    return printOut("history", text, { entries, totals });
  }

  #update(
    request: BuyRequest,
    change: Partial<BuyRequest>,
    at: number,
    effects: PeerEffect[],
  ): BuyRequest {
    const updated: BuyRequest = { ...request, ...change, updatedAt: at };
    this.#requests.set(request.rq, updated);
    effects.push({ kind: "save", key: ["request", request.rq], value: updated });
    return updated;
  }

  /** Whether an item of this name was sold in the last few minutes. */
  #soldLately(item: string, at: number): boolean {
    const name = item.toLowerCase();
    for (const entry of this.#history.values()) {
      if (
        entry.role === "seller" && entry.item.toLowerCase() === name &&
        at - entry.at <= RESUME_WITHIN_MS
      ) return true;
    }
    return false;
  }

  /** Keeps a SEARCH's answer for its repeats, a bounded number of them. */
  #keepAnswer(answer: Message): void {
    this.#answers.set(answer.rq, answer);
    if (this.#answers.size > RECENT_LIMIT) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
  }

  /** Notes a message as acted on; returns whether it was already. */
  #remember(message: Message): boolean {
    const id = `${message.type} ${message.rq}`;
    if (this.#recent.has(id)) return true;
    this.#recent.set(id, true);
    if (this.#recent.size > RECENT_LIMIT) {
      this.#recent.delete(this.#recent.keys().next().value!);
    }
    return false;
  }

  #unexpected(message: Message, effects: PeerEffect[]): void {
    if (this.#recent.has(`${message.type} ${message.rq}`)) {
      effects.push(log("debug", `Repeated ${message.type} ${message.rq}: answered already`));
      return;
    }
    effects.push(
      warning(`Ignored ${message.type} ${message.rq}: it answers nothing this peer asked`, {
        rq: message.rq,
        type: message.type,
      }),
    );
  }
}

/** The item without its reservation and transaction: for sale again. */
function released(item: InventoryItem): InventoryItem {
  const { reservedFor: _, reservedPrice: __, transaction: ___, ...free } = item;
  return free;
}

/**
 * How a price splits: the buyer pays it all, the server keeps 10%, the
 * seller gets the rest; computed in cents like the server does.
 */
export function split(price: number): { fee: number; credit: number } {
  const cents = Math.round(price * 100);
  const fee = Math.round(cents * FEE_RATE);
  return { fee: fee / 100, credit: (cents - fee) / 100 };
}

/** Free text made fit for a reason field: one line, single spaces, not too long. */
function reasonText(text: string): string {
  const words = text.replace(/\p{C}/gu, " ").split(/\s+/).filter((word) => word !== "");
  return words.join(" ").slice(0, MAX_TEXT_LENGTH).trimEnd() || "invalid message";
}

/** A time as `2026-11-25 17:37` in UTC. */
export function formatTime(at: number): string {
  return new Date(at).toISOString().slice(0, 16).replace("T", " ");
}

function reserveOutput(item: InventoryItem, message: MessageOf<"RESERVE">): PeerEffect {
  return printOut(
    "RESERVE",
    `Reserved ${item.item} at ${formatPrice(message.price)} for a buyer (${message.rq})`,
    { rq: message.rq, item: item.item, price: message.price },
  );
}

function questionId(question: Question): string {
  return `${question.about} ${question.rq}`;
}

function negotiationAnswer(negotiation: NegotiationRecord): Message {
  return {
    type: negotiation.state === "accepted" ? "ACCEPT" : "REFUSE",
    rq: negotiation.rq,
    item: negotiation.item,
    maxPrice: negotiation.maxPrice,
  };
}

function buyerAnswer(type: "BUY" | "CANCEL", request: BuyRequest): Message {
  return {
    type,
    rq: request.rq,
    item: request.foundItem ?? request.item,
    price: request.price ?? 0,
  };
}

function send(message: Message): PeerEffect {
  return { kind: "send", message };
}

function printOut(event: string, text: string, fields: Record<string, unknown>): PeerEffect {
  return { kind: "print", output: { event, text, fields } };
}

function warning(text: string, fields: Record<string, unknown> = {}): PeerEffect {
  return printOut("warning", text, { message: text, ...fields });
}

function error(text: string): PeerEffect {
  return printOut("error", `Error: ${text}`, { message: text });
}

function log(level: LogLevel, message: string): PeerEffect {
  return { kind: "log", level, message };
}

/** A plain-text table with a header row; `right` aligns numeric columns. */
function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => {
      const last = i === cells.length - 1;
      if (right[i]) return cell.padStart(widths[i]!);
      return last ? cell : cell.padEnd(widths[i]!);
    }).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** A duration as the largest whole unit: `45s`, `12m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
