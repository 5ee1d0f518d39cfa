/**
 * The server's protocol logic as a state machine without I/O: it is fed
 * events (a decoded datagram, an undecodable one, the clock reaching a
 * deadline) and answers with effects (messages to send, records to write,
 * lines to log). The shell in `server.ts` owns the sockets, the KV store and
 * the clock; recovery after a crash is loading the stored records back into
 * a new machine, whose deadlines then fire on time or at once if overdue.
 *
 * A search's life: `searching` (SEARCH sent, offers collected) →
 * `negotiating` (NEGOTIATE sent to the cheapest seller above the max) →
 * `found` (FOUND to the buyer, the seller's item reserved) → `buying` (BUY
 * received; the TCP transaction runs) → `bought`. It ends `bought`,
 * `not_available`, `not_found` or `cancelled`.
 *
 * @module
 */
import {
  ACKED_REQUESTS,
  type Address,
  type DecodeError,
  formatAddress,
  type Message,
  type MessageOf,
  RELIABLE_SENDS,
} from "../protocol/mod.ts";
import { DeadlineQueue } from "../transport/deadlines.ts";
import { type RetransmitOptions, Retransmitter } from "../transport/reliability.ts";
import type { SessionKeys } from "../security/channel.ts";
import { features } from "../security/handshake.ts";
import { split } from "./payment.ts";
import type { Conclusion, TransactionOutcome, TransactionPlan } from "./transaction.ts";

/** What the server remembers of a registered peer. */
export interface PeerRecord {
  readonly name: string;
  /** The IP the peer announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  /** Where the REGISTER datagram came from; the server writes to this IP. */
  readonly source: Address;
  readonly registeredAt: number;
  /** Extensions agreed at registration; absent for classic peers. */
  readonly extensions?: readonly string[];
  /** For our authenticated peers: the key the name is bound to, the TLS authority and the session keys. */
  readonly auth?: {
    readonly key: string;
    readonly ca: string;
    readonly keys: SessionKeys;
  };
}

/** Where a search stands. */
export type RequestState =
  | "searching"
  | "negotiating"
  | "found"
  | "buying"
  | "bought"
  | "not_available"
  | "not_found"
  | "cancelled";

/** States in which a search is still open. */
const OPEN_STATES: ReadonlySet<RequestState> = new Set([
  "searching",
  "negotiating",
  "found",
  "buying",
]);

/** A buyer's search, keyed by the RQ# the server gave its SEARCH. */
export interface RequestRecord {
  /** The server's RQ#: in SEARCH, OFFER, NEGOTIATE, RESERVE and the seller's CANCEL. */
  readonly id: string;
  readonly buyer: string;
  /** The buyer's RQ#: in LOOKING_FOR, FOUND, NOT_*, BUY and the buyer's CANCEL. */
  readonly buyerRq: string;
  readonly item: string;
  readonly description: string;
  readonly maxPrice: number;
  readonly createdAt: number;
  readonly state: RequestState;
  readonly updatedAt: number;
  /** When the current state's timer fires (open states), or when an ended search is forgotten. */
  readonly deadline: number;
  readonly firstOfferAt?: number;
  /** How many peers were sent SEARCH. */
  readonly contacted: number;
  /** The seller chosen or negotiated with, and the price agreed or asked. */
  readonly seller?: string;
  readonly price?: number;
  /** Why the search ended, for logs and the `requests` view. */
  readonly reason?: string;
  /** The transaction's RQ#, from BUY on. */
  readonly tx?: string;
  /** Where the seller ships, once the sale is settled. */
  readonly shipTo?: { readonly name: string; readonly address: string };
  /** Whether the seller has been sent Shipping_Info. */
  readonly shipped?: boolean;
  /** Whether our buyer has been sent its receipt (Shipping_Info too). */
  readonly receipted?: boolean;
}

/** One settled or failed transaction, as the ledger keeps it. */
export interface LedgerEntry {
  readonly tx: string;
  readonly request: string;
  readonly buyerRq: string;
  readonly item: string;
  readonly price: number;
  /** The server's 10%. */
  readonly fee: number;
  /** What the seller is paid: the price less the fee. */
  readonly sellerCredit: number;
  readonly buyer: string;
  readonly seller: string;
  /** Cards as the last four digits behind asterisks. */
  readonly buyerCard?: string;
  readonly sellerCard?: string;
  readonly outcome: "completed" | "cancelled";
  readonly reason?: string;
  readonly at: number;
}

/** A seller's offer against a search. */
export interface OfferRecord {
  readonly request: string;
  readonly seller: string;
  readonly price: number;
  readonly at: number;
}

/** A key in the server's store; the store maps it to its KV key. */
export type RecordKey =
  | readonly ["peer", string]
  | readonly ["request", string]
  | readonly ["offer", string, string]
  | readonly ["ledger", string];

/** A change to durable state. */
export type Mutation =
  | { readonly op: "set"; readonly key: readonly ["peer", string]; readonly value: PeerRecord }
  | {
    readonly op: "set";
    readonly key: readonly ["request", string];
    readonly value: RequestRecord;
  }
  | {
    readonly op: "set";
    readonly key: readonly ["offer", string, string];
    readonly value: OfferRecord;
  }
  | { readonly op: "set"; readonly key: readonly ["ledger", string]; readonly value: LedgerEntry }
  | { readonly op: "delete"; readonly key: RecordKey };

/** What the machine asks its shell to do. */
export type Effect =
  | {
    readonly kind: "send";
    readonly to: Address;
    readonly message: Message;
    /** Most bytes the reply may take (replies to unregistered sources). */
    readonly limit?: number;
  }
  | Mutation & { readonly kind: "write" }
  | {
    readonly kind: "log";
    readonly level: "debug" | "info" | "warning";
    readonly text: string;
  }
  /** Run the TCP leg of a purchase; answer with a `transacted` event. */
  | { readonly kind: "transact"; readonly request: string; readonly plan: TransactionPlan }
  /**
   * End a transaction's TCP leg; answer with a `delivered` event for each
   * party of `deliver` that was told of the sale.
   */
  | {
    readonly kind: "conclude";
    readonly request: string;
    readonly plan: TransactionPlan;
    readonly conclusion: Conclusion;
    /** Who still has to hear of a settled sale. */
    readonly deliver: readonly ("seller" | "buyer")[];
  };

