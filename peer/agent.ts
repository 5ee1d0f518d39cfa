/**
 * The peer's logic as a state machine without I/O: it is fed the user's
 * input lines, the server's datagrams and the messages of the transaction's
 * TCP connections (known by an id), and answers with effects (datagrams and
 * TCP messages to send, connections to close, lines to print, records to
 * store). The shell in `peer.ts` owns the sockets, standard input and
 * output, the KV store and the clock: every event carries the time it
 * happened.
 *
 * ## Theory of operation
 *
 * {@linkcode Agent} is a facade over one explicit state
 * (`agent/state.ts`) and the machines that change it, each a set of
 * functions of `(state, turn, …)`; one {@linkcode AgentTurn} per event
 * collects the effects, writes first:
 * - registration (`agent/registration.ts`): REGISTER, DE-REGISTER, the
 *   unsigned retry, and the signed registration after a restart, which
 *   takes the open flows of the other machines up again;
 * - selling (`agent/selling.ts`): the inventory, SEARCH, RESERVE, the
 *   server's CANCEL of a reservation, NEGOTIATE;
 * - buying (`agent/buying.ts`): LOOKING_FOR and its outcome, BUY or CANCEL
 *   for a FOUND; the states of a search are one table
 *   (`agent/request_states.ts`);
 * - the settlement on TCP (`agent/settlement.ts`, `agent/transactions.ts`,
 *   `agent/paying.ts`): INFORM_Req, the payment details, Shipping_Info or
 *   TX_CANCEL; it ends what buying and selling started;
 * - the question queue (`agent/questions.ts`): FOUND and NEGOTIATE from
 *   buying and selling, and the payment details, asked one at a time;
 * - retransmission (`agent/reliability.ts`): requests sent again until
 *   answered, and the ACKs our server wants; `nextDeadline` is its next.
 *
 * Payment details (from `--payment`, or typed when INFORM_Req asks) stay in
 * the state's memory: they leave it only in INFORM_Res, and are shown only
 * as the card's last four digits. Crypto stays in the shell: it signs the
 * REGISTER this agent asks for, checks the server's signature and MACs, and
 * tells the agent what it verified.
 *
 * @module
 */
import { type Address, formatAddress, type Message } from "../protocol/mod.ts";
import { type Command, helpText, parseCommand } from "./commands.ts";
import {
  cancelSearch,
  lookFor,
  nextSearchDeadline,
  onDenied,
  onFound,
  onFoundAnswer,
  onNoDeal,
  onPurchaseCancel,
  onSearchDeadlines,
  onServerError,
  serverRefusal,
} from "./agent/buying.ts";
import { AgentTurn, type PeerEffect, type PeerEvent } from "./agent/effects.ts";
import { checkRegistration, registrationState } from "./agent/registration_states.ts";
import { ABORT_INPUT, onPaymentAnswer, paymentCommand } from "./agent/paying.ts";
import {
  askedQuestion,
  asksSecret,
  isPaymentQuestion,
  nextQuestionDeadline,
  type Question,
  settleQuestions,
  takeAsked,
} from "./agent/questions.ts";
import {
  awaitsUnsealed,
  fallBackToClassic,
  onDeregistrationAnswer,
  onLateRegistration,
  onRefused,
  onRegistrationAnswer,
  onRetry,
  register,
  registerAgainAfterRestart,
  registering,
  sendDeregister,
  takePending,
  takeRegisterAnswer,
} from "./agent/registration.ts";
import {
  acknowledge,
  heardFromServer,
  nextDeadline,
  onAck,
  onTick,
  track,
} from "./agent/reliability.ts";
import {
  answerReserve,
  browse,
  keepAlive,
  listingsBeforePrints,
  ListingSync,
  nextKeepAlive,
  onCatalogue,
  syncListings,
} from "./agent/listing.ts";
import type {
  BuyRequest,
  HistoryEntry,
  InventoryItem,
  PeerSnapshot,
  ServerKind,
} from "./agent/records.ts";
import {
  edit,
  nextHoldDeadline,
  onHoldDeadlines,
  onNegotiate,
  onNegotiateAnswer,
  onReserve,
  onSearch,
  releaseReservation,
  reprice,
  sell,
  unsell,
} from "./agent/selling.ts";
import { onTcp, onTcpClosed, onTcpInvalid, onTcpUnauthenticated } from "./agent/settlement.ts";
import {
  type AgentOptions,
  type AgentState,
  createState,
  isServerAddress,
  type KeyInfo,
  onUnexpected,
  type PeerProfile,
  remember,
  sortedRequests,
} from "./agent/state.ts";
import {
  describePending,
  isAuthenticated,
  printHistory,
  printInventory,
  printRequests,
  printStatus,
  sortedHistory,
  sortedItems,
} from "./agent/views.ts";

