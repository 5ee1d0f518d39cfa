/**
 * A peer's shell in the simulated world: it hands one agent events (typed
 * lines, datagrams, TCP messages, ticks), commits each event's writes to
 * its store through the commit queue and only then carries out the other
 * effects, plays its user (who answers FOUND and NEGOTIATE after a while),
 * arms its wake-up, and rebuilds the agent from its store after a crash,
 * or after it stopped because the store failed too long, as `peer/peer.ts`
 * does with KV and sockets (the same rule on the peer: it tells its user
 * and the server nothing its store did not keep).
 *
 * Security: the crypto lives in the shells, so this one stands in for it.
 * A keyed agent registers with a `registration` proof and dummy session
 * keys, and its datagrams arrive `authenticated`, as the server's guard
 * would report them (see {@linkcode AgentShell.proof}); the others are
 * plaintext peers (`allowPlaintext` on both sides).
 *
 * @module
 */
import type { Address, DecodeResult, Message } from "../protocol/mod.ts";
import type { ServerEvent } from "../server/market.ts";
import { Agent, type PeerEvent, type PeerProfile } from "../peer/agent.ts";
import { type CommitMode, ShellCommits } from "./_commits.ts";
import { agentActions } from "./_effects.ts";
import type { ShellHost } from "./_shell.ts";
import type { Network } from "./network.ts";
import type { Random } from "./random.ts";
import { agentSnapshot, type RecordStore } from "./records.ts";
import type { SimulatedStore } from "./storage.ts";
import { TIMERS } from "./market_shell.ts";
import type { LegShell } from "./leg_shell.ts";
import type { AgentPlan } from "./workload.ts";

/** What the server's guard says of a datagram it let through. */
export type ShellProof = Pick<
  Extract<ServerEvent, { kind: "message" }>,
  "authenticated" | "registration"
>;

/** One simulated peer: its agent, its records, its user. */
export class AgentShell {
  readonly plan: AgentPlan;
  readonly profile: PeerProfile;
  readonly #host: ShellHost;
  readonly #disk: SimulatedStore;
  readonly #commits: ShellCommits;
  readonly #network: Network;
  readonly #leg: LegShell;
  /** The user's answers, drawn from the run's seed. */
  readonly #users: Random;
  #agent: Agent | undefined;
  /** Bumped by every start and crash: what an earlier life scheduled does nothing. */
  #boot = 0;
  #armed: number | undefined;

  constructor(
    host: ShellHost,
    parts: {
      plan: AgentPlan;
      profile: PeerProfile;
      network: Network;
      leg: LegShell;
      users: Random;
      store: SimulatedStore;
      mode: CommitMode;
    },
  ) {
    this.#host = host;
    this.plan = parts.plan;
    this.profile = parts.profile;
    this.#network = parts.network;
    this.#leg = parts.leg;
    this.#users = parts.users;
    this.#disk = parts.store;
    this.#commits = new ShellCommits(host, parts.store, parts.plan.name, parts.mode);
  }

  /** What the agent stored: what a restart rebuilds it from. */
  get store(): RecordStore {
    return this.#disk.records;
  }

  /** Where the agent's datagrams come from. */
  get address(): Address {
    return { hostname: this.profile.ip, port: this.profile.udpPort };
  }

  /** Whether the agent is running (and so accepts connections). */
  get up(): boolean {
    return this.#agent !== undefined;
  }

