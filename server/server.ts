/**
 * The server's shell: the UDP socket, the KV store and the clock around the
 * {@linkcode Market} state machine.
 *
 * Datagrams are decoded and queued as they arrive. A single worker drains
 * the queue: it feeds every waiting event to the machine, writes all of
 * their mutations in one KV commit, and only then sends the replies (group
 * commit). Under load many datagrams share one commit; when idle each one
 * is committed on its own at once.
 *
 * @module
 */
import { type Address, describe, encode, formatAddress, type Message } from "../protocol/mod.ts";
import { isWrite } from "../protocol/effects.ts";
import { logger } from "../log/setup.ts";
import { type Clock, systemClock } from "../shell/clock.ts";
import { Wakeup } from "../shell/wakeup.ts";
import { fingerprint } from "../security/identity.ts";
import { datagrams } from "../transport/udp.ts";
import {
  type Effect,
  Market,
  type MarketLimits,
  type MarketOptions,
  type MarketTimers,
  type Mutation,
  type RegisteredPeer,
  type ServerEvent,
} from "./market.ts";
import { ConnectionSlots } from "./connection_slots.ts";
import { Guard } from "./guard.ts";
import { approveAll, type PaymentProcessor } from "./payment.ts";
import { ServerStore } from "./store.ts";
import type { LedgerEntry } from "./records.ts";
import { Traffic } from "./traffic.ts";
import {
  type Conclusion,
  deliverShipping,
  Transaction,
  type TransactionPlan,
} from "./transaction.ts";

/** Options for {@linkcode ShopServer.start}. */
export interface ServerOptions {
  /** Address to bind, like `0.0.0.0` or `127.0.0.1`. */
  readonly hostname: string;
  /** UDP port; 0 picks a free one (read it back from `address`). */
  readonly port: number;
  /** Directory that holds `server.kv` and `server.log`. */
  readonly dataDir: string;
  /**
   * Where the state lives instead of `dataDir/server.kv`: another file, or
   * a remote Deno KV (KV Connect URL; the token comes from
   * DENO_KV_ACCESS_TOKEN).
   */
  readonly kv?: string;
  /** Windows and timeouts of the market; the spec's defaults otherwise. */
  readonly timers?: Partial<MarketTimers>;
  /** Charges buyers; the built-in one approves every valid card. */
  readonly processor?: PaymentProcessor;
  /** How long a peer has to answer on TCP during a purchase (default 30 s). */
  readonly transactionTimeout?: number;
  /** Admit classic peers (no keys, no TLS); refused by default. */
  readonly allowPlaintext?: boolean;
  /**
   * Datagrams per second one host may send without a session, and one
   * session may send (default 1000).
   */
  readonly ratePerSecond?: number;
  /** Signed registrations one host may have checked per second (default 50). */
  readonly signaturesPerSecond?: number;
  /** Caps of the market, such as names per host and per key. */
  readonly limits?: Partial<MarketLimits>;
  /** When our peers count as offline and when they are de-registered (offer book). */
  readonly liveness?: MarketOptions["liveness"];
  /** The clock events are stamped with and timers set on (the system's by default). */
  readonly clock?: Clock;
}

/** Most mutations put in one KV commit (Deno KV allows 1000). */
const MAX_MUTATIONS_PER_COMMIT = 500;
/**
 * Tries at delivering a settled sale's Shipping_Info on new connections,
 * the pauses between them doubling from 1 s up to 30 s (about 7 minutes in
 * all). The party registering again, or a restart, starts them afresh.
 */
const DELIVERY_ATTEMPTS = 20;
const DELIVERY_MAX_PAUSE_MS = 30_000;

const utf8 = new TextEncoder();
const log = logger("server");
const wire = logger("server", "wire");