export * from "./agent/records.ts";
export * from "./agent/effects.ts";
export type { AgentOptions, KeyInfo, PeerProfile } from "./agent/state.ts";
export type { PaymentQuestion, Question } from "./agent/questions.ts";
export { AUTH, OFFERED_EXTENSIONS } from "./agent/registration.ts";
export { MAC_OVERHEAD } from "./agent/buying.ts";
export { CONFIRM_AFTER_MS, PLAINTEXT_REASON, UNAUTHENTICATED_REASON } from "./agent/settlement.ts";
export { ABORT_INPUT } from "./agent/paying.ts";
export { formatAge, formatTime } from "./agent/views.ts";
export { REQUEST_TRANSITIONS, requestMoveAllowed } from "./agent/request_states.ts";
export { FEE_RATE } from "../protocol/fee.ts";

/** Commands that need the registration: given while it is pending, they wait for it. */
const NEEDS_REGISTRATION: ReadonlySet<Command["name"]> = new Set(["buy", "deregister", "cancel"]);

/**
 * Commands that never wait behind queued ones: they change nothing the
 * others depend on, and a person waiting for a server must be able to ask
 * what is going on, or leave.
 */
const NEVER_WAIT: ReadonlySet<Command["name"]> = new Set([
  "help",
  "status",
  "questions",
  "key",
  "quit",
]);

/**
 * The words that answer a [y/N] question; an empty line is the default no.
 * Anything else runs as a command (or is an error), and the question is
 * shown again: a typo must not decline a deal.
 */
const YES_OR_NO = /^\s*(y|yes|n|no)?\s*$/i;

/**
 * Most warnings a second about datagrams ignored (a stranger's, or what
 * does not parse): anyone can send a flood of them, from any address. The
 * rest go to the debug log.
 */
const IGNORED_WARNINGS_PER_SECOND = 2;

/** The peer's state machine. */
export class Agent {
  readonly #state: AgentState;
  /** What the server's offer book was told (extension `book`). */
  readonly #listing: ListingSync;
  /** The second of the last warning about an ignored datagram, and how many came in it. */
  #ignored = { second: 0, count: 0 };

  constructor(profile: PeerProfile, snapshot: PeerSnapshot, options: AgentOptions) {
    this.#state = createState(profile, snapshot, options);
    this.#listing = new ListingSync(options.keepAlive);
  }

  /** Whether the server has confirmed this peer's registration. */
  get registered(): boolean {
    return this.#state.registered;
  }

  /** How many requests still wait for the server's answer or ACK. */
  get pendingCount(): number {
    return this.#state.unacked.size;
  }