/** What happens to the machine. */
export type ServerEvent =
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    /** Size of the datagram, to bound what is sent back. */
    readonly bytes: number;
    readonly at: number;
    /** The peer whose session key authenticated the datagram. */
    readonly authenticated?: string;
    /** A signed registration the shell verified, with its session keys. */
    readonly registration?: {
      readonly proof: { readonly key: string; readonly ca: string };
      readonly keys: SessionKeys;
    };
  }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly bytes: number;
    readonly at: number;
  }
  /** The clock reached `at`: whatever is due by then happens. */
  | { readonly kind: "tick"; readonly at: number }
  /** A transaction's TCP leg collected and charged, or failed. */
  | {
    readonly kind: "transacted";
    readonly request: string;
    readonly tx: string;
    readonly outcome: TransactionOutcome;
    readonly at: number;
  }
  /** A party was told of a settled sale (Shipping_Info, or our buyer's receipt). */
  | {
    readonly kind: "delivered";
    readonly request: string;
    readonly to: "seller" | "buyer";
    readonly at: number;
  };

/** The durable state a machine starts from. */
export interface Snapshot {
  readonly peers: Iterable<PeerRecord>;
  readonly requests?: Iterable<RequestRecord>;
  readonly offers?: Iterable<OfferRecord>;
}

/** Timing of the market, in milliseconds. */
export interface MarketTimers {
  /** How long offers are collected, counted from the first one. */
  readonly offerWindow: number;
  /** How long a search waits for a first offer before NOT_AVAILABLE. */
  readonly searchTimeout: number;
  /** How long a seller has to answer NEGOTIATE. */
  readonly negotiationTimeout: number;
  /** How long a buyer has to answer FOUND before the reservation lapses. */
  readonly reserveTimeout: number;
  /** How long an ended search is remembered (to answer retransmissions). */
  readonly retention: number;
}

/** The defaults: the original spec's windows. */
export const DEFAULT_TIMERS: MarketTimers = {
  offerWindow: 10_000,
  searchTimeout: 5 * 60_000,
  negotiationTimeout: 60_000,
  reserveTimeout: 5 * 60_000,
  retention: 60 * 60_000,
};

/** Caps that keep memory bounded under any load. */
export interface MarketLimits {
  /** Open searches one buyer may have at once. */
  readonly openRequestsPerPeer: number;
  /** Registered peers in all. */
  readonly peers: number;
  /** Replies kept to answer repeated datagrams. */
  readonly replyCache: number;
  /** How long a reply is kept: longer than any retransmission goes on. */
  readonly replyCacheTtl: number;
  /** Messages awaiting acknowledgement, in all. */
  readonly unacked: number;
}

/** The default caps. */
export const DEFAULT_LIMITS: MarketLimits = {
  openRequestsPerPeer: 32,
  peers: 1_000_000,
  replyCache: 20_000,
  replyCacheTtl: 60_000,
  unacked: 200_000,
};

/** Options for {@linkcode Market}. */
export interface MarketOptions {
  readonly timers?: Partial<MarketTimers>;
  readonly limits?: Partial<MarketLimits>;
  /** Retransmission timing toward our own peers. */
  readonly retransmit?: Partial<RetransmitOptions>;
  /** Makes the server's RQ#s; each call must return a new, unique token. */
  readonly newId?: () => string;
  /** Admit classic peers (no keys, no TLS); refused by default. */
  readonly allowPlaintext?: boolean;
}

/**
 * The extensions this server accepts from our own peers: `from` (FOUND
 * names the seller), `ack` (acknowledgements and retransmission both ways),
 * `no-offer` (NO_OFFER lets a search end as soon as every seller answered).
 */
export const SERVER_EXTENSIONS: readonly string[] = ["from", "ack", "no-offer", "auth"];

/** Requests whose repeats are answered from the search's state, not the cache. */
const STATE_ANSWERED: ReadonlySet<string> = new Set(["LOOKING_FOR", "BUY", "CANCEL"]);

/** How long after a restart ended searches have their outcome sent again. */
const RESEND_ENDED_WITHIN = 60_000;

/** Replies that deny a request, by the request type they answer. */
const DENIALS: Partial<Record<string, "REGISTER-DENIED" | "DE-REGISTER-DENIED">> = {
  "REGISTER": "REGISTER-DENIED",
  "DE-REGISTER": "DE-REGISTER-DENIED",
};

type MessageEvent = Extract<ServerEvent, { kind: "message" }>;

interface OpenRequest {
  record: RequestRecord;
  offers: Map<string, OfferRecord>;
  /** Asked sellers that answered, with an offer or NO_OFFER (or left). */
  answered: Set<string>;
}

interface CachedReply {
  readonly at: number;
  readonly replies: Effect[];
}

/** The deadline of a state that waits on something other than the clock. */
const NEVER = Number.MAX_SAFE_INTEGER;

/**
 * The marketplace's state machine.
 *
 * @example
 * ```ts
 * const market = new Market();
 * const effects = market.handle({
 *   kind: "message",
 *   from: { hostname: "127.0.0.1", port: 6000 },
 *   message: { type: "REGISTER", rq: "r1", name: "alice", ip: "127.0.0.1", udpPort: 6000, tcpPort: 6001 },
 *   bytes: 40,
 *   at: Date.now(),
 * });
 * ```
 */
export class Market {
  readonly #timers: MarketTimers;
  readonly #allowPlaintext: boolean;
  readonly #limits: MarketLimits;
  /** The time of the event being handled. */
  #now = 0;
  /** Registered peers by `host:port` of their UDP socket. */
  readonly #bySource = new Map<string, string>();
  /** `host:port TYPE rq` → what was answered: repeats get it again. */
  readonly #recent = new Map<string, CachedReply>();
  /** The cache's keys in the order they were stored, with when. */
  readonly #recentOrder: [key: string, at: number][] = [];
  #recentHead = 0;
  /** Messages to our peers awaiting ACK, keyed `name TYPE rq`. */
  readonly #unacked: Retransmitter<{ to: Address; message: Message }>;
  /** Open searches by buyer. */
  readonly #openByBuyer = new Map<string, number>();
  /** A restart's resends are still to do. */
  #restored = false;
  readonly #newId: () => string;
  readonly #peers = new Map<string, PeerRecord>();
  readonly #requests = new Map<string, OpenRequest>();
  /** `buyer\0buyerRq` → request id. */
  readonly #byBuyerRq = new Map<string, string>();
  /** `buyerRq` → request ids (classic buyers may reuse small RQ#s). */
  readonly #byRq = new Map<string, Set<string>>();
  /** `seller\0item in lower case` → the request holding it. */
  readonly #reservations = new Map<string, string>();
  readonly #deadlines = new DeadlineQueue();
  /** Work a restart left half done, taken up at the first tick. */
  #resume: string[] = [];
  /** Settled sales a party has yet to hear of (see {@linkcode Market.#undelivered}). */
  readonly #undeliveredSales = new Set<string>();

