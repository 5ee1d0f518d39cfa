/**
 * The peer's logic as a state machine without I/O: it is fed the user's
 * commands and the server's messages, and answers with effects (datagrams to
 * send, lines to print, records to store). The shell in `peer.ts` owns the
 * sockets, standard input and output, and the KV store.
 *
 * @module
 */
import {
  type Address,
  type DecodeError,
  formatAddress,
  isLoopback,
  type Message,
  type MessageOf,
} from "../protocol/mod.ts";
import { type Command, helpText } from "./commands.ts";

/** Who this peer is and where it listens. */
export interface Identity {
  readonly name: string;
  /** The IP announced in REGISTER. */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly server: Address;
}

/** The peer's durable registration state. */
export interface RegistrationRecord {
  readonly registered: boolean;
  readonly server: string;
  readonly changedAt: number;
}

/** A key in the peer's store. */
export type PeerKey = readonly ["registration"];

/** A line for the user: readable text, and fields for `--json`. */
export interface Output {
  /** The protocol message name, or a word like `error` or `help`. */
  readonly event: string;
  readonly text: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** What the agent asks its shell to do. */
export type PeerEffect =
  | { readonly kind: "send"; readonly message: Message }
  | { readonly kind: "print"; readonly output: Output }
  | {
    readonly kind: "save";
    readonly key: PeerKey;
    readonly value: RegistrationRecord;
  }
  | { readonly kind: "stop" };

/** What happens to the agent. */
export type PeerEvent =
  | { readonly kind: "command"; readonly command: Command; readonly at: number }
  | {
    readonly kind: "message";
    readonly from: Address;
    readonly message: Message;
    readonly at: number;
  }
  | {
    readonly kind: "invalid";
    readonly from: Address;
    readonly error: DecodeError;
    readonly at: number;
  };

/** The stored state an agent starts from. */
export interface PeerSnapshot {
  readonly registration?: RegistrationRecord;
}

/** Options for {@linkcode Agent}. */
export interface AgentOptions {
  /** Makes request tokens; each call must return a new one. */
  readonly newRq: () => string;
}

type Pending = { readonly type: "REGISTER" | "DE-REGISTER"; readonly at: number };

/** The peer's state machine. */
export class Agent {
  readonly #identity: Identity;
  readonly #newRq: () => string;
  #registered: boolean;
  readonly #pending = new Map<string, Pending>();

  constructor(identity: Identity, snapshot: PeerSnapshot, options: AgentOptions) {
    this.#identity = identity;
    this.#newRq = options.newRq;
    this.#registered = snapshot.registration?.registered ?? false;
  }

  /** Whether the server has confirmed this peer's registration. */
  get registered(): boolean {
    return this.#registered;
  }

  /** How many requests still wait for the server's answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Feeds one event to the agent and returns what to do. */
  handle(event: PeerEvent): PeerEffect[] {
    const effects: PeerEffect[] = [];
    switch (event.kind) {
      case "command":
        this.#command(event.command, event.at, effects);
        break;
      case "message":
        if (!this.#fromServer(event.from)) {
          effects.push(
            print(
              "warning",
              `Ignored ${event.message.type} from ${event.from.hostname}:${event.from.port}: not the server`,
            ),
          );
          break;
        }
        this.#message(event.message, event.at, effects);
        break;
      case "invalid":
        effects.push(
          print(
            "warning",
            `Ignored a datagram from ${event.from.hostname}:${event.from.port}: ${event.error.message}`,
          ),
        );
        break;
    }
    return effects;
  }

  #fromServer(from: Address): boolean {
    const server = this.#identity.server;
    return from.port === server.port &&
      (from.hostname === server.hostname ||
        isLoopback(from.hostname) && isLoopback(server.hostname));
  }