  /**
   * When the agent next needs a `tick` event (a retransmission is due, or
   * a question's time runs out), if ever.
   */
  nextDeadline(): number | undefined {
    const deadlines = [
      nextDeadline(this.#state),
      nextQuestionDeadline(this.#state),
      nextKeepAlive(this.#state, this.#listing),
      nextSearchDeadline(this.#state),
      nextHoldDeadline(this.#state),
    ].filter((at) => at !== undefined);
    return deadlines.length === 0 ? undefined : Math.min(...deadlines);
  }

  /** Whether the server agreed `auth`: MACs on datagrams, TLS on the TCP port. */
  get authenticated(): boolean {
    return isAuthenticated(this.#state);
  }

  /**
   * Whether a datagram answers a request of this peer that the server
   * cannot seal: REGISTER-DENIED to a REGISTER, DE-REGISTER-DENIED to a
   * DE-REGISTER (the server has no session for a name it does not know
   * there). DE-REGISTERED comes sealed: the server keeps the session a
   * while after the peer leaves.
   */
  awaits(message: Message): boolean {
    return awaitsUnsealed(this.#state, message);
  }

  /** Whether FOUND is bought without asking. */
  get autoBuy(): boolean {
    return this.#state.autoBuy;
  }

  /** Our server, a classic one, or not known yet. */
  get serverKind(): ServerKind {
    return this.#state.serverKind;
  }

  /** The extensions the server accepted (empty for a classic server). */
  get features(): readonly string[] {
    return this.#state.extensions.toArray();
  }

  /** The inventory, sorted by item name. */
  get items(): InventoryItem[] {
    return sortedItems(this.#state);
  }

  /** This peer's searches, oldest first. */
  get requests(): BuyRequest[] {
    return sortedRequests(this.#state);
  }

  /** The questions waiting for an answer, the one being asked first. */
  get questions(): readonly Question[] {
    return [...this.#state.questions];
  }

  /**
   * Whether the question just asked wants a secret (the card number or its
   * expiry): a terminal should not echo the next line.
   */
  get secretPrompt(): boolean {
    return asksSecret(this.#state);
  }

  /**
   * Whether the next input line answers a question (or is a secret typed
   * for one withdrawn): a terminal keeps it out of its history.
   */
  get answering(): boolean {
    return this.#state.withdrawnSecret || askedQuestion(this.#state) !== undefined;
  }

  /**
   * What is still open when the peer leaves (open searches, purchases and
   * sales under way, questions unanswered), in words, or `undefined` when
   * nothing is.
   */
  get pendingWork(): string | undefined {
    return describePending(this.#state);
  }

  /** Whether the next input line answers a payment question (never log it). */
  get paymentPrompt(): boolean {
    if (this.#state.withdrawnSecret) return true;
    const asked = askedQuestion(this.#state);
    return asked !== undefined && isPaymentQuestion(asked);
  }

  /** Completed sales and purchases, oldest first. */
  get history(): HistoryEntry[] {
    return sortedHistory(this.#state);
  }

  /**
   * Since when the server has not answered (a request got no reply after
   * every try, and nothing came since), or `undefined` while it answers.
   */
  get serverSilentSince(): number | undefined {
    return this.#state.silentSince;
  }

  /** How many TCP transactions are open. */
  get transactionCount(): number {
    return this.#state.transactions.size;
  }

  /** Feeds one event to the agent and returns what to do, writes first. */
  handle(event: PeerEvent): PeerEffect[] {
    const state = this.#state;
    const turn = new AgentTurn(event.at);
    const registration = registrationState(state);
    switch (event.kind) {
      case "start":
        this.#onStart(turn);
        break;
      case "tick":
        for (const lost of onTick(state, turn)) {
          if (lost.type === "LIST") this.#listing.lost(lost);
        }
        keepAlive(state, this.#listing, turn);
        onSearchDeadlines(state, turn);
        onHoldDeadlines(state, turn);
        break;
      case "refused":
        onRefused(state, turn, event.rq, event.reason);
        break;
      case "line":
        this.#onLine(turn, event.text);
        break;
      case "command":
        this.#onCommand(turn, event.command);
        break;
      case "message":
        if (!this.isServer(event.from)) {
          this.#ignoredDatagram(
            turn,
            `Ignored ${event.message.type} from ${formatAddress(event.from)}: not the server`,
          );
          break;
        }
        heardFromServer(state, turn);
        acknowledge(state, turn, event.message);
        this.#listing.heard();
        this.#onMessage(turn, event.message, event.serverKey);
        break;
      case "invalid":
        if (this.isServer(event.from)) {
          heardFromServer(state, turn);
          this.#onInvalid(turn, event);
        } else {
          this.#ignoredDatagram(
            turn,
            `Ignored a datagram from ${formatAddress(event.from)}: ${event.error.message}`,
          );
        }
        break;
      case "tcp":
        onTcp(state, turn, event.conn, event.message);
        break;
      case "tcp-invalid":
        onTcpInvalid(state, turn, event.conn, event.error);
        break;
      case "tcp-unauthenticated":
        onTcpUnauthenticated(state, turn, event.conn, event.rq, event.why);
        break;
      case "tcp-closed":
        onTcpClosed(state, turn, event.conn, event.cause);
        break;
    }
    this.#runQueued(turn);
    syncListings(state, this.#listing, turn);
    settleQuestions(state, turn);
    checkRegistration(registration, state, {
      strict: state.strictTransitions,
      refuse: (text) => turn.log("warning", text),
    });
    const effects = listingsBeforePrints(turn.effects());
    for (const effect of effects) {
      if (effect.kind === "send") {
        track(state, effect.message, event.at);
        state.lastSent = { type: effect.message.type, rq: effect.message.rq, at: event.at };
        this.#listing.lastSent = event.at;
      }
    }
    return effects;
  }

  /** Whether a datagram's source is the server's address (any loopback for a local one). */
  isServer(from: Address): boolean {
    return isServerAddress(this.#state, from);
  }

  #onStart(turn: AgentTurn): void {
    const state = this.#state;
    // A FOUND of an earlier run is asked, even with auto-buy: buying it
    // before registering again fails after the seller sent card details.
    if (state.questions.length > 0) {
      turn.log("info", `Restored ${state.questions.length} question(s) to ask`);
    }
    registerAgainAfterRestart(state, turn);
  }

  /** A line of input: the answer to the question on screen, or a command. */
  #onLine(turn: AgentTurn, text: string): void {
    const state = this.#state;
    if (state.withdrawnSecret) {
      // Typed for a card prompt that went away (the card, its expiry, the
      // address): read without echo, never run, until an empty line.
      if (text.trim() === "" || ABORT_INPUT.has(text)) {
        state.withdrawnSecret = false;
        turn.print("withdrawn", "What you type is shown again, and runs as commands", {
          about: "secret",
          discarding: false,
        });
        return;
      }
      turn.print(
        "withdrawn",
        "Discarded a line typed after the payment question was withdrawn (not shown); " +
          "press Enter on an empty line to type commands again",
        { about: "secret", discarding: true },
      );
      return;
    }
    const asked = askedQuestion(state);
    if (!asked && ABORT_INPUT.has(text)) {
      // Ctrl-C on an empty line, with no question to decline.
      turn.print("interrupt", "To leave, type quit or press Ctrl-D");
      return;
    }
    if (asked) {
      if (!isPaymentQuestion(asked) && !YES_OR_NO.test(text) && !ABORT_INPUT.has(text)) {
        // A command typed as the question popped up (a search can end at
        // any moment) runs as a command, a typo is an error; either way
        // the question stays to answer, and is shown again.
        const parsed = parseCommand(text);
        if (!parsed.ok) turn.error(parsed.error);
        else if (parsed.command) this.#onCommand(turn, parsed.command);
        if (askedQuestion(state) === asked) state.asked = undefined;
        return;
      }
      takeAsked(state);
      const yes = /^\s*(y|yes)\s*$/i.test(text);
      if (isPaymentQuestion(asked)) onPaymentAnswer(state, turn, asked, text);
      else if (asked.about === "FOUND") onFoundAnswer(state, turn, asked.rq, yes);
      else onNegotiateAnswer(state, turn, asked.rq, yes);
      return;
    }
    const parsed = parseCommand(text);
    if (!parsed.ok) return turn.error(parsed.error);
    if (parsed.command) this.#onCommand(turn, parsed.command);
  }

  /**
   * Commands given while a REGISTER was pending: run once it is confirmed,
   * or failed with the registration's error once none is pending.
   */
  #runQueued(turn: AgentTurn): void {
    const state = this.#state;
    if (state.queued.length === 0 || (!state.registered && registering(state))) return;
    const queued = state.queued;
    state.queued = [];
    for (const command of queued) {
      if (state.registered || !NEEDS_REGISTRATION.has(command.name)) {
        this.#onCommand(turn, command);
      } else {
        turn.error(
          `Cannot run ${command.name}: ${state.registrationFailure ?? "not registered"}`,
        );
      }
    }
  }

  #onCommand(turn: AgentTurn, command: Command): void {
    const state = this.#state;
    if (command.name === "cancel" && command.args.which === undefined) {
      return this.#cancelRegistration(turn);
    }
    // Once one command waits, the ones after it wait too: a script's
    // commands run in the order given.
    const waits = NEEDS_REGISTRATION.has(command.name) ||
      (state.queued.length > 0 && !NEVER_WAIT.has(command.name));
    if (waits && !state.registered && registering(state)) {
      turn.log("debug", `${command.name} waits for the registration`);
      state.queued.push(command);
      return;
    }
    switch (command.name) {
      case "register":
        if (
          !state.registered &&
          [...state.pending.values()].some((p) => p.type === "REGISTER" && !p.auto)
        ) {
          // Typed again while the server is silent (a terminal does not
          // hold input): another REGISTER would only add its retries.
          const server = formatAddress(state.profile.server);
          turn.print(
            "registering",
            `Already waiting for the server at ${server} to answer; type cancel to stop`,
            { server, already: true },
          );
          return;
        }
        return register(state, turn);
      case "cancel":
        return cancelSearch(state, turn, command.args.which!);
      case "deregister":
        return sendDeregister(state, turn);
      case "sell":
        return sell(state, turn, command.args);
      case "price":
        return reprice(state, turn, command.args);
      case "edit":
        return edit(state, turn, command.args);
      case "unsell":
        return unsell(state, turn, command.args.item);
      case "browse":
        return browse(state, this.#listing, turn, command.args.prefix);
      case "inventory":
        return printInventory(state, turn);
      case "buy":
        return lookFor(state, turn, command.args);
      case "requests":
        return printRequests(state, turn);
      case "history":
        return printHistory(state, turn);
      case "payment":
        return paymentCommand(state, turn, command.args.clear);
      case "set":
        state.autoBuy = command.args.value;
        turn.save({ key: ["settings"], value: { autoBuy: state.autoBuy, changedAt: turn.at } });
        turn.print(
          "set",
          state.autoBuy
            ? "Auto-buy is on: every FOUND is bought at once"
            : "Auto-buy is off: every FOUND is asked first",
          { setting: "auto-buy", autoBuy: state.autoBuy },
        );
        return;
      case "status":
        return printStatus(state, turn);
      case "key":
        if (!state.key) return turn.error("This peer has no key");
        turn.print(
          "key",
          `This peer's public key (fingerprint ${state.key.fingerprint}):\n${state.key.key}`,
          { key: state.key.key, fingerprint: state.key.fingerprint },
        );
        return;
      case "help":
        turn.print(
          "help",
          `Commands:\n${helpText()}\n` +
            "When a question ends in [y/N], y or yes accepts, n, no or an empty line declines; " +
            "anything else runs as a command, and the question is shown again.\n" +
            "When the server asks for payment details, the next lines give the card number, its " +
            "expiry (MM/YY) and the address (cancel gives none); a terminal does not show the card " +
            "and expiry.\n" +
            "On a terminal, Ctrl-C drops the line being typed, or on an empty line declines " +
            "the question on screen; Ctrl-D on an empty line (or quit) leaves.",
        );
        return;
      case "quit":
        return turn.stop();
    }
  }

  /**
   * A datagram from the server that does not parse. A classic server's own
   * types (`ERROR: …`, `LOOKING_FOR_ACK`, `TRANSACTION_SUCCESS`) are its
   * noise, logged only, except an `ERROR:` (or an `Unknown command:
   * LOOKING_FOR`) that refuses the search just sent.
   */
  #onInvalid(turn: AgentTurn, event: Extract<PeerEvent, { kind: "invalid" }>): void {
    const state = this.#state;
    const { error, text } = event;
    if (error.code === "unknown_type" && state.serverKind !== "ours") {
      const words = serverRefusal(text ?? "");
      if (words === undefined || !onServerError(state, turn, words)) {
        const type = (text ?? "").trim().split(/\s/, 1)[0] || "?";
        turn.log(
          "debug",
          `Ignored the server's ${JSON.stringify(type.slice(0, 40))}: not a P2S2 message`,
        );
      }
    } else {
      this.#ignoredDatagram(
        turn,
        `Ignored a datagram from ${formatAddress(event.from)}: ${error.message}`,
      );
    }
    // A classic server that cannot read our REGISTER's extra words.
    fallBackToClassic(state, turn, `the server answered what does not parse`, true);
  }

  /** Warns of an ignored datagram, a few times a second at most. */
  #ignoredDatagram(turn: AgentTurn, text: string): void {
    const second = Math.floor(turn.at / 1000);
    if (second !== this.#ignored.second) this.#ignored = { second, count: 0 };
    if (++this.#ignored.count <= IGNORED_WARNINGS_PER_SECOND) turn.warn(text);
    else turn.log("debug", text);
  }

  /**
   * `cancel` alone: stops waiting for the server to answer REGISTER. The
   * commands that waited for it fail with the reason.
   */
  #cancelRegistration(turn: AgentTurn): void {
    const state = this.#state;
    if (!registering(state)) {
      return turn.error(
        "Nothing to cancel: give the request (RQ) or ITEM of a search; type requests to list them",
      );
    }
    for (const [rq, pending] of [...state.pending]) {
      if (pending.type !== "REGISTER") continue;
      state.pending.delete(rq);
      state.unacked.forget(`REGISTER ${rq}`);
    }
    const server = formatAddress(state.profile.server);
    state.registrationFailure = "the registration was cancelled";
    turn.print(
      "registration-cancelled",
      `Stopped waiting for the server at ${server}: not registered (type register to try again)`,
      { server },
    );
  }

  /** A datagram from the server. */
  #onMessage(turn: AgentTurn, message: Message, serverKey: KeyInfo | undefined): void {
    const state = this.#state;
    switch (message.type) {
      case "REGISTERED":
      case "REGISTER-DENIED": {
        const taken = takeRegisterAnswer(state, turn, message);
        if (!taken) {
          if (onLateRegistration(state, turn, message, serverKey)) {
            return void remember(state, message);
          }
          return onUnexpected(state, turn, message);
        }
        remember(state, message);
        // A new registration: the server's book is told everything again.
        if (message.type === "REGISTERED") this.#listing.reset();
        return onRegistrationAnswer(state, turn, message, taken.pending, serverKey);
      }
      case "DE-REGISTERED":
      case "DE-REGISTER-DENIED": {
        if (!takePending(state, turn, "DE-REGISTER", message.rq)) {
          return onUnexpected(state, turn, message);
        }
        remember(state, message);
        return onDeregistrationAnswer(state, turn, message);
      }
      case "RETRY":
        return onRetry(state, turn, message);
      case "ACK":
        return onAck(state, turn, message);
      case "DENIED":
        return onDenied(state, turn, message);
      case "SEARCH":
        return onSearch(state, turn, message);
      case "RESERVE":
        onReserve(state, turn, message);
        return answerReserve(state, turn, message);
      case "CATALOGUE":
        return onCatalogue(state, this.#listing, turn, message);
      case "CANCEL":
        // As a seller (a reservation released), else as a buyer.
        if (!releaseReservation(state, turn, message)) onPurchaseCancel(state, turn, message);
        return;
      case "NEGOTIATE":
        return onNegotiate(state, turn, message);
      case "FOUND":
        return onFound(state, turn, message);
      case "NOT_AVAILABLE":
      case "NOT_FOUND":
        return onNoDeal(state, turn, message);
      default:
        return onUnexpected(state, turn, message);
    }
  }
}
