/**
 * The server's shell: the UDP socket, the KV store and the clock around the
 * {@linkcode Market} state machine.
 *
 * Datagrams are decoded and queued as they arrive. A single worker drains
 * the queue: it feeds every waiting event to the machine, writes all of
 * their mutations in one commit, and only then sends the replies (group
 * commit). Under load many datagrams share one commit; when idle each one
 * is committed on its own at once.
 *
 * Honest commits: a batch's replies, log lines and TCP legs go out only
 * once its commit and every one before it succeeded. A failed commit is
 * tried again in order while the batches behind it wait
 * (`shell/commit_queue.ts`); past `storeTimeout` the server stops with
 * the reason, to be restarted from what is stored. A server that another
 * took the store from stops at its next commit (the store's epoch fence).
 *
 * @module
 */
import { type Address, describe, encode, formatAddress, type Message } from "../protocol/mod.ts";
import { isWrite } from "../protocol/effects.ts";
import { logger, wireLogging } from "../log/setup.ts";
import { type Clock, systemClock } from "../shell/clock.ts";
import { Wakeup } from "../shell/wakeup.ts";
import { fingerprint } from "../security/identity.ts";
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
import type { FanoutEffect } from "./market_turn.ts";
import { sendPort } from "./registry.ts";
import { Guard } from "./guard.ts";
import { approveAll, type PaymentProcessor } from "./payment.ts";
import { type Owner, type ServerStore } from "./store/mod.ts";
import { Fenced } from "./store/store.ts";
import { openStore } from "./store/open.ts";
import { CommitQueue, describeError } from "../shell/commit_queue.ts";
import { hostname as hostName } from "node:os";
import { resolve } from "node:path";
import type { LedgerEntry } from "./records.ts";
import { Traffic } from "./traffic.ts";
import { TransactionLegs } from "./legs.ts";

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
  /**
   * A PostgreSQL URL (`postgres://host:port,host2:port2/db`, no password:
   * it comes from PGPASSWORD or `storePasswordFile`) to keep the state in,
   * instead of Deno KV.
   */
  readonly store?: string;
  /** A file holding the PostgreSQL password. */
  readonly storePasswordFile?: string;
  /** How long the store may fail every commit before the server stops (default 30 s). */
  readonly storeTimeout?: number;
  /**
   * Wait for the server that holds the store to stop (or its lease to run
   * out), then take over and serve.
   */
  readonly standby?: boolean;
  /**
   * Whether the caller holds the data directory's lock: then a lease left
   * by the server before on the same host and directory (killed) is taken
   * at once.
   */
  readonly holdsLock?: boolean;
  /** How long a claim on the store lasts unless renewed (default 6 s). */
  readonly leaseMs?: number;
  /** Called once when a standby starts waiting, with the holder. */
  readonly onStandby?: (owner: Owner) => void;
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

/**
 * Batches whose commits may be under way at once: the next batch is handled
 * and its commit started while the last one's is being written.
 */
const COMMITS_IN_FLIGHT = 2;
/** Most mutations put in one KV commit (Deno KV allows 1000). */
const MAX_MUTATIONS_PER_COMMIT = 500;
/**
 * Events that may wait for the worker before received datagrams are
 * dropped: the worker waits only for a failing store, and a flood then must
 * not grow the queue without bound (some 40 MB at most).
 */
const MAX_QUEUED_DATAGRAMS = 20_000;
/** How long a claim on the store lasts unless renewed; it is renewed every third of it. */
const LEASE_MS = 6_000;
/** How long a standby that took over waits for the UDP port to be let go. */
const STANDBY_BIND_MS = 30_000;

/** One commit: a batch's mutations, and the replay marks of the sessions it acted on. */
interface Commit {
  readonly mutations: readonly Mutation[];
  readonly marks: ReturnType<Guard["takeMarks"]>;
}