  constructor(snapshot: Snapshot = { peers: [] }, options: MarketOptions = {}) {
    this.#timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#allowPlaintext = options.allowPlaintext ?? false;
    this.#unacked = new Retransmitter(options.retransmit);
    let counter = 0;
    const boot = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
    this.#newId = options.newId ?? (() => `s${boot}-${++counter}`);
    for (const peer of snapshot.peers) this.#addPeer(peer);
    for (const record of snapshot.requests ?? []) {
      this.#index({ record, offers: new Map(), answered: new Set() });
      this.#restored = true;
    }
    for (const offer of snapshot.offers ?? []) {
      const open = this.#requests.get(offer.request);
      open?.offers.set(offer.seller, offer);
      open?.answered.add(offer.seller);
    }
    for (const open of this.#requests.values()) {
      const { state } = open.record;
      if (state === "buying" || this.#undelivered(open.record).length > 0) {
        this.#resume.push(open.record.id);
      }
    }
  }

  /** The registered peer with this name, if any. */
  peer(name: string): PeerRecord | undefined {
    return this.#peers.get(name);
  }

  /** Every registered peer. */
  peers(): IterableIterator<PeerRecord> {
    return this.#peers.values();
  }

  /** A search by the server's RQ#. */
  request(id: string): RequestRecord | undefined {
    return this.#requests.get(id)?.record;
  }

  /** Every remembered search, open or ended. */
  requests(): RequestRecord[] {
    return [...this.#requests.values()].map((open) => open.record);
  }

  /** The offers made against a search. */
  offers(id: string): OfferRecord[] {
    return [...this.#requests.get(id)?.offers.values() ?? []];
  }

  /** How many messages to our peers await acknowledgement. */
  get unacknowledged(): number {
    return this.#unacked.size;
  }

  /** How many replies are cached for repeated datagrams. */
  get cachedReplies(): number {
    return this.#recent.size;
  }

  /** When the machine next needs a `tick`, if ever. */
  nextDeadline(): number | undefined {
    const timer = this.#deadlines.peek()?.at;
    const resend = this.#unacked.nextDeadline();
    if (this.#restored || this.#resume.length > 0) return 0;
    if (timer === undefined) return resend;
    return resend === undefined ? timer : Math.min(timer, resend);
  }

  /**
   * Feeds one event to the machine.
   *
   * @returns The effects, in order: writes come before the sends they
   *   justify, so a shell that commits writes first never announces state
   *   it has not stored.
   */
  handle(event: ServerEvent): Effect[] {
    const effects: Effect[] = [];
    this.#now = event.at;
    switch (event.kind) {
      case "invalid":
        this.#answerInvalid(event, effects);
        break;
      case "tick":
        this.#tick(event.at, effects);
        break;
      case "message":
        this.#once(event, effects);
        break;
      case "transacted":
        this.#transacted(event, effects);
        break;
      case "delivered": {
        const open = this.#requests.get(event.request);
        if (open?.record.state === "bought") {
          const change = event.to === "seller" ? { shipped: true } : { receipted: true };
          this.#update(open, event.at, change, effects);
        }
        break;
      }
    }
    return effects;
  }

  /**
   * Handles a datagram once: a repeat (same sender, type and RQ#) within the
   * cache's lifetime gets the replies the first one got, and changes
   * nothing. Requests from our peers are acknowledged.
   */
  #once(event: MessageEvent, effects: Effect[]): void {
    const { message, from } = event;
    if (message.type === "ACK") return this.#acknowledged(event, message, effects);
    // LOOKING_FOR, BUY and CANCEL are not cached: their handlers answer a
    // repeat with the search's current outcome, fresher than a cached reply.
    const cacheable = !STATE_ANSWERED.has(message.type);
    const key = `${formatAddress(from)} ${message.type} ${message.rq}`;
    const cached = cacheable ? this.#recent.get(key) : undefined;
    if (cached && event.at - cached.at <= this.#limits.replyCacheTtl) {
      effects.push(...cached.replies);
      log(
        effects,
        "debug",
        `Repeated ${message.type} ${message.rq} from ${formatAddress(from)}: answered as before`,
      );
      return;
    }
    const start = effects.length;
    this.#message(event, effects);
    const sender = this.#bySource.get(formatAddress(from));
    if (ACKED_REQUESTS.has(message.type) && sender && this.#speaks(sender, "ack")) {
      effects.push(
        this.#reply(event, {
          type: "ACK",
          rq: message.rq,
          of: message.type as MessageOf<"ACK">["of"],
        }),
      );
    }
    const replies = effects.slice(start).filter((effect) =>
      effect.kind === "send" && effect.to.hostname === from.hostname && effect.to.port === from.port
    );
    if (cacheable) this.#remember(key, { at: event.at, replies });
  }

  #remember(key: string, entry: CachedReply): void {
    this.#recent.set(key, entry);
    this.#recentOrder.push([key, entry.at]);
    // Oldest first (a queue, not a walk of the map): drop what expired, the
    // oldest beyond the cap, and queue entries a newer one replaced.
    const order = this.#recentOrder;
    while (this.#recentHead < order.length) {
      const [oldest, at] = order[this.#recentHead]!;
      const current = this.#recent.get(oldest)?.at === at;
      const expired = entry.at - at > this.#limits.replyCacheTtl;
      if (current && !expired && this.#recent.size <= this.#limits.replyCache) break;
      if (current) this.#recent.delete(oldest);
      this.#recentHead++;
    }
    if (this.#recentHead > 4096 && this.#recentHead * 2 > order.length) {
      order.splice(0, this.#recentHead);
      this.#recentHead = 0;
    }
  }

  #acknowledged(event: MessageEvent, message: MessageOf<"ACK">, effects: Effect[]): void {
    const name = this.#bySource.get(formatAddress(event.from));
    if (!name || this.#unacked.ack(`${name} ${message.of} ${message.rq}`, event.at) === undefined) {
      log(
        effects,
        "debug",
        `Ignored ACK ${message.rq} ${message.of} from ${
          formatAddress(event.from)
        }: nothing awaited it`,
      );
    }
  }

  /**
   * A reply to the datagram's source. A source that is no registered peer
   * gets no more bytes than it sent: the server cannot amplify a flood
   * toward a forged address.
   */
  #reply(
    event: MessageEvent | Extract<ServerEvent, { kind: "invalid" }>,
    message: Message,
  ): Effect {
    const known = this.#bySource.has(formatAddress(event.from));
    return { kind: "send", to: event.from, message, ...(known ? {} : { limit: event.bytes }) };
  }