  #command(command: Command, at: number, effects: PeerEffect[]): void {
    const id = this.#identity;
    switch (command.name) {
      case "register": {
        const rq = this.#newRq();
        this.#pending.set(rq, { type: "REGISTER", at });
        effects.push({
          kind: "send",
          message: {
            type: "REGISTER",
            rq,
            name: id.name,
            ip: id.ip,
            udpPort: id.udpPort,
            tcpPort: id.tcpPort,
          },
        });
        break;
      }
      case "deregister": {
        const rq = this.#newRq();
        this.#pending.set(rq, { type: "DE-REGISTER", at });
        effects.push({ kind: "send", message: { type: "DE-REGISTER", rq, name: id.name } });
        break;
      }
      case "status":
        effects.push({
          kind: "print",
          output: {
            event: "status",
            text: [
              `${id.name}: ${this.#registered ? "registered" : "not registered"} with ${
                formatAddress(id.server)
              }`,
              `  announced IP ${id.ip}, UDP port ${id.udpPort}, TCP port ${id.tcpPort}`,
              `  ${this.#pending.size} request(s) waiting for an answer`,
            ].join("\n"),
            fields: {
              name: id.name,
              registered: this.#registered,
              server: formatAddress(id.server),
              ip: id.ip,
              udpPort: id.udpPort,
              tcpPort: id.tcpPort,
              pending: this.#pending.size,
            },
          },
        });
        break;
      case "help":
        effects.push({
          kind: "print",
          output: { event: "help", text: `Commands:\n${helpText()}` },
        });
        break;
      case "quit":
        effects.push({ kind: "stop" });
        break;
    }
  }

  #message(message: Message, at: number, effects: PeerEffect[]): void {
    const pending = this.#pending.get(message.rq);
    switch (message.type) {
      case "REGISTERED":
      case "REGISTER-DENIED":
        if (pending?.type !== "REGISTER") return this.#unexpected(message, effects);
        this.#pending.delete(message.rq);
        this.#registrationAnswer(message, at, effects);
        break;
      case "DE-REGISTERED":
      case "DE-REGISTER-DENIED":
        if (pending?.type !== "DE-REGISTER") return this.#unexpected(message, effects);
        this.#pending.delete(message.rq);
        this.#deregistrationAnswer(message, at, effects);
        break;
      default:
        this.#unexpected(message, effects);
    }
  }

  #registrationAnswer(
    message: MessageOf<"REGISTERED" | "REGISTER-DENIED">,
    at: number,
    effects: PeerEffect[],
  ): void {
    const server = formatAddress(this.#identity.server);
    if (message.type === "REGISTERED") {
      this.#setRegistered(true, at, effects);
      effects.push({
        kind: "print",
        output: {
          event: "REGISTERED",
          text: `Registered as ${this.#identity.name} with ${server}`,
          fields: { rq: message.rq, name: this.#identity.name, server },
        },
      });
    } else {
      effects.push({
        kind: "print",
        output: {
          event: "REGISTER-DENIED",
          text: `Registration denied: ${message.reason}`,
          fields: { rq: message.rq, reason: message.reason },
        },
      });
    }
  }

  #deregistrationAnswer(
    message: MessageOf<"DE-REGISTERED" | "DE-REGISTER-DENIED">,
    at: number,
    effects: PeerEffect[],
  ): void {
    if (message.type === "DE-REGISTERED") {
      this.#setRegistered(false, at, effects);
      effects.push({
        kind: "print",
        output: {
          event: "DE-REGISTERED",
          text: `De-registered ${this.#identity.name}`,
          fields: { rq: message.rq, name: this.#identity.name },
        },
      });
    } else {
      effects.push({
        kind: "print",
        output: {
          event: "DE-REGISTER-DENIED",
          text: `De-registration denied: ${message.reason}`,
          fields: { rq: message.rq, reason: message.reason },
        },
      });
    }
  }

  #setRegistered(registered: boolean, at: number, effects: PeerEffect[]): void {
    this.#registered = registered;
    effects.push({
      kind: "save",
      key: ["registration"],
      value: { registered, server: formatAddress(this.#identity.server), changedAt: at },
    });
  }

  #unexpected(message: Message, effects: PeerEffect[]): void {
    effects.push(
      print("warning", `Ignored ${message.type} ${message.rq}: it answers nothing this peer asked`),
    );
  }
}

function print(event: string, text: string): PeerEffect {
  return { kind: "print", output: { event, text, fields: { message: text } } };
}