/**
 * Datagrams of a fan-out sent before the sender lets the receive loop and
 * the worker run: a SEARCH to 20,000 peers does not hold up the replies to
 * everyone else while it goes out.
 */
const FANOUT_SLICE = 256;
/** Bytes read per datagram; the codec rejects anything over its limit. */
const RECEIVE_BUFFER_BYTES = 2048;

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
  /** The purchases' TCP legs and deliveries, in the background. */
  readonly #legs: TransactionLegs;
  readonly #encodings = new WeakMap<Message, string>();
  readonly #target = { transport: "udp" as const, hostname: "", port: 0 };
  readonly #queue: ServerEvent[] = [];
  /** Fan-outs still to send, oldest first, and the sender draining them. */
  readonly #fanouts: FanoutEffect[] = [];
  #fanningOut = false;
  #fanning: Promise<void> | undefined;
  /** Lets the fan-out sender wait for one turn of the event loop. */
  readonly #turns = new MessageChannel();
  #wake: (() => void) | undefined;
  readonly #clock: Clock;
  /** Ticks the market at its next deadline. */
  readonly #wakeup: Wakeup;
  #closing = false;
  readonly #done: Promise<void>;
  /** Datagrams in and addresses heard from, for the dashboard (web16). */
  readonly #traffic = new Traffic();
  /** The batches' commits, in order; replies wait for them. */
  readonly #commits: CommitQueue<Commit>;
  /** Why the server stopped by itself, if it did. */
  #failure: Error | undefined;
  readonly #failed = Promise.withResolvers<Error>();
  #renewing: ReturnType<typeof setInterval> | undefined;
  /** Tells a store outage once when it starts and once when it is over. */
  readonly #outage = new Outage();
  /** Datagrams dropped since the queue was last full. */
  #dropped = 0;

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
    this.#legs = new TransactionLegs({
      processor: options.processor ?? approveAll,
      timeoutMs: options.transactionTimeout ?? 30_000,
      seal: (name, text) => guard.sealFor(name, text),
      clock: this.#clock,
      enqueue: (event) => this.#enqueue(event),
    });
    this.#guard = guard;
    this.#socket = socket;
    this.#store = store;
    this.#market = market;
    this.#commits = new CommitQueue<Commit>({
      apply: (commit) => store.apply(commit.mutations, commit.marks),
      inFlight: COMMITS_IN_FLIGHT,
      retryFor: options.storeTimeout ?? 30_000,
      retryable: (error) => !(error instanceof Fenced),
      clock: this.#clock,
      onStall: (error) => this.#outage.failed(error),
      onRecover: (ms, tries) => {
        this.#outage.recovered(tries);
        // Ahead of every event that waited: the searches get the time back
        // before any deadline is looked at.
        this.#queue.unshift({ kind: "resumed", at: this.#clock.now(), stalledMs: ms });
        this.#wake?.();
      },
    });
    const leaseMs = options.leaseMs ?? LEASE_MS;
    // Renewals that fail are told once, and once when they work again.
    let renewFailing = false;
    this.#renewing = setInterval(() => {
      store.renew().then(() => {
        if (renewFailing) log.info("The claim on the store is renewed again");
        renewFailing = false;
      }, (error) => {
        if (error instanceof Fenced) this.#fail(error);
        // A commit that fails is told already; its store is the same.
        else if (!renewFailing && !this.#commits.stalled) {
          renewFailing = true;
          log.warning("Cannot renew the claim on the store: {error}", {
            error: describeError(error),
          });
        }
      });
    }, leaseMs / 3);
    this.#done = Promise.all([this.#receive(), this.#work()]).then(() => {});
  }

  /**
   * Opens the store, restores the state and starts serving.
   *
   * @throws {Deno.errors.AddrInUse} If the port is taken.
   */
  static async start(options: ServerOptions): Promise<ShopServer> {
    const store = await openStore(options);
    try {
      let waitedFor: Owner | undefined;
      const claimed = await store.claim({
        holder: holderName(options.dataDir),
        leaseMs: options.leaseMs ?? LEASE_MS,
        wait: options.standby ?? false,
        ...(options.holdsLock ? { gone: goneWithLock(options) } : {}),
        onWaiting: (owner) => {
          waitedFor = owner;
          log.info("Standby: waiting for {holder} to stop (epoch {epoch})", {
            holder: owner.holder,
            epoch: owner.epoch,
          });
          options.onStandby?.(owner);
        },
      });
      if (options.standby) {
        // It waited on the data directory's lock, or on the lease of `waitedFor`.
        log.info("Standby: took over the store{from} (epoch {epoch})", {
          from: waitedFor ? ` from ${waitedFor.holder}` : "",
          epoch: claimed.epoch,
        });
      }
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
      const socket = await listen(options);
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
      await store.release().catch(() => {});
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

  /**
   * Resolves with the reason if the server stops by itself: the store
   * failed past `storeTimeout`, or another server took it over.
   */
  get failed(): Promise<Error> {
    return this.#failed.promise;
  }

  /**
   * Resolves when every event handled so far is stored: what the market
   * shows then is what the store holds (the dashboard waits for it).
   */
  settled(): Promise<void> {
    return this.#commits.settled();
  }

  /** Whether commits are failing and being tried again. */
  get storeStalled(): boolean {
    return this.#commits.stalled;
  }

  /** Stops serving: nothing more is sent, and the reason is reported once. */
  #fail(error: Error): void {
    if (this.#failure || this.#closing) return;
    this.#failure = error;
    log.error("Stopping: {error}", { error: describeError(error) });
    this.#failed.resolve(error);
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!this.#closing) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await this.#socket.receive(buffer);
      } catch (error) {
        // An ICMP "unreachable" from a peer that went away ends one receive, not the loop.
        if (this.#closing) return;
        log.warning("Receive failed: {error}", { error: String(error) });
        continue;
      }
      const data = received[0];
      const addr = received[1] as Deno.NetAddr;
      const from: Address = { hostname: addr.hostname, port: addr.port };
      const at = this.#clock.now();
      this.#traffic.datagram();
      // Most datagrams are admitted at once; only a signed registration waits.
      const admitted = this.#guard.admit(data, from, at);
      const admission = admitted instanceof Promise ? await admitted : admitted;
      if (admission.kind === "message") {
        this.#traffic.heard(from, at);
        // Checked first: a tagged template allocates even when nobody writes it.
        if (wireLogging()) wire.debug`recv ${formatAddress(from)} ${describe(admission.message)}`;
        const event: ServerEvent = admission.authenticated || admission.registration
          ? {
            kind: "message",
            from,
            message: admission.message,
            bytes: data.length,
            at,
            ...(admission.authenticated ? { authenticated: admission.authenticated } : {}),
            ...(admission.registration ? { registration: admission.registration } : {}),
          }
          : { kind: "message", from, message: admission.message, bytes: data.length, at };
        this.#enqueueReceived(event);
      } else if (admission.kind === "invalid") {
        this.#enqueueReceived({
          kind: "invalid",
          from,
          error: admission.error,
          bytes: data.length,
          at,
        });
      } else if (admission.kind === "challenge") {
        // Stateless: the cookie is the only answer, and no longer than the request.
        if (wireLogging()) wire.debug`retry ${formatAddress(from)}`;
        this.#socket.send(utf8.encode(admission.text), { ...from, transport: "udp" })
          .catch((error) => log.debug("Send failed: {error}", { error: String(error) }));
      } else if (wireLogging()) {
        wire.debug`drop ${formatAddress(from)}: ${admission.why}`;
      }
    }
  }

  #enqueue(event: ServerEvent): void {
    this.#queue.push(event);
    this.#wake?.();
  }

  /**
   * Queues a received datagram, unless {@linkcode MAX_QUEUED_DATAGRAMS}
   * events already wait (the store is failing and the worker waits for
   * it): then it is dropped, as the network might have, and its sender's
   * resend is answered once the store takes commits again. Memory stays
   * bounded however long the store fails and whoever floods meanwhile.
   */
  #enqueueReceived(event: ServerEvent): void {
    if (this.#queue.length >= MAX_QUEUED_DATAGRAMS) {
      if (this.#dropped++ === 0) {
        log.warning(
          "{count} events wait for the store: datagrams are dropped until it takes commits again",
          { count: this.#queue.length },
        );
      }
      return;
    }
    if (this.#dropped > 0) {
      log.info("Datagrams queued again; {dropped} were dropped while the store waited", {
        dropped: this.#dropped,
      });
      this.#dropped = 0;
    }
    this.#enqueue(event);
  }

  async #work(): Promise<void> {
    // Batches whose commits are under way, oldest first.
    const pending: Promise<void>[] = [];
    let last: Promise<void> = Promise.resolve();
    while (!this.#closing) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      if (pending.length >= COMMITS_IN_FLIGHT) {
        await pending[0];
        continue;
      }
      const events = this.#queue.splice(0, this.#queue.length);
      const effects: Effect[] = [];
      // Writes go in commits of at most MAX_MUTATIONS_PER_COMMIT, never
      // splitting one event's writes unless that event alone is larger.
      const commits: Mutation[][] = [[]];
      for (const event of events) {
        const produced = this.#market.handle(event);
        let current = commits.at(-1)!;
        let writes = 0;
        for (const effect of produced) if (isWrite(effect)) writes++;
        if (current.length > 0 && current.length + writes > MAX_MUTATIONS_PER_COMMIT) {
          commits.push(current = []);
        }
        for (const effect of produced) {
          if (!isWrite(effect)) continue;
          if (current.length === MAX_MUTATIONS_PER_COMMIT) commits.push(current = []);
          current.push(effect);
        }
        for (const effect of produced) effects.push(effect);
      }
      // The commits start now, in order, while the next batch is handled;
      // each batch's replies go out after its own commits and the batches
      // before. A commit that cannot be stored within the bound stops the
      // server, and nothing of its batch or any later one is sent.
      const batch = this.#perform(commits, effects, last).catch((error) => {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      }).finally(() => pending.splice(pending.indexOf(batch), 1));
      pending.push(batch);
      last = batch;
      if (!this.#closing) this.#wakeup.arm(this.#market.nextDeadline());
    }
    await Promise.all(pending);
  }

  async #perform(
    commits: readonly Mutation[][],
    effects: readonly Effect[],
    before: Promise<void>,
  ): Promise<void> {
    // The replay marks of the sessions these events came on go in the first
    // commit: a restart refuses whatever was acted on before it.
    const stored = commits.map((mutations, i) =>
      this.#commits.push({ mutations, marks: i === 0 ? this.#guard.takeMarks() : [] })
    );
    await before;
    for (const [i, mutations] of commits.entries()) {
      await stored[i];
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
    if (this.#failure) return;
    for (const effect of effects) {
      if (effect.kind === "send") this.#send(effect);
      else if (effect.kind === "fanout") this.#fanout(effect);
      else if (effect.kind === "log") log[effect.level]`${effect.text}`;
      else if (effect.kind === "transact") this.#legs.transact(effect);
      else if (effect.kind === "conclude") this.#legs.conclude(effect);
    }
  }

  #send(effect: Extract<Effect, { kind: "send" }>): void {
    const { to } = effect;
    const message = effect.limit === undefined ? effect.message : fit(effect.message, effect.limit);
    if (!message) {
      if (wireLogging()) {
        wire.debug`withheld ${effect.message.type} to ${
          formatAddress(to)
        }: longer than the datagram it answers`;
      }
      return;
    }
    const text = this.#encoded(message);
    if (wireLogging()) {
      wire.debug`send ${formatAddress(to)} ${
        message.type === "INFORM_Res" ? describe(message) : text
      }`;
    }
    const sealed = this.#guard.sealNow(to, message, text);
    if (typeof sealed === "string") this.#sendText(sealed, to);
    else {
      sealed.then((signed) => this.#sendText(signed, to)).catch((error) => {
        log.warning`Cannot sign a reply to ${formatAddress(to)}: ${String(error)}`;
      });
    }
  }

  /** One datagram; the address object is reused (`send` reads it before it returns). */
  #sendText(text: string, to: Address): void {
    const target = this.#target;
    target.hostname = to.hostname;
    target.port = to.port;
    this.#socket.send(utf8.encode(text), target).catch((error) => {
      log.warning`Cannot send to ${formatAddress(to)}: ${String(error)}`;
    });
  }

  /** Queues a fan-out for the sender, which starts if it is idle. */
  #fanout(effect: FanoutEffect): void {
    this.#fanouts.push(effect);
    if (this.#fanningOut) return;
    this.#fanningOut = true;
    this.#fanning = this.#sendFanouts().catch((error) => {
      log.error("Fan-out failed: {error}", { error: String(error) });
    });
  }

  /**
   * Sends the queued fan-outs: each datagram encoded once, one `send` per
   * peer through one reused address object, and after every
   * {@linkcode FANOUT_SLICE} sends a turn of the event loop, in which
   * datagrams are received and other replies sent. A peer that left (or
   * registered again) since the search is skipped.
   */
  async #sendFanouts(): Promise<void> {
    const target = { transport: "udp" as const, hostname: "", port: 0 };
    let failed = 0;
    const onError = (error: unknown) => {
      if (failed++ === 0) log.warning`Cannot send a fan-out datagram: ${String(error)}`;
    };
    try {
      for (let effect = this.#fanouts.shift(); effect; effect = this.#fanouts.shift()) {
        const started = performance.now();
        const { message, peers } = effect;
        const text = this.#encoded(message);
        const bytes = utf8.encode(text);
        let sent = 0;
        for (let i = 0; i < peers.length && !this.#closing; i++) {
          const peer = peers[i]!;
          if (this.#market.peer(peer.name) !== peer) continue;
          target.hostname = peer.source.hostname;
          target.port = sendPort(peer);
          // The address is read before send returns: one object serves every send.
          this.#socket.send(bytes, target).catch(onError);
          sent++;
          if (wireLogging()) wire.debug`send ${formatAddress(target)} ${text}`;
          if (sent % FANOUT_SLICE === 0) await this.#nextTurn();
        }
        const ms = performance.now() - started;
        log.info`${message.type} ${message.rq} sent to ${count(sent)} ${
          sent === 1 ? "peer" : "peers"
        } in ${ms.toFixed(1)} ms${failed > 0 ? ` (${count(failed)} sends failed)` : ""}`;
        failed = 0;
      }
    } finally {
      // In the same turn as the last look at the queue: a fan-out queued
      // from now on starts a new sender.
      this.#fanningOut = false;
    }
  }

  /** Resolves after one turn of the event loop (a timer would wait a millisecond or more). */
  #nextTurn(): Promise<void> {
    return new Promise((resolve) => {
      this.#turns.port1.onmessage = () => resolve();
      this.#turns.port2.postMessage(undefined);
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
    clearInterval(this.#renewing);
    this.#outage.flush();
    this.#wakeup[Symbol.dispose]();
    this.#socket.close();
    this.#wake?.();
    // Stopping because the store failed: promptly (see below).
    const failed = this.#failure !== undefined;
    await (failed ? within(this.#done, STOP_WITHIN_MS) : this.#done);
    await (failed ? within(this.#fanning ?? Promise.resolve(), STOP_WITHIN_MS) : this.#fanning);
    this.#turns.port1.close();
    if (this.#failure) {
      // Stopping because the store failed: promptly, and nothing more is
      // written (no release: the store is down or no longer ours; a commit
      // still under way may land, unacknowledged, as any lost answer may).
      await within(this.#legs[Symbol.asyncDispose](), STOP_WITHIN_MS);
      await within(this.#store[Symbol.asyncDispose](), STOP_WITHIN_MS);
    } else {
      await this.#legs[Symbol.asyncDispose]();
      // A standby takes over at once after a clean stop (the release is
      // ordered after every commit made).
      await this.#store.release().catch((error) =>
        log.warning("Cannot release the store: {error}", { error: describeError(error) })
      );
      await this.#store[Symbol.asyncDispose]();
    }
    log.info("Stopped");
  }
}

/** How long a server stopping because its store failed waits for its parts to close. */
const STOP_WITHIN_MS = 1_000;

/** Waits for a promise, at most `ms` (its outcome is ignored). */
async function within(promise: PromiseLike<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.resolve(promise).catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** How long commits must succeed before an outage of the store is told over. */
const OUTAGE_QUIET_MS = 2_000;

/**
 * A store outage told in two lines: one when commits start failing, one
 * when they have succeeded for {@linkcode OUTAGE_QUIET_MS} (a nearly full
 * disk takes some commits and refuses others: that flapping is one outage,
 * not a line per refusal).
 */
class Outage {
  #since: number | undefined;
  #tries = 0;
  #over: ReturnType<typeof setTimeout> | undefined;

  failed(error: unknown): void {
    clearTimeout(this.#over);
    this.#over = undefined;
    if (this.#since !== undefined) return;
    this.#since = Date.now();
    this.#tries = 0;
    log.error("Cannot store: {error}; replies wait while the commit is retried", {
      error: describeError(error),
    });
  }

  recovered(tries: number): void {
    this.#tries += tries;
    clearTimeout(this.#over);
    this.#over = setTimeout(() => this.flush(), OUTAGE_QUIET_MS);
  }

  /** Tells the outage over now if commits work again (at a stop, say). */
  flush(): void {
    if (this.#over === undefined || this.#since === undefined) return;
    clearTimeout(this.#over);
    this.#over = undefined;
    log.warning(
      "The store takes commits again after {seconds} s ({tries} tries); the waiting replies went out",
      { seconds: ((Date.now() - this.#since) / 1000).toFixed(1), tries: this.#tries },
    );
    this.#since = undefined;
  }
}

/**
 * Who claims the store, as the owner record shows it: `HOST pid PID (DIR)`.
 */
function holderName(dataDir: string): string {
  return `${hostName()} pid ${Deno.pid} (${resolve(dataDir)})`;
}

/**
 * Whether a holder whose lease still runs has ended, for a server that
 * holds its data directory's lock: every holder, when the store is that
 * directory's own `server.kv` (no other server can use it: a copy restored
 * there, say); else the server before this one on the same host and data
 * directory (it was killed). Its lease need not be waited out.
 */
function goneWithLock(options: ServerOptions): (owner: Owner) => boolean {
  if (options.kv === undefined && options.store === undefined) return () => true;
  const mine = holderName(options.dataDir).replace(/ pid \d+ /, " ");
  return (owner) =>
    owner.holder !== holderName(options.dataDir) &&
    owner.holder.replace(/ pid \d+ /, " ") === mine;
}

/**
 * The server's UDP socket. A standby that has just taken over waits for
 * the port to be let go by the server it replaces.
 */
async function listen(options: ServerOptions): Promise<Deno.DatagramConn> {
  const bind = () =>
    Deno.listenDatagram({ transport: "udp", hostname: options.hostname, port: options.port });
  if (!options.standby || options.port === 0) return bind();
  const until = Date.now() + STANDBY_BIND_MS;
  for (;;) {
    try {
      return bind();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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

/** A count as people read it: `20,000`. */
function count(n: number): string {
  return n.toLocaleString("en-US");
}