  #speaks(name: string, extension: string): boolean {
    return this.#peers.get(name)?.extensions?.includes(extension) ?? false;
  }

  #addPeer(peer: PeerRecord): void {
    this.#peers.set(peer.name, peer);
    this.#bySource.set(formatAddress(peer.source), peer.name);
    this.#bySource.set(
      formatAddress({ hostname: peer.source.hostname, port: peer.udpPort }),
      peer.name,
    );
  }

  #removePeer(peer: PeerRecord): void {
    this.#peers.delete(peer.name);
    for (const port of [peer.source.port, peer.udpPort]) {
      const key = formatAddress({ hostname: peer.source.hostname, port });
      if (this.#bySource.get(key) === peer.name) this.#bySource.delete(key);
    }
  }

  #message(event: MessageEvent, effects: Effect[]): void {
    const { message } = event;
    switch (message.type) {
      case "REGISTER":
        return this.#register(event, message, effects);
      case "DE-REGISTER":
        return this.#deregister(event, message, effects);
      case "LOOKING_FOR":
        return this.#lookingFor(event, message, effects);
      case "OFFER":
        return this.#offer(event, message, effects);
      case "NO_OFFER":
        return this.#noOffer(event, message, effects);
      case "ACCEPT":
      case "REFUSE":
        return this.#negotiationAnswer(event, message, effects);
      case "BUY":
      case "CANCEL":
        return this.#buyerAnswer(event, message, effects);
      default:
        log(
          effects,
          "warning",
          `Ignored ${message.type} ${message.rq}: not a request a server takes`,
        );
    }
  }

  // Registration

  #register(event: MessageEvent, message: MessageOf<"REGISTER">, effects: Effect[]): void {
    const existing = this.#peers.get(message.name);
    const { registration } = event;
    const extensions = message.extensions &&
      features(message.extensions).filter((name) =>
        SERVER_EXTENSIONS.includes(name) && (name !== "auth" || registration !== undefined)
      );
    const registered: Message = {
      type: "REGISTERED",
      rq: message.rq,
      ...(extensions ? { extensions } : {}),
    };
    const deny = (reason: string): void => {
      effects.push(this.#reply(event, { type: "REGISTER-DENIED", rq: message.rq, reason }));
    };
    if (!registration && !this.#allowPlaintext) {
      // Short first words: a reply to an unknown address is cut to the
      // request's length, and "auth required" survives the cut.
      return deny(
        "auth required: this server admits only authenticated peers (start it with --allow-plaintext for classic ones)",
      );
    }
    if (existing) {
      if (registration && existing.auth?.key !== registration.proof.key) {
        return deny(`name ${message.name} is bound to another key`);
      }
      if (!registration) {
        if (existing.auth || !sameRegistration(existing, message, event.from)) {
          return deny(`name ${message.name} in use`);
        }
        // A repeated REGISTER (a lost reply, a retransmission) is not a
        // second peer: confirm it again and change nothing.
        effects.push(this.#reply(event, registered));
        return;
      }
    } else if (this.#peers.size >= this.#limits.peers) {
      return deny(`the server is full (${this.#limits.peers} peers)`);
    }
    const peer: PeerRecord = {
      name: message.name,
      ip: message.ip,
      udpPort: message.udpPort,
      tcpPort: message.tcpPort,
      source: event.from,
      // The holder of the key coming back (restarted, or from a new
      // address) keeps its place in the searches it was asked in.
      registeredAt: existing?.registeredAt ?? event.at,
      ...(extensions ? { extensions } : {}),
      ...(registration
        ? {
          auth: { key: registration.proof.key, ca: registration.proof.ca, keys: registration.keys },
        }
        : {}),
    };
    if (existing) this.#removePeer(existing);
    this.#addPeer(peer);
    if (existing) this.#redeliverTo(peer.name, effects);
    const where = `${peer.source.hostname} (UDP ${peer.udpPort}, TCP ${peer.tcpPort})`;
    effects.push(
      { kind: "write", op: "set", key: ["peer", peer.name], value: peer },
      {
        kind: "log",
        level: "info",
        text: existing
          ? `${peer.name} proved its key and is now at ${where}`
          : `Registered ${peer.name} at ${where}${
            extensions ? `, extensions: shop/1 ${extensions.join(" ")}` : ", classic"
          }`,
      },
      this.#reply(event, registered),
    );
  }

  #deregister(event: MessageEvent, message: MessageOf<"DE-REGISTER">, effects: Effect[]): void {
    const peer = this.#peers.get(message.name);
    if (!peer) {
      effects.push(this.#reply(event, {
        type: "DE-REGISTER-DENIED",
        rq: message.rq,
        reason: `name ${message.name} not registered`,
      }));
      return;
    }
    if (!isFrom(peer, event.from, event.authenticated)) {
      effects.push(this.#reply(event, {
        type: "DE-REGISTER-DENIED",
        rq: message.rq,
        reason: `name ${message.name} registered from another address`,
      }));
      return;
    }
    this.#endFlowsOf(peer, event.at, effects);
    this.#removePeer(peer);
    effects.push(
      { kind: "write", op: "delete", key: ["peer", peer.name] },
      { kind: "log", level: "info", text: `De-registered ${peer.name}` },
      this.#reply(event, { type: "DE-REGISTERED", rq: message.rq }),
    );
  }

  /** Ends every open flow in which a leaving peer takes part, telling the others. */
  #endFlowsOf(peer: PeerRecord, at: number, effects: Effect[]): void {
    const name = peer.name;
    for (const open of this.#requests.values()) {
      const request = open.record;
      if (!OPEN_STATES.has(request.state)) continue;
      if (request.buyer === name) {
        if (request.state === "found" || request.state === "buying") {
          this.#cancelToSeller(request, effects);
        }
        this.#end(open, "cancelled", at, "the buyer left the marketplace", effects);
      } else if (request.seller === name && request.state !== "searching") {
        this.#sendTo(
          request.buyer,
          request.state === "negotiating"
            ? {
              type: "NOT_FOUND",
              rq: request.buyerRq,
              item: request.item,
              maxPrice: request.maxPrice,
            }
            : { type: "CANCEL", rq: request.buyerRq, item: request.item, price: request.price! },
          effects,
        );
        this.#end(
          open,
          request.state === "negotiating" ? "not_found" : "cancelled",
          at,
          "the seller left the marketplace",
          effects,
        );
      } else if (request.state === "searching" && wasAsked(peer, request)) {
        if (open.offers.delete(name)) {
          effects.push({ kind: "write", op: "delete", key: ["offer", request.id, name] });
        }
        // A seller who left will not answer: stop waiting for it.
        open.answered.add(name);
        this.#decideIfAllAnswered(open, at, effects);
      }
    }
  }

  // Searching

  #lookingFor(event: MessageEvent, message: MessageOf<"LOOKING_FOR">, effects: Effect[]): void {
    const buyer = this.#peers.get(message.name);
    const notAvailable: Message = {
      type: "NOT_AVAILABLE",
      rq: message.rq,
      item: message.item,
      maxPrice: message.maxPrice,
    };
    if (!buyer || !isFrom(buyer, event.from, event.authenticated)) {
      log(
        effects,
        "warning",
        `Refused LOOKING_FOR ${message.rq} from ${event.from.hostname}: ${message.name} is not registered there`,
      );
      effects.push(this.#reply(event, notAvailable));
      return;
    }
    const existing = this.#requests.get(
      this.#byBuyerRq.get(`${buyer.name}\0${message.rq}`) ?? "",
    );
    if (existing) {
      // A retransmitted LOOKING_FOR: the search exists; repeat its outcome if it has one.
      const answer = this.#buyerView(existing.record);
      if (answer) this.#sendTo(buyer.name, answer, effects);
      return;
    }
    if ((this.#openByBuyer.get(buyer.name) ?? 0) >= this.#limits.openRequestsPerPeer) {
      const reason = `too many open searches (${this.#limits.openRequestsPerPeer})`;
      log(effects, "warning", `Refused LOOKING_FOR ${message.rq} from ${buyer.name}: ${reason}`);
      this.#sendTo(
        buyer.name,
        this.#speaks(buyer.name, "ack") ? { type: "DENIED", rq: message.rq, reason } : notAvailable,
        effects,
      );
      return;
    }
    const id = this.#newId();
    const contacted: string[] = [];
    for (const peer of this.#peers.values()) {
      if (peer.name !== buyer.name) contacted.push(peer.name);
    }
    const record: RequestRecord = {
      id,
      buyer: buyer.name,
      buyerRq: message.rq,
      item: message.item,
      description: message.description,
      maxPrice: message.maxPrice,
      createdAt: event.at,
      updatedAt: event.at,
      state: "searching",
      deadline: event.at + this.#timers.searchTimeout,
      contacted: contacted.length,
    };
    const open: OpenRequest = { record, offers: new Map(), answered: new Set() };
    this.#index(open);
    effects.push({ kind: "write", op: "set", key: ["request", id], value: record });
    log(
      effects,
      "info",
      `Search ${id}: ${buyer.name} looks for ${message.item} at most ${message.maxPrice} (${message.rq}); asking ${contacted.length} peer(s)`,
    );
    if (contacted.length === 0) {
      this.#sendTo(buyer.name, notAvailable, effects);
      this.#end(open, "not_available", event.at, "no other peer is registered", effects);
      return;
    }
    const search: Message = {
      type: "SEARCH",
      rq: id,
      item: message.item,
      description: message.description,
    };
    for (const seller of contacted) this.#sendTo(seller, search, effects);
  }

  #offer(event: MessageEvent, message: MessageOf<"OFFER">, effects: Effect[]): void {
    const open = this.#requests.get(message.rq);
    const seller = this.#peers.get(message.name);
    const problem = !open
      ? "no such search"
      : !seller || !isFrom(seller, event.from, event.authenticated)
      ? `${message.name} is not registered from ${formatAddress(event.from)}`
      : !wasAsked(seller, open.record)
      ? `${message.name} was not asked`
      : !sameItem(open.record.item, message.item)
      ? `the search is for ${open.record.item}`
      : open.record.state !== "searching"
      ? "the offer window has closed"
      : open.offers.has(seller.name)
      ? "already offered"
      : undefined;
    if (problem) {
      log(effects, "debug", `Ignored OFFER ${message.rq} from ${message.name}: ${problem}`);
      return;
    }
    const record = open!.record;
    const offer: OfferRecord = {
      request: record.id,
      seller: seller!.name,
      price: message.price,
      at: event.at,
    };
    open!.offers.set(offer.seller, offer);
    effects.push({
      kind: "write",
      op: "set",
      key: ["offer", record.id, offer.seller],
      value: offer,
    });
    log(
      effects,
      "info",
      `Search ${record.id}: ${offer.seller} offers ${message.item} at ${offer.price}`,
    );
    if (record.firstOfferAt === undefined) {
      this.#update(open!, event.at, {
        firstOfferAt: event.at,
        deadline: event.at + this.#timers.offerWindow,
      }, effects);
    }
    open!.answered.add(offer.seller);
    this.#decideIfAllAnswered(open!, event.at, effects);
  }

  #noOffer(event: MessageEvent, message: MessageOf<"NO_OFFER">, effects: Effect[]): void {
    const open = this.#requests.get(message.rq);
    const seller = this.#peers.get(message.name);
    if (
      !open || !seller || !isFrom(seller, event.from, event.authenticated) ||
      !wasAsked(seller, open.record) ||
      open.record.state !== "searching"
    ) {
      log(effects, "debug", `Ignored NO_OFFER ${message.rq} from ${message.name}`);
      return;
    }
    open.answered.add(seller.name);
    this.#decideIfAllAnswered(open, event.at, effects);
  }

  /**
   * Decides at once when every asked seller has answered: with only our own
   * peers (who say NO_OFFER), a search need not wait out its window.
   */
  #decideIfAllAnswered(open: OpenRequest, at: number, effects: Effect[]): void {
    if (open.record.state !== "searching" || open.answered.size < open.record.contacted) return;
    log(
      effects,
      "info",
      `Search ${open.record.id}: all ${open.record.contacted} asked peer(s) answered`,
    );
    this.#decide(open, at, effects);
  }

  /** The offer window closed: pick the best offer, or negotiate, or give up. */
  #decide(open: OpenRequest, at: number, effects: Effect[]): void {
    const request = open.record;
    const usable = [...open.offers.values()]
      .filter((offer) =>
        this.#peers.has(offer.seller) && !this.#isReservedElsewhere(offer.seller, request)
      )
      .sort((a, b) => a.price - b.price || a.at - b.at);
    const best = usable[0];
    if (!best) {
      this.#sendTo(request.buyer, {
        type: "NOT_AVAILABLE",
        rq: request.buyerRq,
        item: request.item,
        maxPrice: request.maxPrice,
      }, effects);
      const reason = open.offers.size === 0
        ? "no offer arrived"
        : "every offering seller's item is reserved or gone";
      this.#end(open, "not_available", at, reason, effects);
      return;
    }
    if (best.price <= request.maxPrice) {
      this.#reserve(open, best.seller, best.price, at, effects);
      return;
    }
    this.#update(open, at, {
      state: "negotiating",
      seller: best.seller,
      price: request.maxPrice,
      deadline: at + this.#timers.negotiationTimeout,
    }, effects);
    log(
      effects,
      "info",
      `Search ${request.id}: every offer is above ${request.maxPrice}; negotiating with ${best.seller} (asked ${best.price})`,
    );
    this.#sendTo(best.seller, {
      type: "NEGOTIATE",
      rq: request.id,
      item: request.item,
      maxPrice: request.maxPrice,
    }, effects);
  }

  #reserve(open: OpenRequest, seller: string, price: number, at: number, effects: Effect[]): void {
    const request = open.record;
    this.#update(open, at, {
      state: "found",
      seller,
      price,
      deadline: at + this.#timers.reserveTimeout,
    }, effects);
    log(
      effects,
      "info",
      `Search ${request.id}: ${request.buyer} may buy ${request.item} from ${seller} at ${price}`,
    );
    this.#sendTo(request.buyer, this.#buyerView(open.record)!, effects);
    this.#sendTo(seller, { type: "RESERVE", rq: request.id, item: request.item, price }, effects);
  }

  #negotiationAnswer(
    event: MessageEvent,
    message: MessageOf<"ACCEPT" | "REFUSE">,
    effects: Effect[],
  ): void {
    const open = this.#requests.get(message.rq);
    const request = open?.record;
    const seller = request?.seller ? this.#peers.get(request.seller) : undefined;
    if (!open || !request || !seller || !isFrom(seller, event.from, event.authenticated)) {
      log(
        effects,
        "debug",
        `Ignored ${message.type} ${message.rq} from ${event.from.hostname}: no negotiation with it`,
      );
      return;
    }
    if (request.state !== "negotiating") {
      // Too late (the negotiation timed out, or the buyer left). A seller
      // who accepted has put the item aside: release it.
      if (message.type === "ACCEPT" && !(request.state === "found" || request.state === "buying")) {
        this.#sendTo(seller.name, {
          type: "CANCEL",
          rq: request.id,
          item: request.item,
          price: message.maxPrice,
        }, effects);
      }
      return;
    }
    if (message.type === "REFUSE") {
      this.#sendTo(request.buyer, {
        type: "NOT_FOUND",
        rq: request.buyerRq,
        item: request.item,
        maxPrice: request.maxPrice,
      }, effects);
      this.#end(open, "not_found", event.at, `${seller.name} refused ${request.maxPrice}`, effects);
      return;
    }
    if (this.#isReservedElsewhere(seller.name, request)) {
      this.#sendTo(seller.name, {
        type: "CANCEL",
        rq: request.id,
        item: request.item,
        price: request.maxPrice,
      }, effects);
      this.#sendTo(request.buyer, {
        type: "NOT_FOUND",
        rq: request.buyerRq,
        item: request.item,
        maxPrice: request.maxPrice,
      }, effects);
      this.#end(
        open,
        "not_found",
        event.at,
        `${seller.name}'s item was reserved meanwhile`,
        effects,
      );
      return;
    }
    this.#reserve(open, seller.name, request.maxPrice, event.at, effects);
  }

  // The buyer's decision

  #buyerAnswer(event: MessageEvent, message: MessageOf<"BUY" | "CANCEL">, effects: Effect[]): void {
    const open = this.#findByBuyerRq(message.rq, message.item, event.from, event.authenticated);
    if (!open) {
      log(
        effects,
        "debug",
        `Ignored ${message.type} ${message.rq} from ${event.from.hostname}: no such purchase for that peer`,
      );
      return;
    }
    const request = open.record;
    if (request.state === "found") {
      if (message.type === "BUY") {
        const tx = this.#newId();
        this.#update(open, event.at, { state: "buying", deadline: NEVER, tx }, effects);
        log(
          effects,
          "info",
          `Search ${request.id}: ${request.buyer} buys ${request.item} from ${request.seller} at ${request.price}; transaction ${tx}`,
        );
        this.#transact(open, effects);
      } else {
        this.#cancelToSeller(request, effects);
        this.#end(open, "cancelled", event.at, `${request.buyer} cancelled`, effects);
      }
      return;
    }
    if (!OPEN_STATES.has(request.state)) {
      // Answered after the reservation lapsed: say again that it is over.
      const answer = this.#buyerView(request);
      if (answer) this.#sendTo(request.buyer, answer, effects);
    }
  }

  #findByBuyerRq(
    rq: string,
    item: string,
    from: Address,
    authenticated: string | undefined,
  ): OpenRequest | undefined {
    for (const id of this.#byRq.get(rq) ?? []) {
      const open = this.#requests.get(id);
      const buyer = open && this.#peers.get(open.record.buyer);
      if (open && buyer && isFrom(buyer, from, authenticated) && sameItem(open.record.item, item)) {
        return open;
      }
    }
    return undefined;
  }

  // The transaction

  #plan(request: RequestRecord): TransactionPlan | undefined {
    const buyer = this.#peers.get(request.buyer);
    const seller = this.#peers.get(request.seller!);
    if (!buyer || !seller || !request.tx) return undefined;
    const party = (peer: PeerRecord) => ({
      name: peer.name,
      address: { hostname: peer.source.hostname, port: peer.tcpPort },
      ours: peer.extensions !== undefined,
      ...(peer.extensions?.includes("ack") ? { acks: true } : {}),
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

  #transact(open: OpenRequest, effects: Effect[]): void {
    const plan = this.#plan(open.record);
    if (plan) effects.push({ kind: "transact", request: open.record.id, plan });
  }

  #transacted(event: Extract<ServerEvent, { kind: "transacted" }>, effects: Effect[]): void {
    const open = this.#requests.get(event.request);
    const request = open?.record;
    if (!open || !request || request.state !== "buying" || request.tx !== event.tx) {
      log(
        effects,
        "warning",
        `Ignored the outcome of transaction ${event.tx}: its purchase is not waiting for it`,
      );
      return;
    }
    const plan = this.#plan(request);
    const { outcome } = event;
    const { fee, sellerCredit } = split(request.price!);
    const entry: LedgerEntry = {
      tx: event.tx,
      request: request.id,
      buyerRq: request.buyerRq,
      item: request.item,
      price: request.price!,
      fee: outcome.ok ? fee : 0,
      sellerCredit: outcome.ok ? sellerCredit : 0,
      buyer: request.buyer,
      seller: request.seller!,
      ...(outcome.ok ? { buyerCard: outcome.buyer.card, sellerCard: outcome.seller.card } : {}),
      outcome: outcome.ok ? "completed" : "cancelled",
      ...(outcome.ok ? {} : { reason: outcome.reason }),
      at: event.at,
    };
    effects.push({ kind: "write", op: "set", key: ["ledger", event.tx], value: entry });
    if (outcome.ok) {
      const shipTo = { name: outcome.buyer.name, address: outcome.buyer.address };
      this.#update(open, event.at, {
        state: "bought",
        shipTo,
        shipped: false,
        receipted: false,
        deadline: event.at + this.#timers.retention,
      }, effects);
      log(
        effects,
        "info",
        `Transaction ${event.tx}: ${request.buyer} paid ${request.price} for ${request.item}; ${request.seller} is credited ${sellerCredit}, fee ${fee}`,
      );
      if (plan) {
        effects.push({
          kind: "conclude",
          request: request.id,
          plan,
          conclusion: { ok: true, buyerName: shipTo.name, address: shipTo.address },
          deliver: this.#undelivered(open.record),
        });
      }
      return;
    }
    log(effects, "warning", `Transaction ${event.tx} failed: ${outcome.reason}`);
    if (plan) {
      effects.push({
        kind: "conclude",
        request: request.id,
        plan,
        conclusion: { ok: false, reason: outcome.reason },
        deliver: [],
      });
    }
    // Over UDP too, in case a TCP connection never came up.
    this.#cancelBothSides(request, effects);
    this.#end(open, "cancelled", event.at, `transaction failed: ${outcome.reason}`, effects);
  }

  /**
   * A party came back (restarted, perhaps at a new address): the sales it
   * has yet to hear of go to it again, at the address it has now.
   */
  #redeliverTo(name: string, effects: Effect[]): void {
    for (const id of this.#undeliveredSales) {
      const open = this.#requests.get(id);
      if (!open || (open.record.seller !== name && open.record.buyer !== name)) continue;
      const plan = this.#plan(open.record);
      const shipTo = open.record.shipTo;
      if (!plan || !shipTo) continue;
      const deliver = this.#undelivered(open.record).filter((role) => plan[role].name === name);
      if (deliver.length === 0) continue;
      effects.push({
        kind: "conclude",
        request: id,
        plan,
        conclusion: { ok: true, buyerName: shipTo.name, address: shipTo.address },
        deliver,
      });
    }
  }

  /** Who has yet to hear of a settled sale: the seller, and our own buyer (its receipt). */
  #undelivered(request: RequestRecord): ("seller" | "buyer")[] {
    if (request.state !== "bought") return [];
    const ours = this.#peers.get(request.buyer)?.extensions !== undefined;
    return [
      ...(request.shipped ? [] : ["seller" as const]),
      ...(ours && !request.receipted ? ["buyer" as const] : []),
    ];
  }

  /** Tells both sides a purchase is off: the seller releases the item, the buyer stops waiting. */
  #cancelBothSides(request: RequestRecord, effects: Effect[]): void {
    this.#cancelToSeller(request, effects);
    this.#sendTo(request.buyer, {
      type: "CANCEL",
      rq: request.buyerRq,
      item: request.item,
      price: request.price!,
    }, effects);
  }

  /** Tells the seller its reservation is off (the server's RQ#): it releases the item. */
  #cancelToSeller(request: RequestRecord, effects: Effect[]): void {
    this.#sendTo(request.seller!, {
      type: "CANCEL",
      rq: request.id,
      item: request.item,
      price: request.price!,
    }, effects);
  }

  // Time

  #tick(now: number, effects: Effect[]): void {
    if (this.#restored) {
      this.#restored = false;
      this.#resendAfterRestart(now, effects);
    }
    this.#retransmit(now, effects);
    for (const id of this.#resume.splice(0)) {
      const open = this.#requests.get(id);
      const plan = open && this.#plan(open.record);
      if (!open || !plan) continue;
      if (open.record.state === "buying") {
        log(
          effects,
          "info",
          `Transaction ${plan.id} was interrupted by a restart; running it again`,
        );
        effects.push({ kind: "transact", request: id, plan });
      } else if (open.record.shipTo) {
        const { name, address } = open.record.shipTo;
        effects.push({
          kind: "conclude",
          request: id,
          plan,
          conclusion: { ok: true, buyerName: name, address },
          deliver: this.#undelivered(open.record),
        });
      }
    }
    for (let due = this.#deadlines.popDue(now); due; due = this.#deadlines.popDue(now)) {
      const open = this.#requests.get(due.key);
      if (!open || open.record.deadline !== due.at) continue; // stale entry
      this.#expire(open, due.at, effects);
    }
  }

  #expire(open: OpenRequest, at: number, effects: Effect[]): void {
    const request = open.record;
    switch (request.state) {
      case "searching":
        return this.#decide(open, at, effects);
      case "negotiating":
        this.#sendTo(request.buyer, {
          type: "NOT_FOUND",
          rq: request.buyerRq,
          item: request.item,
          maxPrice: request.maxPrice,
        }, effects);
        return this.#end(
          open,
          "not_found",
          at,
          `${request.seller} did not answer NEGOTIATE`,
          effects,
        );
      case "found":
        this.#cancelBothSides(request, effects);
        return this.#end(open, "cancelled", at, "the buyer did not answer FOUND in time", effects);
      case "buying":
        return;

      default:
        // An ended search reached the end of its retention.
        this.#forget(open, effects);
    }
  }

  // Bookkeeping

  #countOpen(buyer: string, change: number): void {
    const count = (this.#openByBuyer.get(buyer) ?? 0) + change;
    if (count > 0) this.#openByBuyer.set(buyer, count);
    else this.#openByBuyer.delete(buyer);
  }

  #index(open: OpenRequest): void {
    const record = open.record;
    if (OPEN_STATES.has(record.state)) this.#countOpen(record.buyer, 1);
    this.#requests.set(record.id, open);
    this.#byBuyerRq.set(`${record.buyer}\0${record.buyerRq}`, record.id);
    let ids = this.#byRq.get(record.buyerRq);
    if (!ids) this.#byRq.set(record.buyerRq, ids = new Set());
    ids.add(record.id);
    if ((record.state === "found" || record.state === "buying") && record.seller) {
      this.#reservations.set(reservationKey(record.seller, record.item), record.id);
    }
    if (record.deadline !== NEVER) this.#deadlines.push({ at: record.deadline, key: record.id });
    this.#trackDelivery(record);
  }

  #trackDelivery(record: RequestRecord): void {
    if (this.#undelivered(record).length > 0) this.#undeliveredSales.add(record.id);
    else this.#undeliveredSales.delete(record.id);
  }

  #update(
    open: OpenRequest,
    at: number,
    change: Partial<RequestRecord>,
    effects: Effect[],
  ): void {
    const before = open.record;
    const record: RequestRecord = { ...before, ...change, updatedAt: at };
    open.record = record;
    if (OPEN_STATES.has(before.state) && !OPEN_STATES.has(record.state)) {
      this.#countOpen(record.buyer, -1);
    }
    const reservation = record.seller && reservationKey(record.seller, record.item);
    const holds = record.state === "found" || record.state === "buying";
    if (reservation && holds) this.#reservations.set(reservation, record.id);
    if (
      before.seller && !holds &&
      this.#reservations.get(reservationKey(before.seller, before.item)) === record.id
    ) {
      this.#reservations.delete(reservationKey(before.seller, before.item));
    }
    if (record.deadline !== before.deadline && record.deadline !== NEVER) {
      this.#deadlines.push({ at: record.deadline, key: record.id });
    }
    if (record.state === "bought" || before.state === "bought") this.#trackDelivery(record);
    effects.push({ kind: "write", op: "set", key: ["request", record.id], value: record });
  }

  #end(
    open: OpenRequest,
    state: RequestState,
    at: number,
    reason: string,
    effects: Effect[],
  ): void {
    this.#update(open, at, { state, reason, deadline: at + this.#timers.retention }, effects);
    log(effects, "info", `Search ${open.record.id} ended ${state}: ${reason}`);
  }

  #forget(open: OpenRequest, effects: Effect[]): void {
    const record = open.record;
    this.#requests.delete(record.id);
    this.#undeliveredSales.delete(record.id);
    this.#byBuyerRq.delete(`${record.buyer}\0${record.buyerRq}`);
    const ids = this.#byRq.get(record.buyerRq);
    ids?.delete(record.id);
    if (ids?.size === 0) this.#byRq.delete(record.buyerRq);
    effects.push({ kind: "write", op: "delete", key: ["request", record.id] });
    for (const seller of open.offers.keys()) {
      effects.push({ kind: "write", op: "delete", key: ["offer", record.id, seller] });
    }
  }

  #isReservedElsewhere(seller: string, request: RequestRecord): boolean {
    const holder = this.#reservations.get(reservationKey(seller, request.item));
    return holder !== undefined && holder !== request.id;
  }

  /** What the buyer has been told of a search, to repeat after a retransmission. */
  #buyerView(request: RequestRecord): Message | undefined {
    const base = { rq: request.buyerRq, item: request.item };
    switch (request.state) {
      case "found":
      case "buying":
      case "bought": {
        const buyer = this.#peers.get(request.buyer);
        const from = buyer?.extensions?.includes("from") ? { seller: request.seller! } : {};
        return { type: "FOUND", ...base, price: request.price!, ...from };
      }
      case "not_available":
        return { type: "NOT_AVAILABLE", ...base, maxPrice: request.maxPrice };
      case "not_found":
        return { type: "NOT_FOUND", ...base, maxPrice: request.maxPrice };
      case "cancelled":
        return request.price === undefined
          ? { type: "NOT_AVAILABLE", ...base, maxPrice: request.maxPrice }
          : { type: "CANCEL", ...base, price: request.price };
      default:
        return undefined;
    }
  }

  #sendTo(name: string, message: Message, effects: Effect[]): void {
    const peer = this.#peers.get(name);
    if (!peer) {
      log(
        effects,
        "debug",
        `Dropped ${message.type} ${message.rq} for ${name}: no longer registered`,
      );
      return;
    }
    // Classic peers listen on the UDP port they announced; our peers send
    // from the socket they listen on, so their source address is the one to
    // use, and it also holds behind address translation.
    const to = peer.extensions
      ? peer.source
      : { hostname: peer.source.hostname, port: peer.udpPort };
    effects.push({ kind: "send", to, message });
    if (
      RELIABLE_SENDS.has(message.type) && peer.extensions?.includes("ack") &&
      this.#unacked.size < this.#limits.unacked
    ) {
      this.#unacked.track(
        `${name} ${message.type} ${message.rq}`,
        { to, message },
        name,
        this.#now,
      );
    }
  }

  /** Sends again what our peers have not acknowledged, and gives up on the hopeless. */
  #retransmit(now: number, effects: Effect[]): void {
    const { resend, expired } = this.#unacked.due(now);
    for (const { payload } of resend) {
      effects.push({ kind: "send", to: payload.to, message: payload.message });
    }
    for (const { key, attempt } of expired) {
      log(effects, "warning", `Gave up on ${key} after ${attempt} sends without ACK`);
    }
  }

  /**
   * After a restart, what our peers may have missed is sent again: the
   * messages awaiting acknowledgement were in memory only.
   */
  #resendAfterRestart(now: number, effects: Effect[]): void {
    for (const open of this.#requests.values()) {
      const request = open.record;
      const ack = (name: string) => this.#speaks(name, "ack");
      switch (request.state) {
        // A search's SEARCHes are not sent again: resending to every asked
        // peer of every open search would cost searches × peers; the offers
        // are stored, so the window or the search timeout still decides it.
        case "negotiating":
          if (ack(request.seller!)) {
            this.#sendTo(request.seller!, {
              type: "NEGOTIATE",
              rq: request.id,
              item: request.item,
              maxPrice: request.maxPrice,
            }, effects);
          }
          break;
        case "found":
          if (ack(request.seller!)) {
            this.#sendTo(request.seller!, {
              type: "RESERVE",
              rq: request.id,
              item: request.item,
              price: request.price!,
            }, effects);
          }
          if (ack(request.buyer)) this.#sendTo(request.buyer, this.#buyerView(request)!, effects);
          break;
        case "not_available":
        case "not_found":
        case "cancelled":
          if (now - request.updatedAt <= RESEND_ENDED_WITHIN && ack(request.buyer)) {
            this.#sendTo(request.buyer, this.#buyerView(request)!, effects);
          }
          break;
      }
    }
  }

  #answerInvalid(event: Extract<ServerEvent, { kind: "invalid" }>, effects: Effect[]): void {
    const { error } = event;
    // Debug, not warning: a flood of junk must not flood the console too.
    log(
      effects,
      "debug",
      `Rejected datagram from ${event.from.hostname}:${event.from.port}: ${error.message}`,
    );
    const denial = error.keyword ? DENIALS[error.keyword] : undefined;
    if (error.rq === undefined || denial === undefined) return;
    effects.push(this.#reply(event, { type: denial, rq: error.rq, reason: error.message }));
  }
}