/** A running shop server. */
export class ShopServer implements AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #store: ServerStore;
  readonly #market: Market;
  readonly #guard: Guard;
  readonly #options: ServerOptions;
  /** Transactions whose TCP leg is open, by their RQ#. */
  readonly #transactions = new Map<string, Transaction>();
  readonly #background = new Set<Promise<void>>();
  /** The delivery under way for each `request\0role`; a newer one replaces it. */
  readonly #deliveries = new Map<string, AbortController>();
  /** Bounds the TCP connections open to each peer (transactions and deliveries). */
  readonly #slots = new ConnectionSlots();
  /** Aborts the background work's waits at close. */
  readonly #stopping = new AbortController();
  readonly #encodings = new WeakMap<Message, string>();
  readonly #queue: ServerEvent[] = [];
  #wake: (() => void) | undefined;
  readonly #clock: Clock;
  /** Ticks the market at its next deadline. */
  readonly #wakeup: Wakeup;
  #closing = false;
  readonly #done: Promise<void>;
  /** Datagrams in and addresses heard from, for the dashboard (web16). */
  readonly #traffic = new Traffic();

  private constructor(
    options: ServerOptions,
    socket: Deno.DatagramConn,
    store: ServerStore,
    market: Market,
    guard: Guard,
  ) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#wakeup = new Wakeup((at) => this.#enqueue({ kind: "tick", at }), { clock: this.#clock });
    this.#guard = guard;
    this.#socket = socket;
    this.#store = store;
    this.#market = market;
    this.#done = Promise.all([this.#receive(), this.#work()]).then(() => {});
  }

  /**
   * Opens the store, restores the state and starts serving.
   *
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   */
  static async start(options: ServerOptions): Promise<ShopServer> {
    const store = await ServerStore.open(options.dataDir, options.kv);
    try {
      const market = new Market(await store.load(), {
        timers: options.timers,
        allowPlaintext: options.allowPlaintext,
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.liveness ? { liveness: options.liveness } : {}),
      });
      const { identity } = await store.identity();
      const guard = new Guard(identity, {
        ratePerSecond: options.ratePerSecond ?? 1000,
        ...(options.signaturesPerSecond
          ? { signaturesPerSecond: options.signaturesPerSecond }
          : {}),
      });
      const clock = options.clock ?? systemClock;
      guard.restoreMarks(await store.marks());
      for (const peer of market.peers()) guard.update(peer.name, peer, clock.now());
      const socket = Deno.listenDatagram({
        transport: "udp",
        hostname: options.hostname,
        port: options.port,
      });
      const server = new ShopServer(options, socket, store, market, guard);
      const { hostname, port } = server.address;
      log.info(
        "Serving on UDP {hostname}:{port} with {peers} registered peers and {open} open searches; server key {fingerprint}",
        {
          hostname,
          port,
          peers: [...market.peers()].length,
          open: market.requests().filter((request) =>
            request.state !== "not_available" &&
            request.state !== "not_found" && request.state !== "cancelled"
          ).length,
          fingerprint: await fingerprint(identity.publicText),
        },
      );
      // Deadlines that passed while the server was down fire now.
      server.#enqueue({ kind: "tick", at: clock.now() });
      return server;
    } catch (error) {
      await store[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The bound UDP address. */
  get address(): Address {
    const addr = this.#socket.addr as Deno.NetAddr;
    return { hostname: addr.hostname, port: addr.port };
  }

  /** The state machine, for inspection. */
  get market(): Market {
    return this.#market;
  }

  /** Datagrams in and addresses heard from, for the dashboard. */
  get traffic(): Traffic {
    return this.#traffic;
  }

  /** Every ledger entry, read from the store (for the dashboard). */
  ledger(): Promise<LedgerEntry[]> {
    return this.#store.ledger();
  }

  /** Resolves when the server has stopped. */
  get finished(): Promise<void> {
    return this.#done;
  }

  async #receive(): Promise<void> {
    const receiving = datagrams(this.#socket, {
      closing: () => this.#closing,
      onError: (error) => log.warning("Receive failed: {error}", { error: String(error) }),
    });
    for await (const { data, from } of receiving) {
      const at = this.#clock.now();
      this.#traffic.datagram();
      const admission = await this.#guard.admit(data, from, at);
      if (admission.kind === "message") {
        this.#traffic.heard(from, at);
        // Tagged templates: no placeholders to parse, no fields to redact
        // (the line itself still passes the card-number mask).
        wire.debug`recv ${formatAddress(from)} ${describe(admission.message)}`;
        this.#enqueue({
          kind: "message",
          from,
          message: admission.message,
          bytes: data.length,
          at,
          ...(admission.authenticated ? { authenticated: admission.authenticated } : {}),
          ...(admission.registration ? { registration: admission.registration } : {}),
        });
      } else if (admission.kind === "invalid") {
        this.#enqueue({ kind: "invalid", from, error: admission.error, bytes: data.length, at });
      } else if (admission.kind === "challenge") {
        // Stateless: the cookie is the only answer, and no longer than the request.
        wire.debug`retry ${formatAddress(from)}`;
        this.#socket.send(utf8.encode(admission.text), { ...from, transport: "udp" })
          .catch((error) => log.debug("Send failed: {error}", { error: String(error) }));
      } else {
        wire.debug`drop ${formatAddress(from)}: ${admission.why}`;
      }
    }
  }

  #enqueue(event: ServerEvent): void {
    this.#queue.push(event);
    this.#wake?.();
  }

  async #work(): Promise<void> {
    while (!this.#closing) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const events = this.#queue.splice(0, this.#queue.length);
      const effects: Effect[] = [];
      // Writes go in commits of at most MAX_MUTATIONS_PER_COMMIT, never
      // splitting one event's writes unless that event alone is larger.
      const commits: Mutation[][] = [[]];
      for (const event of events) {
        const produced = this.#market.handle(event);
        const writes = produced.filter(isWrite);
        let current = commits.at(-1)!;
        if (current.length > 0 && current.length + writes.length > MAX_MUTATIONS_PER_COMMIT) {
          commits.push(current = []);
        }
        for (const write of writes) {
          if (current.length === MAX_MUTATIONS_PER_COMMIT) commits.push(current = []);
          current.push(write);
        }
        effects.push(...produced);
      }
      try {
        await this.#perform(commits, effects);
      } catch (error) {
        // Nothing is sent for state that could not be stored; the peers'
        // retransmissions will ask again.
        log.error("Cannot store {count} events: {error}", {
          count: events.length,
          error: String(error),
        });
      }
      if (!this.#closing) this.#wakeup.arm(this.#market.nextDeadline());
    }
  }

  async #perform(commits: readonly Mutation[][], effects: readonly Effect[]): Promise<void> {
    // The replay marks of the sessions these events came on go in the first
    // commit: a restart refuses whatever was acted on before it.
    let marks = this.#guard.takeMarks();
    for (const mutations of commits) {
      await this.#store.apply(mutations, marks);
      marks = [];
      for (const mutation of mutations) {
        if (mutation.key[0] === "peer") {
          this.#guard.update(
            mutation.key[1],
            mutation.kind === "save" ? mutation.value as RegisteredPeer : undefined,
            this.#clock.now(),
          );
        }
      }
    }
    for (const effect of effects) {
      if (effect.kind === "send") this.#send(effect);
      else if (effect.kind === "log") log[effect.level]`${effect.text}`;
      else if (effect.kind === "transact") this.#transact(effect);
      else if (effect.kind === "conclude") this.#conclude(effect);
    }
  }

  /** Runs a transaction's TCP leg in the background; its outcome comes back as an event. */
  #transact(effect: Extract<Effect, { kind: "transact" }>): void {
    const { buyer, seller } = effect.plan;
    for (const party of [buyer, seller]) {
      if (!party.ca) {
        log.warning(
          "Transaction {id}: card data from {name} crosses the network in plain text (a classic peer)",
          {
            id: effect.plan.id,
            name: party.name,
          },
        );
      }
    }
    const timeoutMs = this.#options.transactionTimeout ?? 30_000;
    const transaction = new Transaction(effect.plan, {
      processor: this.#options.processor ?? approveAll,
      timeoutMs,
      seal: (name, text) => this.#guard.sealFor(name, text),
      slots: this.#slots,
      signal: this.#stopping.signal,
    });
    const id = effect.plan.id;
    this.#transactions.get(id)?.[Symbol.asyncDispose]();
    this.#transactions.set(id, transaction);
    this.#inBackground((async () => {
      const outcome = await transaction.run();
      this.#enqueue({
        kind: "transacted",
        request: effect.request,
        tx: id,
        outcome,
        at: this.#clock.now(),
      });
      // The market concludes it in a coming batch (with CANCEL when its
      // purchase ended meanwhile); one whose outcome it ignored (a stale
      // run) is closed here, so its connections and slots are not held for
      // ever.
      await pause(timeoutMs, this.#stopping.signal, this.#clock);
      if (this.#transactions.get(id) === transaction) {
        this.#transactions.delete(id);
        await transaction[Symbol.asyncDispose]();
      }
    })());
  }

  /** Ends a transaction on the wire, after its outcome is stored. */
  #conclude(effect: Extract<Effect, { kind: "conclude" }>): void {
    const transaction = this.#transactions.get(effect.plan.id);
    this.#transactions.delete(effect.plan.id);
    const { conclusion } = effect;
    this.#inBackground((async () => {
      const told = transaction
        ? await transaction.conclude(conclusion)
        : { seller: false, buyer: false };
      if (!conclusion.ok) return;
      await Promise.all(effect.deliver.map(async (role) => {
        // Whoever the live connection did not reach gets it on a new one.
        if (told[role] || await this.#deliver(effect.request, effect.plan, conclusion, role)) {
          this.#enqueue({
            kind: "delivered",
            request: effect.request,
            to: role,
            at: this.#clock.now(),
          });
        }
      }));
    })());
  }

  /** Delivers Shipping_Info on new connections until it arrives, or the tries run out. */
  async #deliver(
    request: string,
    plan: TransactionPlan,
    conclusion: Extract<Conclusion, { ok: true }>,
    role: "seller" | "buyer",
  ): Promise<boolean> {
    const key = `${request}\0${role}`;
    this.#deliveries.get(key)?.abort();
    const replaced = new AbortController();
    this.#deliveries.set(key, replaced);
    const signal = AbortSignal.any([replaced.signal, this.#stopping.signal]);
    try {
      for (let attempt = 0; attempt < DELIVERY_ATTEMPTS && !signal.aborted; attempt++) {
        if (attempt > 0) {
          await pause(
            Math.min(1_000 * 2 ** (attempt - 1), DELIVERY_MAX_PAUSE_MS),
            signal,
            this.#clock,
          );
          if (signal.aborted) break;
        }
        const delivered = await deliverShipping(plan, conclusion, {
          timeoutMs: this.#options.transactionTimeout ?? 30_000,
          seal: (name, text) => this.#guard.sealFor(name, text),
          slots: this.#slots,
          signal,
        }, role);
        if (delivered) return true;
      }
      return false;
    } finally {
      if (this.#deliveries.get(key) === replaced) this.#deliveries.delete(key);
    }
  }

  #inBackground(work: Promise<void>): void {
    const tracked = work.catch((error) => {
      log.error("Background work failed: {error}", { error: String(error) });
    }).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  #send(effect: Extract<Effect, { kind: "send" }>): void {
    const { to } = effect;
    const message = effect.limit === undefined ? effect.message : fit(effect.message, effect.limit);
    if (!message) {
      wire.debug`withheld ${effect.message.type} to ${
        formatAddress(to)
      }: longer than the datagram it answers`;
      return;
    }
    const text = this.#encoded(message);
    wire.debug`send ${formatAddress(to)} ${
      message.type === "INFORM_Res" ? describe(message) : text
    }`;
    const sealed = this.#guard.sealNow(to, message, text);
    const sending = typeof sealed === "string"
      ? this.#socket.send(utf8.encode(sealed), { transport: "udp", ...to })
      : sealed.then((signed) =>
        this.#socket.send(utf8.encode(signed), { transport: "udp", ...to })
      );
    sending.catch((error) => {
      log.warning`Cannot send to ${formatAddress(to)}: ${String(error)}`;
    });
  }

  /** A message's wire text; one message sent to many (a SEARCH) is encoded once. */
  #encoded(message: Message): string {
    let text = this.#encodings.get(message);
    if (text === undefined) this.#encodings.set(message, text = encode(message));
    return text;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closing) return this.#done;
    this.#closing = true;
    this.#stopping.abort();
    this.#wakeup[Symbol.dispose]();
    this.#socket.close();
    this.#wake?.();
    await this.#done;
    await Promise.all([...this.#transactions.values()].map((tx) => tx[Symbol.asyncDispose]()));
    await Promise.allSettled([...this.#background]);
    await this.#store[Symbol.asyncDispose]();
    log.info("Stopped");
  }
}

/**
 * The message shortened to at most `limit` bytes by cutting its reason, or
 * `undefined` when even that cannot make it fit.
 */
function fit(message: Message, limit: number): Message | undefined {
  const size = (candidate: Message) => utf8.encode(encode(candidate)).length;
  if (size(message) <= limit) return message;
  if (!("reason" in message)) return undefined;
  const overhead = size({ ...message, reason: "x" }) - 1;
  const room = limit - overhead;
  if (room < 1) return undefined;
  const cut = message.reason.slice(0, room);
  // End at a word when a whole word fits.
  const reason =
    (message.reason.length > room && cut.lastIndexOf(" ") > 0
      ? cut.slice(0, cut.lastIndexOf(" "))
      : cut).replace(/[\s:;,]+$/, "");
  return reason && size({ ...message, reason }) <= limit ? { ...message, reason } : undefined;
}

/** Waits `ms` on the clock, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clock.clear(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.set(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