  /** Starts the agent from its records (a restart, after the first). */
  start(): void {
    const name = this.plan.name;
    if (this.#agent) return;
    if (!this.#disk.available) {
      return this.#host.stopped(name, {
        reason: "cannot read its store",
        atStart: true,
        restart: () => this.start(),
      });
    }
    this.#boot++;
    this.#commits.open((error) => {
      this.crash();
      this.#host.stopped(name, { reason: error.message, restart: () => this.start() });
    });
    let rqs = 0;
    const prefix = `${name}${this.#boot}`;
    this.#agent = new Agent(this.profile, agentSnapshot(this.store), {
      newRq: () => `${prefix}-${++rqs}`,
      autoBuy: this.plan.autoBuy,
      // A run must fall quiet: no keep-alive (the market watches no silence either).
      keepAlive: 0,
      strictTransitions: true,
      payment: { card: this.plan.card, expiry: "12/30", address: `${name}'s place` },
      // The market's, so that an unanswered NEGOTIATE question is withdrawn in time.
      negotiationTimeout: TIMERS.negotiationTimeout,
      ...(this.plan.keyed
        ? { key: { key: `key-${name}`, fingerprint: `fp-${name}` } }
        : { allowPlaintext: true }),
    });
    this.#armed = undefined;
    this.handle({ kind: "start", at: this.#host.now() });
  }

  /** Hands the agent an event, if it runs, and does what it asks. */
  handle(event: PeerEvent): void {
    const agent = this.#agent;
    if (!agent) return;
    const name = this.plan.name;
    const actions = agentActions(agent.handle(event));
    this.#host.audit(name, actions);
    this.#commits.push(actions, (batch) => {
      this.#host.perform(name, actions, batch, (action) => {
        if (action.kind === "udp") {
          this.#network.send(this.address, this.profile.server, action.message);
        } else if (action.kind === "tcp-send") this.#leg.fromAgent(action.conn, action.message);
        else if (action.kind === "tcp-close") this.#leg.closedByAgent(action.conn);
        else if (action.kind === "print") this.#answerPrompt(action.output.fields);
      });
    });
    this.#arm();
  }

  /** A datagram from `from`, as the peer's socket reads it. */
  receive(from: Address, decoded: DecodeResult): void {
    const at = this.#host.now();
    if (!decoded.ok) return this.handle({ kind: "invalid", from, error: decoded.error, at });
    const message = decoded.message;
    const agreedAuth = message.type === "REGISTERED" && message.extensions?.includes("auth");
    this.handle({
      kind: "message",
      from,
      message,
      at,
      ...(agreedAuth ? { serverKey: { key: "server-key", fingerprint: "server-fp" } } : {}),
    });
  }

  /**
   * What the server's guard would say of this agent's datagram: a signed
   * REGISTER of a keyed agent carries its proof and new session keys,
   * anything else of it is vouched for by the session's MAC.
   */
  proof(message: Message): ShellProof {
    if (!this.plan.keyed) return {};
    const name = this.plan.name;
    if (message.type !== "REGISTER") return { authenticated: name };
    if (!message.extensions?.includes("auth")) return {};
    return {
      registration: {
        proof: { key: `key-${name}`, ca: `ca-${name}` },
        keys: { send: `send-${name}-${this.#boot}`, receive: `receive-${name}-${this.#boot}` },
      },
    };
  }

  /**
   * The peer process dies: its memory (the agent, its connections) is
   * gone, its records stay.
   *
   * @returns Whether it was running.
   */
  crash(): boolean {
    if (!this.#agent) return false;
    this.#agent = undefined;
    this.#boot++;
    this.#armed = undefined;
    this.#commits.close();
    this.#leg.agentCrashed(this.plan.name);
    return true;
  }

  /** The simulated user answers a FOUND or NEGOTIATE question, yes or no, after a while. */
  #answerPrompt(fields: Readonly<Record<string, unknown>> | undefined): void {
    const about = fields?.about;
    if (about !== "FOUND" && about !== "NEGOTIATE") return;
    const yes = this.#users.chance(this.plan.yesRate);
    // Some answers come after the server's timeout ran out.
    const delay = this.#users.int(50, 4_000);
    const boot = this.#boot;
    this.#host.later(
      delay,
      `${this.plan.name} answers ${about} ${fields?.rq}: ${yes ? "y" : "n"}`,
      () => {
        if (this.#boot === boot) {
          this.handle({ kind: "line", text: yes ? "y" : "n", at: this.#host.now() });
        }
      },
    );
  }

  #arm(): void {
    const deadline = this.#agent?.nextDeadline();
    if (deadline === this.#armed) return;
    this.#armed = deadline;
    if (deadline === undefined) return;
    const boot = this.#boot;
    this.#host.at(deadline, `${this.plan.name} wakes`, () => {
      if (boot !== this.#boot || this.#armed !== deadline) return;
      this.#armed = undefined;
      this.handle({ kind: "tick", at: this.#host.now() });
    });
  }
}