function log(effects: Effect[], level: "debug" | "info" | "warning", text: string): void {
  effects.push({ kind: "log", level, text });
}

/**
 * Whether a datagram comes from a registered peer: for our authenticated
 * peers, its session key vouched for it; for classic ones, its IP and
 * either the port it registered from or its announced UDP port.
 */
function isFrom(peer: PeerRecord, from: Address, authenticated: string | undefined): boolean {
  if (peer.auth) return authenticated === peer.name;
  return peer.source.hostname === from.hostname &&
    (peer.source.port === from.port || peer.udpPort === from.port);
}

/** Whether a peer was sent a search's SEARCH: it was registered then, and is not the buyer. */
function wasAsked(peer: PeerRecord, request: RequestRecord): boolean {
  return peer.name !== request.buyer && peer.registeredAt <= request.createdAt;
}

function sameItem(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function reservationKey(seller: string, item: string): string {
  return `${seller}\0${item.toLowerCase()}`;
}

function sameRegistration(
  peer: PeerRecord,
  message: MessageOf<"REGISTER">,
  from: Address,
): boolean {
  return peer.ip === message.ip && peer.udpPort === message.udpPort &&
    peer.tcpPort === message.tcpPort &&
    peer.source.hostname === from.hostname && peer.source.port === from.port;
}
